"""The progress sheet a department downloads: instructions, context per row (target, last
year's actual and rating, the suggestion, the version), protection, validation, print setup,
no formulas, the CSV twin, and a fixed number of queries."""

import csv
import io
import zipfile
from decimal import Decimal

from django.db import connection
from django.test.utils import CaptureQueriesContext
from openpyxl import load_workbook
from openpyxl.worksheet.worksheet import Worksheet
from rest_framework.test import APIClient

from evaluations.exchange.cells import CLEAR_MARKER
from evaluations.exchange.columns import COLUMNS, EVALUATION, INFO, KEY, KPI_LEVEL, VERSION
from evaluations.exchange.templates import suggestion_text
from evaluations.exchange.workbook import INSTRUCTIONS_TITLE
from evaluations.models import Evaluation, EvaluationStatus, KPIActual, Rating
from evaluations.selectors import suggestion_for
from initiatives.models import KPI, KPITarget
from tests.conftest import PLAN_CODE
from tests.helpers import R7

TEMPLATE_URL = "/api/v1/templates/progress/"
IMPORT_URL = "/api/v1/imports/progress/"
HEADER = [column.header for column in COLUMNS]
KEYS = [column.key for column in COLUMNS]
KIKAKU = {"plan": PLAN_CODE, "fiscal_year": "R7", "department": "kikaku-shinko"}
FORMULA = '=HYPERLINK("http://x","y")'


def evaluation(number: int, fiscal_year: int = R7) -> Evaluation:
    return Evaluation.objects.get(
        round__plan__code=PLAN_CODE, round__fiscal_year=fiscal_year, initiative__number=number
    )


def download(client: APIClient, **query) -> bytes:
    response = client.get(TEMPLATE_URL, {**KIKAKU, **query})
    assert response.status_code == 200, response.content[:300]
    return response.content


def data_sheet(content: bytes) -> Worksheet:
    return load_workbook(io.BytesIO(content)).worksheets[1]


def records(sheet: Worksheet) -> list[dict[str, object]]:
    """The data rows as ``{column key: value}``, the header checked first."""
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == HEADER
    return [dict(zip(KEYS, row, strict=True)) for row in rows[1:]]


def find(rows: list[dict], number: int, kpi_order: int | None = None) -> dict:
    return next(r for r in rows if r["initiative_number"] == number and r["kpi_order"] == kpi_order)


def csv_records(content: bytes) -> list[dict[str, str]]:
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"), newline="")))
    assert rows[0] == HEADER
    return [dict(zip(KEYS, row, strict=True)) for row in rows[1:]]


def upload(client: APIClient, handle, **extra):
    data = {"file": handle, "plan": PLAN_CODE, "fiscal_year": "R7", **extra}
    return client.post(IMPORT_URL, data, format="multipart")


# --- the workbook ---------------------------------------------------------------------------


def test_the_first_sheet_says_how_to_fill_in_and_upload(r7, editor) -> None:
    workbook = load_workbook(io.BytesIO(download(editor)))
    assert workbook.sheetnames == [INSTRUCTIONS_TITLE, "R7 企画振興部"]
    instructions = workbook.worksheets[0]
    lines = [[c for c in row if c is not None] for row in instructions.iter_rows(values_only=True)]
    text = "\n".join(" ".join(str(c) for c in line) for line in lines)
    assert "企画振興部" in text and "令和7年度" in text
    for column in COLUMNS:
        assert column.header in text
    for label in Rating.labels:
        assert str(label).split(": ", 1)[1] in text
    needles = ["80%", "100%", "R8.3時点", "2026-03-31", CLEAR_MARKER, "提出済", "シートの取込"]
    for needle in needles:
        assert needle in text, needle
    # No row of the instructions looks like the header: the importer passes the sheet over.
    assert all(line[:2] != HEADER[:2] for line in lines)
    assert instructions.protection.sheet


def test_xlsx_template_is_prefilled_with_the_departments_initiatives(r7, editor) -> None:
    KPIActual.objects.create(
        evaluation=evaluation(1), kpi=evaluation(1).initiative.kpis.get(), value=Decimal("85.5")
    )
    response = editor.get(TEMPLATE_URL, KIKAKU)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    rows = records(data_sheet(response.content))
    numbers = sorted({r["initiative_number"] for r in rows})
    assert numbers == [1, 3, 6, 13, 16, 22, 24, 84, 88, 89, 90]
    first_kpi = find(rows, 1, 1)
    assert first_kpi["kpi_name"] == "行政手続の電子化率"
    assert first_kpi["unit"] == "%"
    assert first_kpi["value"] == 85.5


def test_rows_show_the_target_last_year_and_the_version(r7, secretariat) -> None:
    rows = records(data_sheet(download(secretariat, department="kanko-bunka-sports")))
    assert [find(rows, 45, order)["previous_actual"] for order in (1, 2, 3)] == [92, 300, 2999]
    assert find(rows, 45)["previous_rating"] == "A"  # R6's rating, on the evaluation row
    assert find(rows, 45, 1)["previous_rating"] is None
    assert find(rows, 45)["previous_actual"] is None
    assert find(rows, 45)["version"] == evaluation(45).version
    assert find(rows, 45, 1)["version"] is None  # no R7 actual yet


def test_target_suggestion_and_version_follow_what_is_entered(draft, kpi89, editor) -> None:
    KPITarget.objects.create(kpi=kpi89, fiscal_year=R7, value=Decimal("2000"))
    rows = records(data_sheet(download(editor)))
    assert find(rows, 89, 1)["target"] == 2000
    assert find(rows, 89, 1)["previous_actual"] == 1032
    assert find(rows, 89)["previous_rating"] == "C"
    assert find(rows, 89)["suggestion"] == suggestion_for(draft).reason  # no actual yet

    actual = KPIActual.objects.create(evaluation=draft, kpi=kpi89, value=Decimal("2508"))
    KPIActual.objects.filter(pk=actual.pk).update(version=3)
    rows = records(data_sheet(download(editor)))
    assert find(rows, 89)["suggestion"] == "A（125.40%）"
    assert find(rows, 89)["suggestion"] == suggestion_text(suggestion_for(draft))
    assert find(rows, 89, 1)["version"] == 3
    assert find(rows, 89)["version"] == draft.version


def test_qualitative_targets_are_shown_as_text(r7, editor) -> None:
    kpi = KPI.objects.get(initiative__plan__code=PLAN_CODE, initiative__number=13)
    KPITarget.objects.create(kpi=kpi, fiscal_year=R7, text="=希望する職員全員")
    rows = records(data_sheet(download(editor)))
    assert find(rows, 13, 1)["target"] == "'=希望する職員全員"


def test_every_suggestion_is_the_selectors(plan, secretariat) -> None:
    """R6 (published, with actuals and targets): the sheet's suggestion of every evaluation
    is ``selectors.suggestion_for``'s, and last year's rating is R5's."""
    content = download(secretariat, fiscal_year="R6", department="")
    rows = [r for r in records(data_sheet(content)) if r["kpi_order"] is None]
    assert len(rows) > 90
    for row in rows:
        stored = evaluation(row["initiative_number"], 2024)
        assert row["suggestion"] == suggestion_text(suggestion_for(stored)), row
        assert row["previous_rating"] == evaluation(row["initiative_number"], 2023).rating
    assert any("（" in row["suggestion"] for row in rows)


# --- guarding the entries -------------------------------------------------------------------


def _validation(sheet: Worksheet, key: str):
    letter = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[KEYS.index(key)]
    found = [v for v in sheet.data_validations.dataValidation if f"{letter}2" in v.sqref]
    assert len(found) == 1, key
    return found[0]


def test_the_rating_accepts_the_ratings_only_and_the_value_warns(r7, editor) -> None:
    sheet = data_sheet(download(editor))
    rating = _validation(sheet, "rating")
    assert rating.type == "list"
    assert rating.formula1 == '"A,B,C,-,（削除）"'
    assert (rating.showErrorMessage, rating.errorStyle) == (True, "stop")
    assert rating.error and rating.errorTitle
    assert f"{'ABCDEFGHIJKLMNOPQRSTUVWXYZ'[KEYS.index('rating')]}{sheet.max_row}" in rating.sqref
    value = _validation(sheet, "value")
    assert value.type == "decimal"
    assert (value.showErrorMessage, value.errorStyle) == (True, "warning")
    assert value.error


def test_only_the_cells_a_row_may_change_are_unlocked(draft, editor) -> None:
    Evaluation.objects.filter(round=draft.round, initiative__number=1).update(
        status=EvaluationStatus.SUBMITTED
    )
    sheet = data_sheet(download(editor))
    assert sheet.protection.sheet
    assert not sheet.protection.password
    assert all(cell.protection.locked for cell in sheet[1])
    seen = set()
    for cells in sheet.iter_rows(min_row=2):
        number, is_evaluation = cells[0].value, cells[KEYS.index("kpi_order")].value is None
        for column, cell in zip(COLUMNS, cells, strict=True):
            mine = EVALUATION if is_evaluation else KPI_LEVEL
            unlocked = column.level == mine and number != 1
            assert cell.protection.locked is not unlocked, (number, column.key)
            if column.level in (KEY, INFO, VERSION):
                assert cell.protection.locked
            seen.add((is_evaluation, column.level, unlocked))
    assert (True, EVALUATION, True) in seen and (False, KPI_LEVEL, True) in seen
    assert (True, EVALUATION, False) in seen  # No. 1, submitted


def test_layout_and_print_setup(r7, editor) -> None:
    sheet = data_sheet(download(editor))
    assert sheet.freeze_panes == "D2"  # header, 取組番号 to 指標番号
    assert sheet.page_setup.orientation == "landscape"
    assert int(sheet.page_setup.paperSize) == 9  # A4
    assert sheet.sheet_properties.pageSetUpPr.fitToPage
    assert (int(sheet.page_setup.fitToWidth), int(sheet.page_setup.fitToHeight)) == (1, 0)
    assert sheet.print_title_rows == "$1:$1"
    progress = sheet.cell(row=2, column=KEYS.index("progress_text") + 1)
    assert progress.alignment.wrap_text
    assert sheet.column_dimensions["O"].width >= 36
    evaluation_row = next(cells for cells in sheet.iter_rows(min_row=2) if cells[2].value is None)
    assert evaluation_row[KEYS.index("rating")].fill.fgColor.rgb.endswith("FFF8DC")


def test_no_cell_is_ever_a_formula(draft, editor) -> None:
    Evaluation.objects.filter(pk=draft.pk).update(progress_text=FORMULA, next_actions="-減らす")
    content = download(editor)
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        for name in archive.namelist():
            if name.startswith("xl/worksheets/"):
                assert b"<f>" not in archive.read(name) and b"<f " not in archive.read(name)
    workbook = load_workbook(io.BytesIO(content))
    for sheet in workbook.worksheets:
        for cells in sheet.iter_rows():
            assert all(cell.data_type != "f" for cell in cells)
    row = find(records(workbook.worksheets[1]), 89)
    assert row["progress_text"] == "'" + FORMULA
    assert row["next_actions"] == "'-減らす"

    text = download(editor, file_format="csv")
    csv_row = find_csv(csv_records(text), 89)
    assert csv_row["progress_text"] == "'" + FORMULA


def find_csv(rows: list[dict[str, str]], number: int, kpi_order: str = "") -> dict[str, str]:
    return next(
        r for r in rows if r["initiative_number"] == str(number) and r["kpi_order"] == kpi_order
    )


def test_csv_template_has_the_same_columns_and_context(draft, kpi89, editor) -> None:
    KPITarget.objects.create(kpi=kpi89, fiscal_year=R7, value=Decimal("2000"))
    KPIActual.objects.create(evaluation=draft, kpi=kpi89, value=Decimal("2508"))
    content = download(editor, file_format="csv")
    assert content.startswith("\ufeff".encode())
    rows = csv_records(content)
    kpi_row = find_csv(rows, 89, "1")
    assert (kpi_row["target"], kpi_row["previous_actual"], kpi_row["value"]) == (
        "2000",
        "1032",
        "2508",
    )
    assert kpi_row["version"] == "1"
    evaluation_row = find_csv(rows, 89)
    assert evaluation_row["previous_rating"] == "C"
    assert evaluation_row["suggestion"] == "A（125.40%）"
    assert evaluation_row["version"] == str(draft.version)


# --- cost and round trip ----------------------------------------------------------------------


def _queries(client: APIClient, **query) -> int:
    with CaptureQueriesContext(connection) as captured:
        download(client, **query)
    return len(captured)


def test_the_query_count_does_not_grow_with_the_rows(r7, secretariat) -> None:
    for number in (45, 89):
        stored = evaluation(number)
        for kpi in stored.initiative.kpis.all():
            KPIActual.objects.create(evaluation=stored, kpi=kpi, value=1)
    small = _queries(secretariat, department="kanko-bunka-sports")
    department = _queries(secretariat)
    whole = _queries(secretariat, department="")
    assert small == department
    assert whole <= department  # the department's own lookup is the only difference
    assert _queries(secretariat, department="", file_format="csv") == whole


def test_filled_in_xlsx_template_round_trips(r7, editor) -> None:
    workbook = load_workbook(io.BytesIO(download(editor)))
    sheet = workbook.worksheets[1]
    rating, value, as_of = KEYS.index("rating"), KEYS.index("value"), KEYS.index("as_of")
    for cells in sheet.iter_rows(min_row=2):
        if cells[0].value == 1 and cells[KEYS.index("kpi_order")].value is None:
            cells[rating].value = "B"
        if cells[0].value == 1 and cells[KEYS.index("kpi_order")].value == 1:
            cells[value].value = 88.4
            cells[as_of].value = "R8.3時点"
    buffer = io.BytesIO()
    workbook.save(buffer)
    buffer.seek(0)
    buffer.name = "kikaku.xlsx"
    response = upload(editor, buffer)
    assert response.status_code == 200, response.json()
    assert response.json()["sheet"] == "R7 企画振興部"
    assert response.json()["summary"]["evaluations"]["updated"] == 1
    assert response.json()["summary"]["kpi_actuals"]["created"] == 1
    assert evaluation(1).rating == "B"
    assert KPIActual.objects.get(evaluation=evaluation(1)).value == Decimal("88.4")
