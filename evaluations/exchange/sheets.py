"""Reading uploaded sheets (XLSX, or CSV in UTF-8 or CP932) and writing XLSX/CSV files.

Every cell is read as text: numbers as their shortest decimal form, dates as ISO dates, so
that the importer parses one representation whatever the file type.
"""

import csv
import datetime
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal

from openpyxl import Workbook, load_workbook
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from evaluations.exchange.columns import COLUMNS, INFO
from evaluations.models import Rating

XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MIME = "text/csv; charset=utf-8"
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # legacy .xls
CSV_ENCODINGS = ("utf-8-sig", "cp932")


class SheetError(ValueError):
    """The file is not a sheet this service reads."""


@dataclass
class Sheet:
    """An uploaded table: its name (the worksheet, or the file for CSV), header and rows.

    ``rows`` yields ``(row_number, cells)`` with the row number the user sees (header = 1).
    """

    name: str
    header: list[str]
    rows: Iterator[tuple[int, list[str]]]


def cell_text(value: object) -> str:
    """One text form for any cell value."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return format(Decimal(repr(value)).normalize(), "f") if value == value else "NaN"
    if isinstance(value, datetime.datetime):
        return value.date().isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    return str(value).strip()


def decode_csv(data: bytes) -> str:
    """UTF-8 (with or without BOM), else CP932 (Shift_JIS as Excel writes it)."""
    for encoding in CSV_ENCODINGS:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise SheetError("The CSV file is neither UTF-8 nor Shift_JIS (CP932).")


def _numbered(rows: Iterable[Iterable[object]]) -> Iterator[tuple[int, list[str]]]:
    for number, row in enumerate(rows, start=2):
        cells = [cell_text(value) for value in row]
        if any(cells):
            yield number, cells


def read_sheet(data: bytes, filename: str = "upload.csv") -> Sheet:
    """Read the first worksheet of an XLSX file, or a CSV file."""
    if data.startswith(_OLE_MAGIC):
        raise SheetError("Legacy .xls files are not read: save the sheet as .xlsx or CSV.")
    if data.startswith(_ZIP_MAGIC):
        return _read_xlsx(data)
    reader = csv.reader(io.StringIO(decode_csv(data), newline=""))
    header = next(reader, None)
    if header is None:
        raise SheetError("The file is empty.")
    return Sheet(name=filename, header=[cell.strip() for cell in header], rows=_numbered(reader))


def _read_xlsx(data: bytes) -> Sheet:
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises many kinds for a damaged file
        raise SheetError(f"The XLSX file cannot be read: {error}") from error
    worksheet = workbook.worksheets[0]
    rows = worksheet.iter_rows(values_only=True)
    header = next(rows, None)
    if header is None:
        raise SheetError("The first worksheet is empty.")
    header_cells = [cell_text(value) for value in header]
    while header_cells and not header_cells[-1]:
        header_cells.pop()
    return Sheet(name=worksheet.title, header=header_cells, rows=_numbered(rows))


class _Echo:
    """A file-like object whose ``write`` returns what it is given (for streaming CSV)."""

    def write(self, value: str) -> str:
        return value


def csv_lines(rows: Iterable[Iterable[object]], *, bom: bool = True) -> Iterator[bytes]:
    """Encode rows as UTF-8 CSV lines, one chunk per row, with a BOM first for Excel."""
    writer = csv.writer(_Echo(), lineterminator="\r\n")
    if bom:
        yield "\ufeff".encode()
    for row in rows:
        yield writer.writerow(["" if value is None else value for value in row]).encode()


def csv_bytes(rows: Iterable[Iterable[object]]) -> bytes:
    return b"".join(csv_lines(rows))


_HEADER_FONT = Font(bold=True)
_INFO_FILL = PatternFill("solid", fgColor="EEEEEE")
_EVALUATION_ROW_FILL = PatternFill("solid", fgColor="FFF8DC")
_INVALID_TITLE_CHARS = str.maketrans({char: "_" for char in "[]:*?/\\"})


def xlsx_bytes(title: str, rows: Iterable[list[object]], evaluation_rows: set[int]) -> bytes:
    """The progress sheet as XLSX: header in bold, frozen, info columns grey, evaluation
    rows tinted, and a drop-down of the ratings on 評価."""
    workbook = Workbook(write_only=False)
    sheet = workbook.active
    sheet.title = title.translate(_INVALID_TITLE_CHARS)[:31] or "progress"
    sheet.append([column.header for column in COLUMNS])
    for cell in sheet[1]:
        cell.font = _HEADER_FONT
    for row in rows:
        sheet.append(row)
    for index, column in enumerate(COLUMNS, start=1):
        letter = get_column_letter(index)
        sheet.column_dimensions[letter].width = column.width
        if column.level == INFO:
            for (cell,) in sheet.iter_rows(min_row=2, min_col=index, max_col=index):
                cell.fill = _INFO_FILL
    for number in evaluation_rows:
        for column, cell in zip(COLUMNS, sheet[number], strict=False):
            if column.level != INFO:
                cell.fill = _EVALUATION_ROW_FILL
    rating_index = next(i for i, c in enumerate(COLUMNS, start=1) if c.key == "rating")
    letter = get_column_letter(rating_index)
    choices = ",".join(Rating.values)
    validation = DataValidation(type="list", formula1=f'"{choices}"', allow_blank=True)
    validation.add(f"{letter}2:{letter}{max(sheet.max_row, 2)}")
    sheet.add_data_validation(validation)
    sheet.freeze_panes = "C2"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
