"""Every CSV and XLSX the service writes is safe to open in a spreadsheet: text that would be
run as a formula comes out neutralised (a leading apostrophe, OWASP's rule), XLSX text cells
are string cells, never formulas, and numbers stay numbers."""

import csv
import io
from decimal import Decimal

import pytest
from django.http import StreamingHttpResponse
from openpyxl import load_workbook

from evaluations.exchange.columns import BY_NAME
from evaluations.exchange.safety import restore
from evaluations.exchange.sheets import csv_bytes
from evaluations.models import Evaluation
from initiatives.models import Initiative
from tests.conftest import PLAN_CODE

R6 = 2024
FORMULAS = ['=HYPERLINK("http://x","y")', "+1", "-1", "@SUM(A1)", "\tTAB", "\rCR"]
TABLE_URL = f"/api/v1/exports/plans/{PLAN_CODE}/tables/evaluations/"
REPORT_URL = f"/api/v1/reports/yearly/?plan={PLAN_CODE}&fiscal_year=R6"
# Initiatives of the R6 report that get a formula-like text each (one per FORMULAS entry).
NUMBERS = [89, 1, 3, 6, 13, 16]


def streamed_csv(response) -> list[list[str]]:
    assert isinstance(response, StreamingHttpResponse)
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:], newline="")))


def report_csv(response) -> list[list[str]]:
    assert response.status_code == 200
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"), newline="")))


@pytest.fixture
def formulas(plan) -> dict[int, str]:
    """R6 (published) evaluations whose 進捗 and initiatives whose titles look like
    formulas, and one R6 rating of "-" (評価なし)."""
    texts = dict(zip(NUMBERS, FORMULAS, strict=True))
    for number, text in texts.items():
        Evaluation.objects.filter(
            round__plan=plan, round__fiscal_year=R6, initiative__number=number
        ).update(progress_text=text, next_actions=text)
        Initiative.objects.filter(plan=plan, number=number).update(title=text)
    Evaluation.objects.filter(
        round__plan=plan, round__fiscal_year=R6, initiative__number=24
    ).update(rating="-")
    return texts


def test_the_evaluations_table_export_neutralises_formulas(api, formulas) -> None:
    rows = streamed_csv(api.get(TABLE_URL))
    # the headings are the keys or the sheet's Japanese headings
    keys = [BY_NAME[name].key if name in BY_NAME else name for name in rows[0]]
    by_number = {
        int(row[1]): dict(zip(keys, row, strict=True))
        for row in rows[1:]
        if row[0] in (str(R6), "R6")
    }
    for number, text in formulas.items():
        assert by_number[number]["progress_text"] == "'" + text
        assert by_number[number]["next_actions"] == "'" + text
        assert restore(by_number[number]["progress_text"]) == text
    assert by_number[24]["rating"] == "-"  # a lone "-" is a rating, not a formula
    assert by_number[89]["initiative_number"] == "89"


def test_the_report_csv_neutralises_formulas(api, formulas) -> None:
    rows = report_csv(api.get(REPORT_URL + "&format=csv"))
    titles = {int(row[3]): row[4] for row in rows[1:]}
    for number, text in formulas.items():
        assert titles[number] == "'" + text
    ratings = {int(row[3]): row[6] for row in rows[1:]}
    assert ratings[24] == "-"
    for row in rows:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")) or cell == "-"


def test_the_report_xlsx_has_no_formula_and_neutralised_text(api, formulas) -> None:
    response = api.get(REPORT_URL + "&format=xlsx")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content)).active
    cells = [cell for row in sheet.iter_rows() for cell in row]
    assert cells
    assert all(cell.data_type != "f" for cell in cells)
    by_number = {row[3].value: row for row in sheet.iter_rows(min_row=2)}
    for number, text in formulas.items():
        title = by_number[number][4]
        assert title.data_type == "s"
        # XML reads a CR in text back as LF
        assert title.value in ("'" + text, "'" + text.replace("\r", "\n"))
        assert by_number[number][3].data_type == "n"  # numbers stay numbers
    assert by_number[24][6].value == "-"


def test_an_xlsx_text_cell_is_never_a_formula_even_unneutralised(api, formulas) -> None:
    """openpyxl makes a str beginning with "=" a formula unless told; the renderer tells."""
    raw = load_workbook(io.BytesIO(api.get(REPORT_URL + "&format=xlsx").content))
    for row in raw.active.iter_rows():
        for cell in row:
            if isinstance(cell.value, str):
                assert cell.data_type == "s"


def test_csv_bytes_neutralises_text_and_keeps_numbers() -> None:
    rows = [
        ["=1+1", "+1", "-1", "@A1", "\tx", "plain", "-", "'=kept"],
        [-5, Decimal("-1.50"), Decimal("1E+2"), 3.5, None, True],
    ]
    text = csv_bytes(rows).decode("utf-8")
    assert text.startswith("\ufeff")
    parsed = list(csv.reader(io.StringIO(text[1:], newline="")))
    assert parsed[0] == ["'=1+1", "'+1", "'-1", "'@A1", "'\tx", "plain", "-", "'=kept"]
    assert parsed[1] == ["-5", "-1.50", "100", "3.5", "", "True"]
