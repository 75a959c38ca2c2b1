"""Reading uploaded sheets (XLSX, or CSV in UTF-8 or CP932) and writing CSV files (the
XLSX template is ``workbook``'s).

Every cell is read as text: numbers as their shortest decimal form, dates as ISO dates,
percent cells as ``60%``, so that the importer parses one representation whatever the file
type.

A sheet is read as a clerk fills it in: title rows above the header (the header is the first
row within ``HEADER_SEARCH_ROWS`` with the headings 取組番号 and 指標番号), an instructions
sheet first (the first worksheet with such a header is read), extra columns (passed on in the
header), tab-separated text (TSV).

An upload is untrusted. ``read_sheet`` checks the whole file before it returns, in a pass
that reads it as a stream and stops at the first bound crossed, so that the caller can answer
every problem as a ``SheetError`` (400) whose message, in Japanese, says what to do:

- XLSX: the zip is checked before openpyxl opens it (the members' total uncompressed size,
  each large member's compression ratio, their count); the prolog of every XML part is
  parsed and a DOCTYPE or entity declaration refused (openpyxl parses with defusedxml too, a
  pinned dependency), and its rows and cells are counted (a scan of the bytes); malformed
  XML is refused; the ``<dimension>`` a file declares is not trusted.
- every cell: at most ``MAX_CELL_CHARS`` characters, no control character but tab, CR and
  LF; at most ``MAX_COLUMNS`` columns and ``MAX_ROWS`` rows below the header.

The rows are kept from that pass while they are small (``KEEP_BYTES``), and read a second
time otherwise, so that memory stays bounded whatever the file.
"""

import csv
import datetime
import functools
import io
import math
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from xml.etree.ElementTree import ParseError
from xml.parsers import expat

from defusedxml import DefusedXmlException
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter

from evaluations.exchange.columns import BY_NAME, header_of
from evaluations.exchange.safety import neutralise
from evaluations.models import TEXT_LIMIT

XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MIME = "text/csv; charset=utf-8"
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # legacy .xls, or an .xlsx encrypted with a password
CSV_ENCODINGS = ("utf-8-sig", "cp932")

# Bounds of an upload: crossing any is a SheetError.
MAX_ROWS = 200_000  # rows below the header (blank rows included)
MAX_COLUMNS = 100
MAX_CELL_CHARS = TEXT_LIMIT  # the longest text the API accepts
HEADER_SEARCH_ROWS = 20  # the header is looked for in the first rows of each sheet
# The headings that mark the header row (a row with fewer is taken when no row has them
# all, if it has at least two known headings: the importer then names what is missing).
HEADER_KEYS = ("initiative_number", "kpi_order")
MAX_CELLS = 20 * MAX_ROWS  # XLSX cells (<c> elements, and <si> shared strings) of all sheets
MAX_OTHER_ROWS = 10_000  # XLSX rows allowed beyond MAX_ROWS, in the other sheets
MAX_UNCOMPRESSED_BYTES = 200 * 1024 * 1024  # XLSX members, added up
MAX_COMPRESSION_RATIO = 200  # of an XLSX member of RATIO_CHECKED_FROM bytes or more
RATIO_CHECKED_FROM = 1024 * 1024
MAX_ZIP_MEMBERS = 10_000
KEEP_BYTES = 32 * 1024 * 1024  # rows kept from the checking pass (estimated memory)
NUMBER_EXPONENT_LIMIT = 20  # beyond 10**±20 a number is written with an exponent (1E+300)
_SNIFF_CHARS = 64 * 1024  # the part of a CSV file looked at to choose comma or tab

# Any control character but tab, LF and CR (C0, DEL, C1), and lone surrogates.
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
# Excel writes a control character in a cell as _xHHHH_ (ST_Xstring).
_ESCAPED = re.compile(r"_x([0-9A-Fa-f]{4})_")
# Start tags of rows, cells and shared strings, with or without a namespace prefix.
_ELEMENT = re.compile(rb"<(?:[A-Za-z_][\w.\-]*:)?(row|c|si)[\s/>]")
_ELEMENT_TAIL = 256  # longer than any start tag counted
_SCAN_CHUNK = 1024 * 1024
# In a number format: quoted text, escaped characters and [colour]/[locale] sections.
_FORMAT_LITERALS = re.compile(r'"[^"]*"|\\.|\[[^\]]*\]')

_RESAVE = (
    "Excelで開いて「名前を付けて保存」から .xlsx 形式で保存し直し、もう一度取り込んでください。"
)
LEGACY_MESSAGE = (
    "古い形式のExcelファイル（.xls）か、パスワードで保護されたファイルは読み込めません。"
    "パスワードを解除し、.xlsx 形式かCSV形式で保存し直してから取り込んでください。"
)
ENCODING_MESSAGE = (
    "CSVファイルの文字コードを読み取れません。"
    "UTF-8 か Shift_JIS（CP932）で保存し直してから取り込んでください。"
)
EMPTY_MESSAGE = "ファイルが空です。記入したシートを保存したファイルを取り込んでください。"
NOT_A_WORKBOOK_MESSAGE = "Excelのブック（.xlsx）として読み取れません。" + _RESAVE
UNREADABLE_MESSAGE = "ファイルを読み取れませんでした。" + _RESAVE
MALFORMED_MESSAGE = (
    "ファイルの中身（XML）が壊れているか、使えない文字（制御文字など）が含まれています。" + _RESAVE
)
DOCTYPE_MESSAGE = "ファイルに取り込めない定義（DOCTYPE宣言や実体宣言）が含まれています。" + _RESAVE
TOO_LARGE_MESSAGE = (
    f"ファイルを展開した大きさが上限（{MAX_UNCOMPRESSED_BYTES // 1024 // 1024}MB）を超えるか、"
    "圧縮のされ方が異常なため読み込めません。"
    "不要なシートや画像を削除するか、ファイルを分けて取り込んでください。"
)
TOO_MANY_ROWS_MESSAGE = (
    f"ファイルの行数が上限（{MAX_ROWS:,}行）を超えています。ファイルを分けて取り込んでください。"
)
TOO_MANY_CELLS_MESSAGE = (
    f"ファイルのセルの数が上限（{MAX_CELLS:,}個）を超えています。"
    "不要な行や列を削除するか、ファイルを分けて取り込んでください。"
)


class SheetError(ValueError):
    """The file is not a sheet this service reads."""


@dataclass
class Sheet:
    """An uploaded table: its name (the worksheet, or the file for CSV), header and rows.

    ``rows`` yields ``(row_number, cells)`` with the row number the user sees (in Excel, or
    the record's number in a CSV file), blank rows left out. ``header_row`` is the header's
    number (rows above it are titles, ignored); ``skipped_sheets`` the worksheets before the
    one read, passed over because they have no header (an instructions sheet).
    """

    name: str
    header: list[str]
    rows: Iterator[tuple[int, list[str]]]
    header_row: int = 1
    skipped_sheets: list[str] = field(default_factory=list)


def _decimal_text(number: Decimal) -> str:
    """The shortest plain form, with an exponent only for absurdly large or small numbers
    (so that no number gives a text of hundreds of digits)."""
    if not number.is_finite():
        return str(number)
    number = number.normalize()
    if number and abs(number.adjusted()) > NUMBER_EXPONENT_LIMIT:
        return str(number)
    return format(number, "f")


def cell_text(value: object) -> str:
    """One text form for any cell value."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return _decimal_text(Decimal(repr(value))) if value == value else "NaN"
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
    raise SheetError(ENCODING_MESSAGE)


def read_sheet(data: bytes, filename: str = "upload.csv") -> Sheet:
    """The table of an XLSX file (its first worksheet with a header), or of a CSV or TSV
    file, checked whole: every problem is a ``SheetError`` raised here."""
    if data.startswith(_OLE_MAGIC):
        raise SheetError(LEGACY_MESSAGE)
    if data.startswith(_ZIP_MAGIC):
        return _read_xlsx(data)
    return _read_csv(data, filename)


# --- header ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Header:
    number: int
    cells: list[str]
    complete: bool  # it has every HEADER_KEYS heading
    known: int  # how many of its cells are headings of the sheet


def _find_header(rows: Iterator[tuple[int, list[str]]]) -> _Header | None:
    """The first row within ``HEADER_SEARCH_ROWS`` with the ``HEADER_KEYS`` headings, else
    the row with the most known headings (at least two)."""
    required = set(HEADER_KEYS)
    best = None
    for number, cells in rows:
        if number > HEADER_SEARCH_ROWS:
            break
        names = [cell.strip() for cell in cells]
        keys = {BY_NAME[name].key for name in names if name in BY_NAME}
        while names and not names[-1]:
            names.pop()
        if required <= keys:
            return _Header(number, names, True, len(keys))
        if len(keys) >= 2 and (best is None or len(keys) > best.known):
            best = _Header(number, names, False, len(keys))
    return best


def _no_header_message(sheets: list[str]) -> str:
    headings = "と".join(f"「{header_of(key)}」" for key in HEADER_KEYS)
    message = (
        f"見出しの行が見つかりません。最初の{HEADER_SEARCH_ROWS}行のうちに{headings}"
        f"（または {' と '.join(HEADER_KEYS)}）の見出しがある行が必要です。"
        "ダウンロードした様式の見出しの行を消さずに記入してください。"
    )
    if sheets:
        message += f"（調べたシート：{'、'.join(sheets)}）"
    return message


# --- checks of every row -----------------------------------------------------------------


def _where(number: int, index: int, header: list[str] | None = None) -> str:
    where = f"{number}行目の{get_column_letter(index + 1)}列"
    if header and index < len(header) and header[index]:
        where += f"（{header[index]}）"
    return where


def _checked(number: int, cells: list[str], header: list[str]) -> list[str]:
    """The row's cells, or a SheetError: too many columns, a cell too long or with a
    control character."""
    if len(cells) > MAX_COLUMNS:
        if any(cells[MAX_COLUMNS:]):
            raise SheetError(
                f"{number}行目の列の数が上限（{MAX_COLUMNS}列）を超えています。"
                f"{MAX_COLUMNS}列目より右の不要な列を削除してから取り込んでください。"
            )
        cells = cells[:MAX_COLUMNS]
    for index, text in enumerate(cells):
        if not text:
            continue
        if len(text) > MAX_CELL_CHARS:
            raise SheetError(
                f"{_where(number, index, header)}のセルの文字数（{len(text):,}文字）が上限"
                f"（{MAX_CELL_CHARS:,}文字）を超えています。文章を短くしてから取り込んでください。"
            )
        found = _FORBIDDEN.search(text)
        if found:
            raise SheetError(
                f"{_where(number, index, header)}のセルに使えない文字（制御文字など、"
                f"U+{ord(found.group()):04X}）が含まれています。"
                "そのセルを入力し直してから取り込んでください。"
            )
    return cells


def _data_rows(
    rows: Iterator[tuple[int, list[str]]], header: _Header
) -> Iterator[tuple[int, list[str]]]:
    """The non-blank rows below the header, checked."""
    for number, cells in rows:
        if number <= header.number:
            continue
        if number - header.number > MAX_ROWS:
            raise SheetError(TOO_MANY_ROWS_MESSAGE)
        cells = _checked(number, cells, header.cells)
        if any(cells):
            yield number, cells


def _unreadable(error: Exception) -> SheetError:
    """A SheetError for what a parser raised."""
    if isinstance(error, SheetError):
        return error
    if isinstance(error, DefusedXmlException):
        return SheetError(DOCTYPE_MESSAGE)
    if isinstance(error, ParseError | expat.ExpatError):
        return SheetError(MALFORMED_MESSAGE)
    return SheetError(UNREADABLE_MESSAGE)


def _guarded(rows: Iterator[tuple[int, list[str]]]) -> Iterator[tuple[int, list[str]]]:
    try:
        yield from rows
    except Exception as error:  # a damaged file makes the parsers raise many kinds
        raise _unreadable(error) from error


def _finally(rows: Iterator[tuple[int, list[str]]], done: Callable[[], None] | None):
    try:
        yield from rows
    finally:
        if done is not None:
            done()


def _sheet(
    name: str,
    header: _Header,
    rows: Callable[[], Iterator[tuple[int, list[str]]]],
    *,
    skipped: list[str] | None = None,
    done: Callable[[], None] | None = None,
) -> Sheet:
    """Check every row (``rows()`` reads them from the top), keeping them while they are
    small; the Sheet hands them over, read again if they were not kept."""
    header_cells = _checked(header.number, header.cells, header.cells)
    kept: list[tuple[int, list[str]]] | None = []
    size = 0
    for number, cells in _guarded(_data_rows(rows(), header)):
        if kept is None:
            continue
        size += 120 + sum(60 + 2 * len(cell) for cell in cells)
        if size > KEEP_BYTES:
            kept = None
        else:
            kept.append((number, cells))
    if kept is not None:
        if done is not None:
            done()
        data_rows: Iterator[tuple[int, list[str]]] = iter(kept)
    else:
        data_rows = _finally(_guarded(_data_rows(rows(), header)), done)
    return Sheet(
        name=name,
        header=header_cells,
        rows=data_rows,
        header_row=header.number,
        skipped_sheets=skipped or [],
    )


# --- CSV ---------------------------------------------------------------------------------


def _csv_rows(
    text: str, delimiter: str, *, lenient: bool = False
) -> Iterator[tuple[int, list[str]]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    number = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            if lenient:
                return
            if "field limit" in str(error):
                raise SheetError(
                    f"{number + 1}行目に文字数が上限（{MAX_CELL_CHARS:,}文字）を超えるセルが"
                    "あります。文章を短くしてから取り込んでください。"
                ) from error
            raise SheetError(
                f"CSVファイルの{number + 1}行目を読み取れません。"
                '引用符（"）の閉じ忘れなどがないか確かめてください。'
            ) from error
        number += 1
        yield number, cells


def _csv_delimiter(text: str) -> str:
    """Comma, or tab for a TSV file: the one with which the header is found."""
    sample = text[:_SNIFF_CHARS]
    partial = None
    for delimiter in (",", "\t"):
        header = _find_header(_csv_rows(sample, delimiter, lenient=True))
        if header is not None and header.complete:
            return delimiter
        if header is not None and partial is None:
            partial = delimiter
    if partial is not None:
        return partial
    first = next((line for line in sample.splitlines() if line.strip()), "")
    return "\t" if "\t" in first and "," not in first else ","


def _read_csv(data: bytes, filename: str) -> Sheet:
    text = decode_csv(data)
    if not text.strip():
        raise SheetError(EMPTY_MESSAGE)
    delimiter = _csv_delimiter(text)

    def rows() -> Iterator[tuple[int, list[str]]]:
        return _csv_rows(text, delimiter)

    header = _find_header(rows())
    if header is None:
        raise SheetError(_no_header_message([]))
    return _sheet(filename, header, rows)


# --- XLSX --------------------------------------------------------------------------------


class _RootReached(Exception):
    """The prolog of an XML part has been read."""


def _refuse_declaration(*_args: object) -> None:
    raise SheetError(DOCTYPE_MESSAGE)


def _root_reached(*_args: object) -> None:
    raise _RootReached


def _check_prolog(archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> None:
    """Refuse a DOCTYPE (with it entity declarations: billion laughs, external entities)
    in an XML part; only the part's prolog, before its root element, is read. A part in
    UTF-16 (which Excel never writes) is refused too: its rows could not be counted."""
    parser = expat.ParserCreate()
    parser.StartDoctypeDeclHandler = _refuse_declaration
    parser.EntityDeclHandler = _refuse_declaration
    parser.StartElementHandler = _root_reached
    try:
        with archive.open(member) as handle:
            chunk = handle.read(64 * 1024)
            if chunk.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in chunk[:4]:
                raise SheetError(MALFORMED_MESSAGE)
            while chunk:
                parser.Parse(chunk, False)
                chunk = handle.read(64 * 1024)
            parser.Parse(b"", True)
    except _RootReached:
        return
    except Exception as error:
        raise _unreadable(error) from error


def _check_archive(data: bytes) -> None:
    """Check the zip before openpyxl opens it: its size unpacked, compression ratios,
    members, and in every XML part the prolog (no DOCTYPE) and the count of rows and cells."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except Exception as error:  # BadZipFile, and other kinds for a damaged zip
        raise SheetError(NOT_A_WORKBOOK_MESSAGE) from error
    with archive:
        if len(members) > MAX_ZIP_MEMBERS:
            raise SheetError(TOO_LARGE_MESSAGE)
        total = 0
        for member in members:
            total += member.file_size
            if member.file_size >= RATIO_CHECKED_FROM and (
                member.file_size > MAX_COMPRESSION_RATIO * member.compress_size
            ):
                raise SheetError(TOO_LARGE_MESSAGE)
        if total > MAX_UNCOMPRESSED_BYTES:
            raise SheetError(TOO_LARGE_MESSAGE)
        if "[Content_Types].xml" not in {member.filename for member in members}:
            raise SheetError(NOT_A_WORKBOOK_MESSAGE)
        counts = _Counts()
        for member in members:
            if member.file_size and member.filename.lower().endswith((".xml", ".rels")):
                _check_prolog(archive, member)
                _count_elements(archive, member, counts)


@dataclass
class _Counts:
    """Rows, and cells and shared strings, counted in the XML parts of a workbook."""

    rows: int = 0
    cells: int = 0

    def check(self) -> None:
        if self.rows > MAX_ROWS + MAX_OTHER_ROWS:
            raise SheetError(TOO_MANY_ROWS_MESSAGE)
        if self.cells > MAX_CELLS:
            raise SheetError(TOO_MANY_CELLS_MESSAGE)


def _count_elements(archive: zipfile.ZipFile, member: zipfile.ZipInfo, counts: _Counts) -> None:
    """Add up the rows and cells (and shared strings, no more than cells in a real file) of
    an XML part, wherever the workbook puts its worksheets, with a fast scan of its bytes,
    and refuse the file as soon as a total is over its bound: before openpyxl parses the
    XML (which it does whole on opening a worksheet without <dimension>)."""
    tail = b""
    try:
        with archive.open(member) as handle:
            while chunk := handle.read(_SCAN_CHUNK):
                buffer = tail + chunk
                found = _ELEMENT.findall(buffer)
                # matches wholly within the tail were counted with the previous chunk
                seen = _ELEMENT.findall(tail) if tail else []
                rows = found.count(b"row") - seen.count(b"row")
                counts.rows += rows
                counts.cells += len(found) - len(seen) - rows
                counts.check()
                tail = buffer[-_ELEMENT_TAIL:]
    except Exception as error:
        raise _unreadable(error) from error


@functools.lru_cache(maxsize=512)
def _is_percent(number_format: str | None) -> bool:
    return bool(number_format) and "%" in _FORMAT_LITERALS.sub("", number_format)


def _unescape(text: str) -> str:
    """Excel's _xHHHH_ escapes of control characters, as the characters."""

    def character(match: re.Match) -> str:
        code = int(match.group(1), 16)
        return chr(code) if code < 0x20 or 0x7F <= code <= 0x9F else match.group()

    return _ESCAPED.sub(character, text)


def _xlsx_text(cell, value: object, number: int, index: int) -> str:
    if isinstance(value, str):
        return _unescape(value).strip() if "_x" in value else value.strip()
    if isinstance(value, float) and not math.isfinite(value):
        raise SheetError(
            f"{_where(number, index)}のセルの数値が大きすぎるか、数値として読み取れません。"
            "セルの値を確かめてください。"
        )
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    if numeric and _is_percent(cell.number_format):
        exact = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
        return _decimal_text(exact * 100) + "%"
    return cell_text(value)


def _xlsx_rows(worksheet) -> Iterator[tuple[int, list[str]]]:
    """Every row of a read-only worksheet as text, numbered as Excel shows them (rows
    missing from the XML given as blank). A row is as wide as its last cell, so the cells
    (padding included) are counted against ``MAX_CELLS``."""
    width = 0
    for number, row in enumerate(worksheet.iter_rows(), start=1):
        width += len(row)
        if width > MAX_CELLS:
            raise SheetError(TOO_MANY_CELLS_MESSAGE)
        if len(row) > MAX_COLUMNS:
            for offset, cell in enumerate(row[MAX_COLUMNS:]):
                value = cell.value
                if value is not None and _xlsx_text(cell, value, number, MAX_COLUMNS + offset):
                    raise SheetError(
                        f"{number}行目の列の数が上限（{MAX_COLUMNS}列）を超えています。"
                        f"{MAX_COLUMNS}列目より右の不要な列を削除してから取り込んでください。"
                    )
            row = row[:MAX_COLUMNS]
        cells = []
        for index, cell in enumerate(row):
            value = cell.value
            cells.append("" if value is None else _xlsx_text(cell, value, number, index))
        yield number, cells


def _read_xlsx(data: bytes) -> Sheet:
    _check_archive(data)
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises many kinds for a damaged file
        unreadable = _unreadable(error)
        if unreadable.args[0] == UNREADABLE_MESSAGE:
            unreadable = SheetError(NOT_A_WORKBOOK_MESSAGE)
        raise unreadable from error
    chosen = partial = None
    passed: list[str] = []
    try:
        for worksheet in workbook.worksheets:
            worksheet.reset_dimensions()  # rows past a declared <dimension> are read too
            header = _find_header(_xlsx_rows(worksheet))
            if header is not None and header.complete:
                chosen = (worksheet, header, list(passed))
                break
            if header is not None and partial is None:
                partial = (worksheet, header, list(passed))
            passed.append(worksheet.title)
    except Exception as error:
        workbook.close()
        raise _unreadable(error) from error
    chosen = chosen or partial
    if chosen is None:
        workbook.close()
        raise SheetError(_no_header_message(passed))
    worksheet, header, skipped = chosen
    try:
        return _sheet(
            worksheet.title,
            header,
            lambda: _xlsx_rows(worksheet),
            skipped=skipped,
            done=workbook.close,
        )
    except SheetError:
        workbook.close()
        raise


# --- writing -----------------------------------------------------------------------------


def inert(value: object) -> object:
    """A value as it may be written to a CSV or XLSX file: text that a spreadsheet would
    read as a formula made inert (``safety.neutralise``), numbers as they are. A lone "-"
    (the rating 評価なし) is left as it is: no spreadsheet reads it as a formula."""
    if value == "-":
        return value
    return neutralise(value)


class _Echo:
    """A file-like object whose ``write`` returns what it is given (for streaming CSV)."""

    def write(self, value: str) -> str:
        return value


def _csv_value(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value, "f")  # never an exponent
    return inert(value)


def csv_lines(rows: Iterable[Iterable[object]], *, bom: bool = True) -> Iterator[bytes]:
    """Encode rows as UTF-8 CSV lines, one chunk per row, with a BOM first for Excel. Text
    that a spreadsheet would run as a formula is neutralised (``inert``): pass numbers as
    numbers (int, Decimal), not as text, so that "-5" is not taken for a formula."""
    writer = csv.writer(_Echo(), lineterminator="\r\n")
    if bom:
        yield "\ufeff".encode()
    for row in rows:
        yield writer.writerow([_csv_value(value) for value in row]).encode()


def csv_bytes(rows: Iterable[Iterable[object]]) -> bytes:
    return b"".join(csv_lines(rows))
