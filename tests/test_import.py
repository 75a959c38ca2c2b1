"""Progress sheets: template download, import through the API and the command, validation
of every row before anything is written, dry runs and permissions."""

import io
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from evaluations.exchange.columns import COLUMNS
from evaluations.exchange.importer import OUTCOMES
from evaluations.models import Evaluation, EvaluationStatus, KPIActual
from tests.conftest import PLAN_CODE
from tests.helpers import R7
from tests.helpers import progress_csv as csv_file
from tests.helpers import sheet_row as row

TEMPLATE_URL = "/api/v1/templates/progress/"
IMPORT_URL = "/api/v1/imports/progress/"
HEADER = [column.header for column in COLUMNS]


def evaluation(number: int) -> Evaluation:
    return Evaluation.objects.get(
        round__plan__code=PLAN_CODE, round__fiscal_year=R7, initiative__number=number
    )


def upload(client: APIClient, handle, **extra):
    data = {"file": handle, "plan": PLAN_CODE, "fiscal_year": "R7", **extra}
    return client.post(IMPORT_URL, data, format="multipart")


def counts(**given: int) -> dict[str, int]:
    """An import summary's counts: zero for every outcome not given."""
    return {outcome: given.get(outcome, 0) for outcome in OUTCOMES}


def errors(response) -> list[tuple[str, int | None, str | None]]:
    return [(e["code"], e["row"], e["column"]) for e in response.json()["errors"]]


# --- templates -----------------------------------------------------------------------------


def test_csv_template_is_utf8_with_bom_and_qualitative_targets_shown(plan, secretariat) -> None:
    response = secretariat.get(
        TEMPLATE_URL, {"plan": PLAN_CODE, "fiscal_year": "R6", "file_format": "csv"}
    )
    assert response.status_code == 200
    assert response.content.startswith("\ufeff".encode())
    text = response.content.decode("utf-8-sig")
    assert text.splitlines()[0].split(",") == HEADER
    assert "希望する職員" in text  # No. 13's qualitative R6 target
    assert "R7.3時点" in text  # as-of dates as the report writes them


def test_template_of_another_department_is_forbidden(r7, editor, api) -> None:
    query = {"plan": PLAN_CODE, "fiscal_year": "R7", "department": "kensetsu"}
    assert editor.get(TEMPLATE_URL, query).status_code == 403
    assert editor.get(TEMPLATE_URL, {"plan": PLAN_CODE, "fiscal_year": "R7"}).status_code == 403
    assert api.get(TEMPLATE_URL, query).status_code in (401, 403)


# --- imports -------------------------------------------------------------------------------


def test_secretariat_imports_a_utf8_csv(r7, secretariat) -> None:
    before = evaluation(89).version
    handle = csv_file(
        [
            row(
                initiative_number=89, rating="C", progress_text="体験会を開催", next_actions="継続"
            ),
            row(initiative_number=89, kpi_order=1, value="1,032", as_of="R8.3時点", note="速報"),
            row(initiative_number=50, kpi_order=1, value="51", as_of="2025-12-31"),
        ]
    )
    response = upload(secretariat, handle)
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["dry_run"] is False
    assert body["summary"]["evaluations"] == counts(created=0, updated=1, unchanged=0)
    assert body["summary"]["kpi_actuals"] == counts(created=2, updated=0, unchanged=0)
    updated = evaluation(89)
    assert (updated.rating, updated.progress_text, updated.next_actions) == (
        "C",
        "体験会を開催",
        "継続",
    )
    assert updated.version == before + 1
    actual = KPIActual.objects.get(evaluation=updated)
    assert actual.value == Decimal("1032")
    assert actual.as_of.isoformat() == "2026-03-31"
    assert actual.note == "速報"


def test_reimport_updates_changed_rows_only_and_bumps_versions(r7, secretariat) -> None:
    first = [
        row(initiative_number=89, kpi_order=1, value="1000"),
        row(initiative_number=50, kpi_order=1, value="51"),
    ]
    assert upload(secretariat, csv_file(first)).status_code == 200
    second = [
        row(initiative_number=89, kpi_order=1, value="1032"),
        row(initiative_number=50, kpi_order=1, value="51.0"),
    ]
    response = upload(secretariat, csv_file(second), report_rows="true")
    assert response.json()["summary"]["kpi_actuals"] == counts(updated=1, unchanged=1)
    outcomes = {(r["row"], r["outcome"]) for r in response.json()["row_results"]}
    assert outcomes == {(2, "updated"), (3, "unchanged")}
    assert KPIActual.objects.get(evaluation=evaluation(89)).version == 2
    assert KPIActual.objects.get(evaluation=evaluation(50)).version == 1


def test_editor_imports_a_cp932_csv(r7, editor) -> None:
    handle = csv_file(
        [
            row(initiative_number=22, rating="Ａ", rating_reason="目標を大きく上回った"),
            row(initiative_number=22, kpi_order=1, value="２４１", as_of="R8.3時点"),
        ],
        encoding="cp932",
    )
    response = upload(editor, handle)
    assert response.status_code == 200, response.json()
    assert evaluation(22).rating == "A"
    assert evaluation(22).rating_reason == "目標を大きく上回った"
    assert KPIActual.objects.get(evaluation=evaluation(22)).value == 241


def test_dry_run_reports_changes_and_writes_nothing(r7, secretariat) -> None:
    handle = csv_file(
        [
            row(initiative_number=89, rating="C"),
            row(initiative_number=89, kpi_order=1, value="1032"),
        ]
    )
    response = upload(secretariat, handle, dry_run="true", report_rows="true")
    assert response.status_code == 200
    body = response.json()
    assert body["dry_run"] is True
    assert body["summary"]["evaluations"]["updated"] == 1
    assert body["summary"]["kpi_actuals"]["created"] == 1
    assert [(r["row"], r["kind"], r["outcome"]) for r in body["row_results"]] == [
        (2, "evaluations", "updated"),
        (3, "kpi_actuals", "created"),
    ]
    assert evaluation(89).rating is None
    assert evaluation(89).version == 1
    assert not KPIActual.objects.filter(evaluation__round=r7).exists()


def test_every_error_is_listed_with_row_and_column_and_nothing_is_written(r7, editor) -> None:
    handle = csv_file(
        [
            row(initiative_number=89, rating="A"),  # 2: valid, not written
            row(initiative_number=999),  # 3: unknown initiative
            row(initiative_number=89, kpi_order=2, value="1"),  # 4: no KPI 2
            row(initiative_number=1, rating="S"),  # 5: rating outside A/B/C/-
            row(initiative_number=89, kpi_order=1, value="千"),  # 6: not a number
            row(initiative_number=22, kpi_order=1, value="NaN"),  # 7: not finite
            row(initiative_number=84, kpi_order=1, value="1", as_of="2024-03-31"),  # 8: date
            row(initiative_number=50, rating="B"),  # 9: another department's initiative
            row(initiative_number=89, rating="B"),  # 10: duplicate of row 2
            row(initiative_number=6, kpi_order=1, value="-5"),  # 11: negative %
            row(initiative_number=3, kpi_order=1, value="10", as_of="昨日"),  # 12: bad date
            row(initiative_number=13, rating="B", value="3"),  # 13: 実績値 on evaluation row
        ]
    )
    response = upload(editor, handle)
    assert response.status_code == 400
    body = response.json()
    assert body["type"] == "validation_error"
    assert errors(response) == [
        ("unknown_initiative", 3, "取組番号"),
        ("unknown_kpi", 4, "指標番号"),
        ("invalid_choice", 5, "評価"),
        ("invalid", 6, "実績値"),
        ("invalid", 7, "実績値"),
        ("invalid", 8, "時点"),
        ("permission_denied", 9, "取組番号"),
        ("duplicate", 10, "取組番号"),
        ("invalid", 11, "実績値"),
        ("invalid", 12, "時点"),
        ("invalid", 13, "実績値"),
    ]
    assert {e["sheet"] for e in body["errors"]} == {"進捗.csv"}
    assert body["errors"][3]["attr"] == "rows[6].value"
    assert evaluation(89).rating is None
    assert not KPIActual.objects.filter(evaluation__round=r7).exists()


def test_rows_of_submitted_evaluations_are_skipped_with_a_notice(r7, secretariat) -> None:
    Evaluation.objects.filter(pk=evaluation(89).pk).update(status=EvaluationStatus.SUBMITTED)
    rows = [row(initiative_number=89, rating="C"), row(initiative_number=1, rating="B")]
    response = upload(secretariat, csv_file(rows))
    assert response.status_code == 200
    body = response.json()
    assert body["summary"]["evaluations"] == counts(updated=1, skipped=1)
    (skipped,) = body["attention"]
    assert (skipped["row"], skipped["outcome"]) == (2, "skipped")
    assert "提出済" in skipped["notices"][0]
    assert evaluation(89).rating is None
    assert evaluation(1).rating == "B"


def test_a_round_that_is_not_open_is_refused(plan, secretariat) -> None:
    data = {"file": csv_file([row(initiative_number=89, rating="C")]), "fiscal_year": "R6"}
    response = secretariat.post(IMPORT_URL, {**data, "plan": PLAN_CODE}, format="multipart")
    assert response.status_code == 400
    assert ("invalid_state", None, "年度") in errors(response)
    assert response.json()["errors"][0]["attr"] == "fiscal_year"


def test_a_sheet_without_initiative_numbers_is_refused(r7, secretariat) -> None:
    handle = io.BytesIO("番号,指標番号,評価\r\n89,,A\r\n".encode())
    handle.name = "bad.csv"
    response = upload(secretariat, handle)
    assert response.status_code == 400
    assert errors(response) == [("required", 1, "取組番号")]


def test_unknown_columns_are_ignored_and_named(r7, secretariat) -> None:
    handle = io.BytesIO("取組番号,指標番号,評価,備考\r\n89,,A,確認済\r\n".encode())
    handle.name = "extra.csv"
    response = upload(secretariat, handle)
    assert response.status_code == 200
    assert any("備考" in notice for notice in response.json()["notices"])
    assert evaluation(89).rating == "A"


def test_a_legacy_xls_file_is_refused(r7, secretariat) -> None:
    handle = io.BytesIO(b"\xd0\xcf\x11\xe0" + b"\0" * 100)
    handle.name = "old.xls"
    response = upload(secretariat, handle)
    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == "file"


def test_who_may_import(r7, api, viewer, other_editor) -> None:
    handle = csv_file([row(initiative_number=89, rating="C")])
    assert upload(api, handle).status_code in (401, 403)
    assert upload(viewer, csv_file([row(initiative_number=89)])).status_code == 403
    response = upload(other_editor, csv_file([row(initiative_number=89, rating="C")]))
    assert response.status_code == 400
    assert errors(response) == [("permission_denied", 2, "取組番号")]
    assert evaluation(89).rating is None


# --- the command ---------------------------------------------------------------------------


def test_import_command_dry_run_then_real(r7, tmp_path, editor_user) -> None:
    path = tmp_path / "sheet.csv"
    path.write_bytes(
        csv_file([row(initiative_number=89, kpi_order=1, value="1032")], encoding="cp932").read()
    )
    out = StringIO()
    arguments = [str(path), "--plan", PLAN_CODE, "--fiscal-year", "R7"]
    call_command(
        "import_progress", *arguments, "--dry-run", "--user", editor_user.username, stdout=out
    )
    assert "kpi_actuals: created 1" in out.getvalue()
    assert not KPIActual.objects.filter(evaluation__round=r7).exists()
    call_command("import_progress", *arguments, stdout=StringIO())
    assert KPIActual.objects.get(evaluation=evaluation(89)).value == 1032


def test_import_command_lists_errors_and_fails(r7, tmp_path) -> None:
    path = tmp_path / "sheet.csv"
    path.write_bytes(
        csv_file([row(initiative_number=999), row(initiative_number=1, rating="X")]).read()
    )
    err = StringIO()
    with pytest.raises(CommandError, match="2 error"):
        call_command(
            "import_progress", str(path), "--plan", PLAN_CODE, "--fiscal-year", "R7", stderr=err
        )
    assert "sheet.csv row 2 [取組番号]: unknown_initiative" in err.getvalue()
    assert "sheet.csv row 3 [評価]: invalid_choice" in err.getvalue()


def test_an_import_is_recorded_in_the_change_history(r7, secretariat, secretariat_user) -> None:
    handle = csv_file(
        [
            row(initiative_number=89, rating="C", progress_text="体験会を開催"),
            row(initiative_number=89, kpi_order=1, value="1032", as_of="R8.3時点"),
        ]
    )
    data = {"file": handle, "plan": PLAN_CODE, "fiscal_year": "R7"}
    response = secretariat.post(
        IMPORT_URL, data, format="multipart", HTTP_X_REQUEST_ID="import-request-0001"
    )
    assert response.status_code == 200, response.json()

    updated = evaluation(89)
    record = updated.history.order_by("-history_id").first()
    assert (record.history_type, record.history_change_reason) == ("~", "import")
    assert record.history_user_id == secretariat_user.pk
    assert record.request_id == "import-request-0001"
    assert (record.rating, record.progress_text, record.version) == (
        "C",
        "体験会を開催",
        updated.version,
    )
    actual = KPIActual.objects.get(evaluation=updated)
    created = actual.history.get()
    assert (created.history_type, created.value, created.history_change_reason) == (
        "+",
        Decimal("1032"),
        "import",
    )
