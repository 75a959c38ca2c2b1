"""Sheets a clerk can trust: no silent overwrite (版 and conflicts), blank cells that keep
what is stored, Excel's and Japanese input's ways of writing numbers and dates, bounded
inputs and error lists, and a dry run that shows each change."""

import time
from datetime import date
from decimal import Decimal

import pytest
from django.urls import reverse

from evaluations.exchange.cells import CLEAR_MARKER
from evaluations.exchange.columns import COLUMNS
from evaluations.exchange.importer import MAX_ERRORS
from evaluations.models import Evaluation, KPIActual
from initiatives.models import KPI
from tests.conftest import PLAN_CODE
from tests.helpers import R7, if_match, progress_csv, url
from tests.helpers import sheet_row as row

HEADER = [column.header for column in COLUMNS]


def evaluation(number: int) -> Evaluation:
    return Evaluation.objects.get(
        round__plan__code=PLAN_CODE, round__fiscal_year=R7, initiative__number=number
    )


def upload(client, rows: list[list[str]], **extra):
    data = {"file": progress_csv(rows), "plan": PLAN_CODE, "fiscal_year": "R7", **extra}
    return client.post(reverse("progress-import"), data, format="multipart")


def kpi_of(number: int, order: int = 1) -> KPI:
    return KPI.objects.get(initiative__plan__code=PLAN_CODE, initiative__number=number, order=order)


# --- no silent overwrite ---------------------------------------------------------------------


def test_a_row_changed_since_the_sheet_was_made_is_a_conflict(r7, secretariat, editor):
    draft = evaluation(89)
    sheet = [row(initiative_number=89, rating="C", progress_text="担当課の記入", version=1)]
    # The secretariat edits No. 89 after the sheet was downloaded at version 1.
    response = secretariat.patch(
        url(draft), {"progress_text": "事務局の修正"}, format="json", **if_match(draft)
    )
    assert response.status_code == 200

    response = upload(editor, sheet)
    assert response.status_code == 200
    body = response.json()
    assert body["summary"]["evaluations"]["conflict"] == 1
    (conflict,) = body["attention"]
    assert conflict["outcome"] == "conflict"
    changes = {change["field"]: change for change in conflict["changes"]}
    assert changes["progress_text"]["old"] == "事務局の修正"
    assert changes["progress_text"]["new"] == "担当課の記入"
    assert "版 1" in conflict["notices"][0] or "1" in conflict["notices"][0]
    draft.refresh_from_db()
    assert (draft.progress_text, draft.rating, draft.version) == ("事務局の修正", None, 2)


def test_the_secretariat_may_overwrite_a_conflict_an_editor_may_not(r7, secretariat, editor):
    Evaluation.objects.filter(pk=evaluation(89).pk).update(version=5, progress_text="新")
    sheet = [row(initiative_number=89, progress_text="古いシート", version=4)]
    assert upload(editor, sheet, on_conflict="overwrite").status_code == 403
    response = upload(secretariat, sheet, on_conflict="overwrite")
    assert response.status_code == 200
    assert response.json()["summary"]["evaluations"]["updated"] == 1
    draft = evaluation(89)
    assert (draft.progress_text, draft.version) == ("古いシート", 6)


def test_a_kpi_actual_entered_since_the_sheet_is_a_conflict(r7, editor):
    KPIActual.objects.create(evaluation=evaluation(89), kpi=kpi_of(89), value=500)
    sheet = [row(initiative_number=89, kpi_order=1, value="1032", version=0)]
    response = upload(editor, sheet)
    assert response.json()["summary"]["kpi_actuals"]["conflict"] == 1
    assert KPIActual.objects.get(evaluation=evaluation(89)).value == 500


def test_an_unchanged_row_of_an_older_version_is_no_conflict(r7, editor):
    Evaluation.objects.filter(pk=evaluation(89).pk).update(version=3, rating="B")
    response = upload(editor, [row(initiative_number=89, rating="B", version=1)])
    assert response.json()["summary"]["evaluations"]["unchanged"] == 1


def test_blank_cells_keep_what_is_stored_and_the_marker_clears(r7, editor):
    Evaluation.objects.filter(pk=evaluation(89).pk).update(
        rating="B", progress_text="記入済み", next_actions="次の取組"
    )
    sheet = [row(initiative_number=89, rating="", progress_text="", next_actions=CLEAR_MARKER)]
    response = upload(editor, sheet, report_rows="true")
    assert response.status_code == 200
    draft = evaluation(89)
    assert (draft.rating, draft.progress_text, draft.next_actions) == ("B", "記入済み", "")
    (result,) = response.json()["row_results"]
    assert result["changes"] == [
        {"field": "next_actions", "column": "今後の取組等", "old": "次の取組", "new": ""}
    ]


def test_the_dry_run_shows_each_change_and_writes_nothing(r7, editor):
    KPIActual.objects.create(evaluation=evaluation(89), kpi=kpi_of(89), value=1000)
    sheet = [
        row(initiative_number=89, rating="C"),
        row(initiative_number=89, kpi_order=1, value="1,032", as_of="R8.3時点"),
    ]
    response = upload(editor, sheet, dry_run="true", report_rows="true")
    assert response.status_code == 200
    evaluation_row, kpi_row = response.json()["row_results"]
    assert evaluation_row["changes"] == [
        {"field": "rating", "column": "評価", "old": None, "new": "C"}
    ]
    assert {c["field"]: (c["old"], c["new"]) for c in kpi_row["changes"]} == {
        "value": ("1000", "1032"),
        "as_of": (None, "2026-03-31"),
    }
    assert evaluation(89).rating is None
    assert KPIActual.objects.get(evaluation=evaluation(89)).value == 1000


# --- Excel and Japanese input --------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "stored"),
    [("８５％", "85"), ("85%", "85"), ("85", "85"), ("約85", "85"), ("85.5 %", "85.5")],
)
def test_percentages_of_a_percent_kpi(r7, secretariat, typed, stored):
    response = upload(secretariat, [row(initiative_number=1, kpi_order=1, value=typed)])
    assert response.status_code == 200, response.json()
    assert KPIActual.objects.get(evaluation=evaluation(1)).value == Decimal(stored)


def test_an_approximate_value_is_read_with_a_notice(r7, editor):
    response = upload(editor, [row(initiative_number=89, kpi_order=1, value="約1,200人")])
    assert response.status_code == 200, response.json()
    assert KPIActual.objects.get(evaluation=evaluation(89)).value == 1200
    (attention,) = response.json()["attention"]
    assert "1200" in attention["notices"][0]


@pytest.mark.parametrize("typed", ["85%", "1,2", "12件", "abc", "1e1000000", "9" * 41])
def test_numbers_that_are_not_unambiguous_are_refused(r7, editor, typed):
    started = time.perf_counter()
    response = upload(editor, [row(initiative_number=89, kpi_order=1, value=typed)])
    assert time.perf_counter() - started < 5
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert (error["row"], error["column"]) == (2, "実績値")
    assert not KPIActual.objects.filter(evaluation=evaluation(89)).exists()


@pytest.mark.parametrize("typed", ["1e1000000", "1" * 30, "-1", "1.5", "０"])
def test_initiative_numbers_are_bounded(r7, editor, typed):
    started = time.perf_counter()
    response = upload(editor, [row(initiative_number=typed, rating="A")])
    assert time.perf_counter() - started < 5
    assert response.status_code == 400
    assert response.json()["errors"][0]["column"] == "取組番号"


@pytest.mark.parametrize(
    ("typed", "day"),
    [
        ("令和8年3月末", date(2026, 3, 31)),
        ("令和8年3月31日", date(2026, 3, 31)),
        ("R8.3末", date(2026, 3, 31)),
        ("R8.3時点", date(2026, 3, 31)),
        ("２０２６年３月", date(2026, 3, 31)),
        ("2026/3/31", date(2026, 3, 31)),
        ("令和7年12月末", date(2025, 12, 31)),
    ],
)
def test_dates_as_clerks_write_them(r7, editor, typed, day):
    sheet = [row(initiative_number=89, kpi_order=1, value="1032", as_of=typed)]
    response = upload(editor, sheet)
    assert response.status_code == 200, response.json()
    assert KPIActual.objects.get(evaluation=evaluation(89)).as_of == day


def test_the_error_list_is_bounded_and_says_so(r7, secretariat):
    sheet = [row(initiative_number=89, kpi_order=1, value="x") for _ in range(MAX_ERRORS + 50)]
    response = upload(secretariat, sheet)
    assert response.status_code == 400
    body = response.json()
    assert body["truncated"] is True
    assert len(body["errors"]) == MAX_ERRORS


def test_a_text_longer_than_the_api_accepts_is_refused(r7, editor):
    response = upload(editor, [row(initiative_number=89, progress_text="あ" * 5001)])
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["column"] == "進捗" or "進捗" in error["detail"]
    assert evaluation(89).progress_text == ""


def test_an_exported_formula_like_text_comes_back_as_it_was(r7, editor):
    """Exports put an apostrophe before text that a spreadsheet would run; import takes it off."""
    response = upload(editor, [row(initiative_number=89, progress_text="'=1+1 は式ではない")])
    assert response.status_code == 200
    assert evaluation(89).progress_text == "=1+1 は式ではない"


# --- an actual without a value yet ---------------------------------------------------------


def test_a_note_without_a_value_is_kept(r7, editor):
    response = upload(editor, [row(initiative_number=89, kpi_order=1, note="集計中")])
    assert response.status_code == 200, response.json()
    actual = KPIActual.objects.get(evaluation=evaluation(89))
    assert (actual.value, actual.note) == (None, "集計中")
    # Later the value comes; the note may stay or be cleared with the marker.
    sheet = [row(initiative_number=89, kpi_order=1, value="1032", note=CLEAR_MARKER, version=1)]
    assert upload(editor, sheet).status_code == 200
    actual.refresh_from_db()
    assert (actual.value, actual.note, actual.version) == (Decimal("1032"), "", 2)


def test_a_date_without_a_value_or_a_note_is_refused(r7, editor):
    response = upload(editor, [row(initiative_number=89, kpi_order=1, as_of="R8.3時点")])
    assert response.status_code == 400
    assert response.json()["errors"][0]["column"] == "実績値"


def test_the_api_takes_an_actual_without_a_value_only_with_a_note(r7, editor):
    body = {"evaluation": evaluation(89).pk, "kpi": kpi_of(89).pk, "value": None}
    response = editor.post(reverse("kpi-actual-list"), body, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == "value"
    response = editor.post(reverse("kpi-actual-list"), {**body, "note": "集計中"}, format="json")
    assert response.status_code == 201
    assert response.json()["value"] is None
    detail = editor.get(reverse("evaluation-detail", args=[evaluation(89).pk])).json()
    assert detail["suggestion"]["rating"] is None
