"""Uploaded sheets that are hostile or broken are refused fast with a 400 and a message in
Japanese, nothing written; sheets as clerks fill them in Excel (title rows, an instructions
sheet first, TSV, percent cells, rows past a wrong <dimension>) are read."""

import datetime
import io
import re
import time
import zipfile
from decimal import Decimal

import openpyxl.xml
import openpyxl.xml.functions
import pytest
from defusedxml import DefusedXmlException
from openpyxl import Workbook

from evaluations.exchange import sheets
from evaluations.exchange.sheets import SheetError, read_sheet
from evaluations.models import Evaluation, KPIActual
from tests.conftest import PLAN_CODE
from tests.helpers import R7

IMPORT_URL = "/api/v1/imports/progress/"
SHEET_XML = "xl/worksheets/sheet1.xml"
MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
JAPANESE = re.compile("[ぁ-んァ-ヶ一-龠]")
MAX_BODY = 100_000
FAST = 10.0  # seconds: a behaviour bound (refused without reading the whole file)


def evaluation(number: int) -> Evaluation:
    return Evaluation.objects.get(
        round__plan__code=PLAN_CODE, round__fiscal_year=R7, initiative__number=number
    )


def post(client, content: bytes, name: str, **extra):
    """Upload; the response and the seconds it took."""
    handle = io.BytesIO(content)
    handle.name = name
    data = {"file": handle, "plan": PLAN_CODE, "fiscal_year": "R7", **extra}
    started = time.perf_counter()
    response = client.post(IMPORT_URL, data, format="multipart")
    return response, time.perf_counter() - started


def assert_refused(response, elapsed: float, *, mentions: str = "") -> str:
    """400, one error about the file, a short Japanese message, nothing written."""
    assert response.status_code == 400, response.content[:500]
    assert len(response.content) < MAX_BODY
    errors = response.json()["errors"]
    assert len(errors) == 1
    assert errors[0]["attr"] == "file"
    message = errors[0]["detail"]
    assert JAPANESE.search(message), message
    assert mentions in message
    assert elapsed < FAST
    assert evaluation(89).rating is None
    assert evaluation(89).version == 1
    assert not KPIActual.objects.filter(evaluation__round__fiscal_year=R7).exists()
    return message


# --- building files ------------------------------------------------------------------------


def workbook_bytes(*sheets_rows: tuple[str, list[list[object]]]) -> bytes:
    workbook = Workbook()
    workbook.remove(workbook.active)
    for title, rows in sheets_rows:
        sheet = workbook.create_sheet(title)
        for row in rows:
            sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


VALID_ROWS = [["取組番号", "指標番号", "評価"], [89, None, "C"]]


def with_member(data: bytes, name: str, content: bytes | str) -> bytes:
    """The workbook ``data`` with one member replaced (or added)."""
    if isinstance(content, str):
        content = content.encode()
    source = zipfile.ZipFile(io.BytesIO(data))
    output = io.BytesIO()
    with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            if item.filename != name:
                target.writestr(item, source.read(item.filename))
        target.writestr(name, content)
    return output.getvalue()


def sheet_xml(rows: str, *, prolog: str = "", dimension: str = "") -> str:
    dimension_element = f'<dimension ref="{dimension}"/>' if dimension else ""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>{prolog}<worksheet xmlns="{MAIN_NS}">'
        f"{dimension_element}<sheetData>{rows}</sheetData></worksheet>"
    )


def text_cell(reference: str, text: str) -> str:
    return f'<c r="{reference}" t="inlineStr"><is><t>{text}</t></is></c>'


HEADER_ROW = f'<row r="1">{text_cell("A1", "取組番号")}{text_cell("B1", "指標番号")}</row>'


def with_sheet(rows: str, **options: str) -> bytes:
    return with_member(workbook_bytes(("進捗", VALID_ROWS)), SHEET_XML, sheet_xml(rows, **options))


def many_rows_xlsx(count: int) -> bytes:
    """A workbook of ``count`` data rows, its sheet XML written directly (seconds, not
    minutes)."""
    rows = "".join(
        f'<row r="{n}"><c r="A{n}"><v>89</v></c><c r="B{n}"><v>1</v></c></row>'
        for n in range(2, count + 2)
    )
    return with_sheet(HEADER_ROW + rows)


def zip_bomb(size: int) -> bytes:
    """A zip whose worksheet is ``size`` bytes of one byte, written in chunks."""
    output = io.BytesIO()
    with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        with archive.open(SHEET_XML, "w", force_zip64=True) as member:
            chunk = b"a" * (1024 * 1024)
            for _ in range(size // len(chunk)):
                member.write(chunk)
    return output.getvalue()


def csv_bytes(lines: list[str]) -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode("utf-8-sig")


BILLION_LAUGHS = (
    '<!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(
        f'<!ENTITY lol{i} "{("&lol%s;" % (i - 1 if i > 1 else "")) * 10}">' for i in range(1, 10)
    )
    + "]>"
)


# --- hostile XLSX --------------------------------------------------------------------------


def test_openpyxl_parses_with_defusedxml() -> None:
    import defusedxml.ElementTree

    assert openpyxl.xml.DEFUSEDXML is True
    assert openpyxl.xml.functions.iterparse is defusedxml.ElementTree.iterparse
    document = sheet_xml(text_cell("A1", "&lol9;"), prolog=BILLION_LAUGHS).encode()
    started = time.perf_counter()
    with pytest.raises(DefusedXmlException):
        for _event, _element in openpyxl.xml.functions.iterparse(io.BytesIO(document)):
            pass
    assert time.perf_counter() - started < 1


@pytest.mark.parametrize(
    "sheet",
    [
        pytest.param(sheet_xml(HEADER_ROW + '<row r="2"><c r="A2"><v>89'), id="truncated"),
        pytest.param(sheet_xml(HEADER_ROW).replace("</sheetData>", "</sheetdata>"), id="tags"),
        pytest.param(
            sheet_xml(HEADER_ROW + "<row r='2'><c r='A2'><v>\x01</v></c></row>"),
            id="raw-control-character",
        ),
    ],
)
def test_malformed_sheet_xml_is_refused(r7, secretariat, sheet: str) -> None:
    content = with_member(workbook_bytes(("進捗", VALID_ROWS)), SHEET_XML, sheet)
    response, elapsed = post(secretariat, content, "broken.xlsx")
    assert "XML" in assert_refused(response, elapsed)


@pytest.mark.parametrize(
    ("prolog", "cell"),
    [
        pytest.param('<!DOCTYPE worksheet [<!ENTITY x "89">]>', "&x;", id="entity"),
        pytest.param("<!DOCTYPE worksheet>", "89", id="doctype"),
        pytest.param(BILLION_LAUGHS, "&lol9;", id="billion-laughs"),
        pytest.param(
            '<!DOCTYPE worksheet [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
            "&xxe;",
            id="external-entity",
        ),
    ],
)
def test_doctype_and_entities_are_refused(r7, secretariat, prolog: str, cell: str) -> None:
    rows = HEADER_ROW + f'<row r="2">{text_cell("A2", cell)}</row>'
    response, elapsed = post(secretariat, with_sheet(rows, prolog=prolog), "entities.xlsx")
    assert "DOCTYPE" in assert_refused(response, elapsed)
    assert "root:" not in response.content.decode()
    assert elapsed < 2


def test_a_doctype_in_another_part_is_refused(r7, secretariat) -> None:
    data = workbook_bytes(("進捗", VALID_ROWS))
    styles = zipfile.ZipFile(io.BytesIO(data)).read("xl/styles.xml").decode()
    styles = BILLION_LAUGHS + styles.split("?>", 1)[-1]  # after any XML declaration
    response, elapsed = post(secretariat, with_member(data, "xl/styles.xml", styles), "s.xlsx")
    assert "DOCTYPE" in assert_refused(response, elapsed)


def test_a_sheet_in_utf16_is_refused(r7, secretariat) -> None:
    """Its rows could not be counted before openpyxl parses it."""
    rows = HEADER_ROW + '<row r="2"><c r="A2"><v>89</v></c></row>'
    document = sheet_xml(rows).replace('encoding="UTF-8"', 'encoding="UTF-16"')
    data = workbook_bytes(("進捗", VALID_ROWS))
    content = with_member(data, SHEET_XML, document.encode("utf-16"))
    response, elapsed = post(secretariat, content, "utf16.xlsx")
    assert "XML" in assert_refused(response, elapsed)


@pytest.mark.parametrize("megabytes", [250, 20], ids=["over-200MB", "ratio"])
def test_a_zip_bomb_is_refused_before_it_is_unpacked(r7, secretariat, megabytes: int) -> None:
    content = zip_bomb(megabytes * 1024 * 1024)
    assert len(content) < 1024 * 1024
    response, elapsed = post(secretariat, content, "bomb.xlsx")
    assert "200MB" in assert_refused(response, elapsed)
    assert elapsed < 2


@pytest.mark.parametrize(
    "members",
    [
        pytest.param({"readme.txt": "hello"}, id="no-content-types"),
        pytest.param(
            {"[Content_Types].xml": '<?xml version="1.0"?><Types/>', "word/document.xml": "<w/>"},
            id="not-a-workbook",
        ),
    ],
)
def test_a_zip_that_is_not_a_workbook_is_refused(r7, secretariat, members: dict) -> None:
    output = io.BytesIO()
    with zipfile.ZipFile(output, "w") as archive:
        for name, text in members.items():
            archive.writestr(name, text)
    response, elapsed = post(secretariat, output.getvalue(), "document.xlsx")
    assert ".xlsx" in assert_refused(response, elapsed)


def test_a_truncated_zip_is_refused(r7, secretariat) -> None:
    data = workbook_bytes(("進捗", VALID_ROWS))
    response, elapsed = post(secretariat, data[: len(data) // 2], "cut.xlsx")
    assert_refused(response, elapsed)


def test_a_million_row_xlsx_is_refused_in_seconds(r7, secretariat) -> None:
    content = many_rows_xlsx(1_000_000)
    assert len(content) < 20 * 1024 * 1024
    response, elapsed = post(secretariat, content, "million.xlsx")
    assert "200,000行" in assert_refused(response, elapsed)


def test_rows_beyond_the_bound_are_counted_past_gaps(r7, secretariat) -> None:
    """A row numbered far below the others cannot make the reader walk a billion rows."""
    rows = HEADER_ROW + '<row r="2"><c r="A2"><v>89</v></c></row>'
    rows += '<row r="999999999"><c r="A999999999"><v>89</v></c></row>'
    response, elapsed = post(secretariat, with_sheet(rows), "far.xlsx")
    assert "200,000行" in assert_refused(response, elapsed)


def test_wide_rows_are_bounded(r7, secretariat) -> None:
    """Cells at column XFD make openpyxl pad every row to 16,384 cells: counted, refused."""
    rows = HEADER_ROW + "".join(
        f'<row r="{n}"><c r="A{n}"><v>89</v></c><c r="XFD{n}" s="0"/></row>' for n in range(2, 2000)
    )
    response, elapsed = post(secretariat, with_sheet(rows), "wide.xlsx")
    assert "セルの数" in assert_refused(response, elapsed)


def test_a_value_beyond_column_100_is_refused(r7, secretariat) -> None:
    row = [89, None, "C", *[None] * 97, "余分"]
    content = workbook_bytes(("進捗", [VALID_ROWS[0], row]))
    response, elapsed = post(secretariat, content, "columns.xlsx")
    assert "100列" in assert_refused(response, elapsed)


@pytest.mark.parametrize(
    "cell",
    [
        pytest.param(text_cell("C2", "A_x0000_B"), id="escaped-nul"),
        pytest.param(text_cell("C2", "A&#x85;B"), id="c1-control"),
        pytest.param(text_cell("C2", "A&#0;B"), id="nul-reference"),
    ],
)
def test_a_control_character_in_an_xlsx_cell_is_refused(r7, secretariat, cell: str) -> None:
    header = HEADER_ROW.replace("</row>", text_cell("C1", "評価") + "</row>")
    rows = header + f'<row r="2"><c r="A2"><v>89</v></c>{cell}</row>'
    response, elapsed = post(secretariat, with_sheet(rows), "control.xlsx")
    message = assert_refused(response, elapsed)
    assert "制御文字" in message


def test_an_infinite_number_is_refused(r7, secretariat) -> None:
    rows = HEADER_ROW + '<row r="2"><c r="A2"><v>89</v></c><c r="B2"><v>1e1000000</v></c></row>'
    response, elapsed = post(secretariat, with_sheet(rows), "inf.xlsx")
    assert "2行目のB列" in assert_refused(response, elapsed)


def test_a_number_of_absurd_length_is_refused_quickly(r7, secretariat) -> None:
    rows = HEADER_ROW + f'<row r="2"><c r="A2"><v>{"9" * 100_000}</v></c></row>'
    response, elapsed = post(secretariat, with_sheet(rows), "digits.xlsx")
    assert_refused(response, elapsed)


def test_absurd_floats_are_short_text() -> None:
    assert sheets.cell_text(1e300) == "1E+300"
    assert sheets.cell_text(5e-324) == "5E-324"
    assert sheets.cell_text(1e20) == "100000000000000000000"
    assert sheets.cell_text(0.1 + 0.2) == "0.30000000000000004"
    assert sheets.cell_text(60.0) == "60"


# --- hostile CSV ---------------------------------------------------------------------------


def test_a_million_row_csv_is_refused_in_seconds(r7, secretariat) -> None:
    lines = ["取組番号,指標番号,評価", "89,,C", *["89,1,"] * 1_000_000]
    response, elapsed = post(secretariat, csv_bytes(lines), "million.csv")
    assert "200,000行" in assert_refused(response, elapsed)


@pytest.mark.parametrize("length", [131_073, 5_001], ids=["over-csv-limit", "over-text-limit"])
def test_a_csv_field_that_is_too_long_is_refused(r7, secretariat, length: int) -> None:
    lines = ["取組番号,指標番号,評価,進捗", "89,,C,", f'90,,B,"{"あ" * length}"']
    response, elapsed = post(secretariat, csv_bytes(lines), "long.csv")
    message = assert_refused(response, elapsed, mentions="5,000文字")
    assert "3行目" in message


@pytest.mark.parametrize("character", ["\x00", "\x1b", "\x7f"])
def test_a_control_character_in_a_csv_cell_is_refused(r7, secretariat, character: str) -> None:
    lines = ["取組番号,指標番号,評価,進捗", "89,,C,", f"90,,B,途中{character}まで"]
    response, elapsed = post(secretariat, csv_bytes(lines), "nul.csv")
    message = assert_refused(response, elapsed, mentions="制御文字")
    assert "3行目のD列（進捗）" in message


def test_too_many_csv_columns_are_refused(r7, secretariat) -> None:
    lines = ["取組番号,指標番号,評価", "89,,C", "90,,B," + ",".join(["x"] * 100)]
    response, elapsed = post(secretariat, csv_bytes(lines), "wide.csv")
    assert "100列" in assert_refused(response, elapsed)


def test_a_file_without_a_header_row_names_the_headings(r7, secretariat) -> None:
    lines = ["令和7年度 進捗状況", "番号,内容", "89,C"]
    response, elapsed = post(secretariat, csv_bytes(lines), "nohead.csv")
    message = assert_refused(response, elapsed, mentions="取組番号")
    assert "指標番号" in message


def test_an_xlsx_without_a_header_row_names_its_sheets(r7, secretariat) -> None:
    content = workbook_bytes(("説明", [["記入してください"]]), ("表", [["番号", "内容"]]))
    response, elapsed = post(secretariat, content, "nohead.xlsx")
    assert "説明、表" in assert_refused(response, elapsed, mentions="指標番号")


@pytest.mark.parametrize(
    "content",
    [b"", "\ufeff".encode(), b"\xff\xfe\x00\x00\x81"],
    ids=["empty", "bom-only", "undecodable"],
)
def test_empty_or_undecodable_files_are_refused(r7, secretariat, content: bytes) -> None:
    response, elapsed = post(secretariat, content, "bad.csv")
    assert_refused(response, elapsed)


# --- sheets as clerks fill them in ---------------------------------------------------------


def import_rows(response) -> list[tuple[int, str]]:
    assert response.status_code == 200, response.json()
    return [(r["row"], r["outcome"]) for r in response.json()["row_results"]]


def test_header_below_two_title_rows(r7, secretariat) -> None:
    content = workbook_bytes(
        (
            "進捗",
            [
                ["令和7年度 秋田県DX推進計画 進捗状況調査票"],
                ["企画振興部", None, "提出日：2026-04-10"],
                ["取組番号", "指標番号", "評価", "備考"],
                [89, None, "C", "確認済"],
                [None, None, None],
                [89, 1, None, None],
            ],
        )
    )
    sheet = read_sheet(content, "titles.xlsx")
    assert sheet.header == ["取組番号", "指標番号", "評価", "備考"]
    assert sheet.header_row == 3
    assert [number for number, _cells in sheet.rows] == [4, 6]
    response, _elapsed = post(secretariat, content, "titles.xlsx", report_rows="true")
    assert import_rows(response)[0] == (4, "updated")
    assert evaluation(89).rating == "C"


def test_the_sheet_with_the_header_is_read_after_an_instructions_sheet(r7, secretariat) -> None:
    content = workbook_bytes(
        (
            "記入方法",
            [["進捗状況調査票の記入方法"], ["取組番号", "取組の番号"], ["評価", "A・B・C"]],
        ),
        ("R7 企画振興部", VALID_ROWS),
    )
    sheet = read_sheet(content, "two.xlsx")
    assert (sheet.name, sheet.skipped_sheets, sheet.header_row) == (
        "R7 企画振興部",
        ["記入方法"],
        1,
    )
    response, _elapsed = post(secretariat, content, "two.xlsx")
    assert response.status_code == 200, response.json()
    assert response.json()["sheet"] == "R7 企画振興部"
    assert evaluation(89).rating == "C"


def test_a_tsv_file_is_read(r7, secretariat) -> None:
    lines = ["取組番号\t指標番号\t評価\t進捗", "89\t\tC\t体験会を開催、継続"]
    sheet = read_sheet(csv_bytes(lines), "進捗.tsv")
    assert sheet.header == ["取組番号", "指標番号", "評価", "進捗"]
    assert list(sheet.rows) == [(2, ["89", "", "C", "体験会を開催、継続"])]
    response, _elapsed = post(secretariat, csv_bytes(lines), "進捗.txt")
    assert response.status_code == 200, response.json()
    assert evaluation(89).progress_text == "体験会を開催、継続"


def test_a_csv_with_title_rows_and_commas_in_them(r7, secretariat) -> None:
    lines = ["進捗状況調査票,令和7年度", "", "取組番号,指標番号,評価", "89,,B"]
    sheet = read_sheet(csv_bytes(lines), "titles.csv")
    assert sheet.header_row == 3
    assert list(sheet.rows) == [(4, ["89", "", "B"])]


def test_percent_and_date_cells_as_excel_stores_them(r7, secretariat) -> None:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["取組番号", "指標番号", "実績値", "時点"])
    sheet.append([1, 1, 0.6, datetime.date(2026, 3, 31)])
    sheet.append([3, 1, 0.125, datetime.datetime(2026, 3, 31, 12, 0)])
    sheet.append([6, 1, 1, None])
    sheet["C2"].number_format = "0%"
    sheet["C3"].number_format = "0.0%;[Red]-0.0%"
    sheet["C4"].number_format = '0"%"'  # a literal % sign: not a percent format
    buffer = io.BytesIO()
    workbook.save(buffer)
    rows = list(read_sheet(buffer.getvalue(), "percent.xlsx").rows)
    assert rows == [
        (2, ["1", "1", "60%", "2026-03-31"]),
        (3, ["3", "1", "12.5%", "2026-03-31"]),
        (4, ["6", "1", "1"]),
    ]
    response, _elapsed = post(secretariat, buffer.getvalue(), "percent.xlsx")
    assert response.status_code == 200, response.json()
    actual = KPIActual.objects.get(evaluation=evaluation(1))
    assert (actual.value, actual.as_of) == (Decimal("60"), datetime.date(2026, 3, 31))


def test_rows_past_the_declared_dimension_are_read(r7, secretariat) -> None:
    header = HEADER_ROW.replace("</row>", text_cell("C1", "評価") + "</row>")
    rows = header + "".join(
        f'<row r="{n}"><c r="A{n}"><v>{number}</v></c>{text_cell(f"C{n}", "B")}</row>'
        for n, number in enumerate([89, 1, 3, 6, 13, 16, 22, 24, 84, 88], start=2)
    )
    content = with_sheet(rows, dimension="A1:B2")
    assert len(list(read_sheet(content, "dimension.xlsx").rows)) == 10
    response, _elapsed = post(secretariat, content, "dimension.xlsx", dry_run="true")
    assert response.status_code == 200, response.json()
    assert response.json()["rows"] == 10


def test_bounds_are_checked_before_the_rows_are_handed_over() -> None:
    """``read_sheet`` raises for a bad row however far down, so the caller's 400 covers it."""
    lines = ["取組番号,指標番号", *["89,1"] * 5000, "89,\x00"]
    with pytest.raises(SheetError, match="5002行目"):
        read_sheet(csv_bytes(lines), "late.csv")


def test_large_sheets_are_read_twice_rather_than_kept(monkeypatch) -> None:
    monkeypatch.setattr(sheets, "KEEP_BYTES", 1000)
    lines = ["取組番号,指標番号", *[f"{n},1" for n in range(1, 101)]]
    sheet = read_sheet(csv_bytes(lines), "big.csv")
    assert [number for number, _cells in sheet.rows] == list(range(2, 102))
    content = many_rows_xlsx(100)
    assert len(list(read_sheet(content, "big.xlsx").rows)) == 100


def test_shared_strings_are_counted_as_cells(monkeypatch) -> None:
    monkeypatch.setattr(sheets, "MAX_CELLS", 1000)
    strings = "".join(f"<si><t>{n}</t></si>" for n in range(2000))
    table = f'<?xml version="1.0"?><sst xmlns="{MAIN_NS}">{strings}</sst>'
    content = with_member(workbook_bytes(("進捗", VALID_ROWS)), "xl/sharedStrings.xml", table)
    with pytest.raises(SheetError, match="セルの数"):
        read_sheet(content, "strings.xlsx")


def test_element_counts_span_chunk_boundaries(monkeypatch) -> None:
    """Tags that straddle the chunks the scan reads are counted once, prefixed or not."""
    monkeypatch.setattr(sheets, "_SCAN_CHUNK", 7)
    monkeypatch.setattr(sheets, "MAX_ROWS", 1000)
    monkeypatch.setattr(sheets, "MAX_OTHER_ROWS", 0)
    monkeypatch.setattr(sheets, "MAX_CELLS", 10**9)
    rows = HEADER_ROW + "".join(
        f'<row r="{n}"><c r="A{n}"><v>89</v></c></row>' for n in range(2, 1001)
    )
    content = with_sheet(rows)
    assert len(list(read_sheet(content, "rows.xlsx").rows)) == 999
    for extra in ('<row r="1001"/>', '<x:row xmlns:x="urn:x"/>', "<row\n/>"):
        with pytest.raises(SheetError, match="行数"):
            read_sheet(with_sheet(rows + extra), "rows.xlsx")
