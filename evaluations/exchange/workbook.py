"""The progress sheet as an XLSX workbook that guides the clerk who fills it in.

Two sheets: 「記入方法」 first (how to fill in and upload; it has no header row, so the
importer passes over it), then the data sheet, named after the round and department.

The data sheet shows the header bold and frozen with the key columns, the reference (info)
columns grey, each initiative's evaluation row tinted, and:

- protection: the sheet is protected without a password; only the cells a row may change
  are unlocked (the evaluation columns on evaluation rows, the KPI columns on KPI rows, and
  neither on rows whose evaluation can no longer be edited: those are greyed out);
- validation: 評価 accepts A, B, C or - only (anything else is refused), 実績値 warns when
  it is not a number, 時点 shows the forms it accepts;
- text wrapped (the long text columns are wide), a filter on the header, A4 landscape
  printing fitted to the page width with the header repeated on every page;
- every text cell a string cell, never a formula: text is passed through
  ``safety.neutralise`` by the caller and the cell's type is set to string here as well.
"""

import datetime
import io
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from openpyxl import Workbook
from openpyxl.cell import Cell
from openpyxl.styles import Alignment, Border, Font, PatternFill, Protection, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from evaluations.exchange.cells import CLEAR_MARKER
from evaluations.exchange.columns import (
    COLUMNS,
    EVALUATION,
    INFO,
    KEY,
    KPI_LEVEL,
    VERSION,
    Column,
)
from evaluations.exchange.safety import neutralise
from evaluations.models import Rating
from evaluations.rating_rules import B_THRESHOLD, FULL
from initiatives.fiscal_years import as_of_label

INSTRUCTIONS_TITLE = "記入方法"
IMPORT_URL = "/api/v1/imports/progress/"
# The largest value a KPI actual holds (DecimalField(max_digits=20, decimal_places=4)).
_VALUE_LIMIT = "9999999999999999.9999"

_HEADER_FONT = Font(bold=True)
_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
_INFO_FILL = PatternFill("solid", fgColor="EEEEEE")
_EVALUATION_ROW_FILL = PatternFill("solid", fgColor="FFF8DC")
_CLOSED_FONT = Font(color="808080")
_TITLE_FONT = Font(bold=True, size=14)
_SECTION_FONT = Font(bold=True)
_THIN = Side(style="thin", color="BFBFBF")
_BORDER = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_CELL_ALIGNMENT = Alignment(wrap_text=True, vertical="top")
_HEADER_ALIGNMENT = Alignment(wrap_text=True, vertical="center", horizontal="center")
_LOCKED = Protection(locked=True)
_UNLOCKED = Protection(locked=False)
_INVALID_TITLE_CHARS = str.maketrans({char: "_" for char in "[]:*?/\\"})


@dataclass(frozen=True)
class SheetRow:
    """One data row: its cells in ``COLUMNS`` order (text already neutralised), whether it
    is an evaluation row (指標番号 blank) and whether its record may still be edited."""

    cells: list[object]
    is_evaluation: bool
    editable: bool = True

    def unlocked(self, column: Column) -> bool:
        """Whether the clerk may write in this row's cell of ``column``."""
        if not self.editable:
            return False
        return column.level == (EVALUATION if self.is_evaluation else KPI_LEVEL)


def sheet_title(title: str) -> str:
    """A valid worksheet name: no ``[]:*?/\\``, at most 31 characters."""
    return title.translate(_INVALID_TITLE_CHARS)[:31] or "progress"


def _put(sheet: Worksheet, row: int, column: int, value: object) -> Cell:
    """Write a cell; text is always a string cell, never a formula."""
    cell = sheet.cell(row=row, column=column)
    cell.value = value
    if isinstance(value, str):
        cell.data_type = "s"  # openpyxl makes a str starting with "=" a formula
    return cell


def _percent(ratio: Decimal) -> str:
    return f"{(ratio * 100).normalize():f}%"


# --- 記入方法 ------------------------------------------------------------------------------

_COLUMN_NOTES = {
    "initiative_number": "取組の番号。行の照合に使います。",
    "title": "取組の名称。",
    "kpi_order": "指標の番号。空欄の行はその取組の「評価の行」です。",
    "kpi_name": "指標の名称。",
    "unit": "実績値の単位。",
    "target": "今年度の目標（数値、または定性的な目標の文言）。",
    "previous_actual": "前年度の実績値（前年度のラウンドがある場合）。",
    "value": "今年度の実績値。数値だけを入力します（単位は付けません）。",
    "as_of": "実績値の時点。「{label}」または「{iso}」の形で入力します。",
    "note": "実績値についての注記（速報値である、対象の範囲など）。",
    "previous_rating": "前年度の評価。",
    "suggestion": "入力済みの実績値と目標から計算した評価の目安と達成率。評価を決める参考です。",
    "rating": "今年度の評価。A・B・C・- から選びます。",
    "rating_reason": "評価の理由。",
    "plan_text": "今年度の計画。",
    "progress_text": "今年度の取組の進捗。",
    "next_actions": "今後の取組等。",
    "version": "この行の元になった記録の版。変更しないでください（取込時の照合に使います）。",
}
_LEVEL_NOTES = {
    KEY: "変更しない（照合用）",
    INFO: "参照のみ（取り込まれません）",
    EVALUATION: "評価の行に記入",
    KPI_LEVEL: "指標の行に記入",
    VERSION: "変更しない（照合用）",
}


def _headers(level: str) -> str:
    return "・".join(column.header for column in COLUMNS if column.level == level)


def instruction_lines(
    *, heading: str, data_sheet: str, fiscal_year: int
) -> list[tuple[str, str, str]]:
    """The 記入方法 sheet as (style, first cell, second cell) lines: ``title``, ``section``,
    ``text`` (first cell empty, or a short label) and ``column`` rows of the column table."""
    year_end = datetime.date(fiscal_year + 1, 3, 31)
    label, iso = as_of_label(year_end), year_end.isoformat()
    b_percent, full_percent = _percent(B_THRESHOLD), _percent(FULL)
    ratings = [
        ("text", f"「{value}」", str(label).split(": ", 1)[-1]) for value, label in Rating.choices
    ]
    lines: list[tuple[str, str, str]] = [
        ("title", "進捗状況調査票の記入方法", ""),
        ("text", "対象", heading),
        ("text", "記入するシート", f"「{data_sheet}」（このシートの右隣）"),
        ("blank", "", ""),
        ("section", "1. シートの見方", ""),
        (
            "text",
            "",
            "1行目が見出しです。取組ごとに、指標番号が空欄の「評価の行」（薄い黄色）と、"
            "指標ごとの「指標の行」が並んでいます。",
        ),
        (
            "text",
            "",
            "灰色の列（" + _headers(INFO) + "）は参考情報で、書き換えても取り込まれません。",
        ),
        (
            "text",
            "",
            "シートは保護されており、入力できるのは記入欄のセルだけです（パスワードはありません）。"
            "行・列の追加、削除、並べ替えはしないでください。",
        ),
        ("blank", "", ""),
        ("section", "2. 記入する欄", ""),
        ("text", "評価の行", _headers(EVALUATION)),
        ("text", "指標の行", _headers(KPI_LEVEL)),
        (
            "text",
            "変更しない欄",
            _headers(KEY) + "・" + _headers(VERSION) + "（行と記録の照合に使います）",
        ),
        (
            "text",
            "版",
            "その行の元になった記録の版です。ダウンロード後に同じ記録がほかで更新されていると、"
            "取込時に競合として知らせます。書き換えないでください。",
        ),
        ("blank", "", ""),
        ("section", "3. 評価（プルダウンから選択。ほかの入力は受け付けません）", ""),
        *ratings,
        (
            "text",
            "評価の目安",
            f"指標ごとの達成率（実績値÷目標値。低いほど良い指標は目標値÷実績値）の平均が"
            f"{full_percent}を超えればA、{b_percent}以上{full_percent}以下ならB、"
            f"{b_percent}未満ならC。「評価の目安」列に表示しています。"
            "評価は目安を参考に、取組の状況を踏まえて決めてください。",
        ),
        ("blank", "", ""),
        ("section", "4. 実績値と時点", ""),
        (
            "text",
            "実績値",
            "数値だけを入力します（単位や「約」は付けません）。全角数字も読み取ります。",
        ),
        ("text", "時点", f"「{label}」（年度末時点）または「{iso}」の形で入力します。"),
        ("blank", "", ""),
        ("section", "5. 空欄と削除", ""),
        ("text", "空欄", "空欄のセルは、登録済みの内容を変更しません。"),
        (
            "text",
            "削除",
            f"登録済みの内容を消すときは、セルに「{CLEAR_MARKER}」と入力してください"
            "（評価はプルダウンの値だけを受け付けます）。",
        ),
        ("blank", "", ""),
        ("section", "6. 入力できない行", ""),
        (
            "text",
            "",
            "提出済・承認済の取組の行（文字が灰色）は入力できず、取込時にも読み飛ばされます。"
            "直す必要があるときは事務局に差戻しを依頼してください。",
        ),
        ("blank", "", ""),
        ("section", "7. 提出（アップロード）", ""),
        (
            "text",
            "管理画面",
            "「評価」一覧の「シートの取込」で、このファイルを保存したまま（xlsx形式で）選び、"
            "「確認（ドライラン）」で変わる内容を確かめてから「取込を確定」してください。",
        ),
        ("text", "API", f"POST {IMPORT_URL}（file, plan, fiscal_year）"),
        (
            "text",
            "",
            "エラーが1件でもあれば何も書き込まれません。表示された行・列を直して、"
            "もう一度アップロードしてください。",
        ),
        ("blank", "", ""),
        ("section", "8. 列の一覧", ""),
        ("column", "見出し", "【記入】説明"),
    ]
    for column in COLUMNS:
        note = _COLUMN_NOTES.get(column.key, "").format(label=label, iso=iso)
        lines.append(("column", column.header, f"【{_LEVEL_NOTES[column.level]}】{note}"))
    return lines


def _instructions_sheet(sheet: Worksheet, lines: list[tuple[str, str, str]]) -> None:
    sheet.column_dimensions["A"].width = 22
    sheet.column_dimensions["B"].width = 100
    for number, (style, first, second) in enumerate(lines, start=1):
        for index, text in enumerate((first, second), start=1):
            if not text:
                continue
            cell = _put(sheet, number, index, neutralise(text))
            cell.alignment = _CELL_ALIGNMENT
            if style == "title":
                cell.font = _TITLE_FONT
            elif style == "section":
                cell.font = _SECTION_FONT
            elif style == "column":
                cell.border = _BORDER
                if first == "見出し":
                    cell.font = _HEADER_FONT
                    cell.fill = _HEADER_FILL
    sheet.protection.sheet = True
    sheet.page_setup.orientation = "portrait"
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True


# --- the data sheet ------------------------------------------------------------------------


def _index(key: str) -> int:
    return next(index for index, column in enumerate(COLUMNS, start=1) if column.key == key)


def _validations(sheet: Worksheet, last_row: int, year_end: datetime.date) -> None:
    def column_range(key: str) -> str:
        letter = get_column_letter(_index(key))
        return f"{letter}2:{letter}{last_row}"

    # The ratings, and the marker that clears a stored rating.
    choices = ",".join([*Rating.values, CLEAR_MARKER])
    rating = DataValidation(
        type="list",
        formula1=f'"{choices}"',
        allow_blank=True,
        showErrorMessage=True,
        errorStyle="stop",
        errorTitle="評価の入力",
        error=f"評価は {'・'.join(Rating.values)} のいずれかを一覧から選んでください。"
        f"（{'、'.join(str(label) for label in Rating.labels)}）",
        showInputMessage=True,
        promptTitle="評価",
        prompt=(
            f"A・B・C・- から選びます（{CLEAR_MARKER}で登録済みの評価を消します）。"
            "「評価の目安」列を参考にしてください。"
        ),
    )
    rating.add(column_range("rating"))
    value = DataValidation(
        type="decimal",
        operator="between",
        formula1=f"-{_VALUE_LIMIT}",
        formula2=_VALUE_LIMIT,
        allow_blank=True,
        showErrorMessage=True,
        errorStyle="warning",
        errorTitle="実績値の入力",
        error="実績値は数値だけを入力してください（単位や「約」は付けません）。",
        showInputMessage=True,
        promptTitle="実績値",
        prompt="数値だけを入力します（単位は付けません）。",
    )
    value.add(column_range("value"))
    as_of = DataValidation(
        allow_blank=True,
        showInputMessage=True,
        promptTitle="時点",
        prompt=f"「{as_of_label(year_end)}」または「{year_end.isoformat()}」の形で入力します。",
    )
    as_of.add(column_range("as_of"))
    for validation in (rating, value, as_of):
        sheet.add_data_validation(validation)


def _print_setup(sheet: Worksheet, title: str) -> None:
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0  # as many pages down as needed
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.print_title_rows = "1:1"
    sheet.print_options.gridLines = True
    sheet.page_margins.left = sheet.page_margins.right = 0.4
    sheet.page_margins.top = sheet.page_margins.bottom = 0.6
    sheet.oddHeader.left.text = title.replace("&", "&&")
    sheet.oddFooter.center.text = "&P / &N"


def _data_sheet(sheet: Worksheet, rows: Iterable[SheetRow], title: str, fiscal_year: int) -> None:
    for index, column in enumerate(COLUMNS, start=1):
        cell = _put(sheet, 1, index, column.header)
        cell.font = _HEADER_FONT
        cell.fill = _HEADER_FILL
        cell.alignment = _HEADER_ALIGNMENT
        cell.border = _BORDER
        cell.protection = _LOCKED
        sheet.column_dimensions[get_column_letter(index)].width = column.width
    last_row = 1
    for number, row in enumerate(rows, start=2):
        last_row = number
        for index, (column, value) in enumerate(zip(COLUMNS, row.cells, strict=True), start=1):
            cell = _put(sheet, number, index, None if value == "" else value)
            cell.alignment = _CELL_ALIGNMENT
            cell.border = _BORDER
            cell.protection = _UNLOCKED if row.unlocked(column) else _LOCKED
            if column.level in (INFO, VERSION):
                cell.fill = _INFO_FILL
            elif row.is_evaluation:
                cell.fill = _EVALUATION_ROW_FILL
            if not row.editable:
                cell.font = _CLOSED_FONT
    last_column = get_column_letter(len(COLUMNS))
    last_key = max(i for i, column in enumerate(COLUMNS, start=1) if column.level == KEY)
    sheet.freeze_panes = f"{get_column_letter(last_key + 1)}2"
    sheet.auto_filter.ref = f"A1:{last_column}{last_row}"
    _validations(sheet, max(last_row, 2), datetime.date(fiscal_year + 1, 3, 31))
    # Protected without a password: a guard against slips, not a lock. Column widths, row
    # heights and the filter stay usable.
    protection = sheet.protection
    protection.sheet = True
    protection.formatColumns = False
    protection.formatRows = False
    protection.autoFilter = False
    protection.sort = True
    _print_setup(sheet, title)


def xlsx_bytes(
    title: str, rows: Iterable[SheetRow], *, heading: str = "", fiscal_year: int
) -> bytes:
    """The progress workbook: 記入方法 first, then the data sheet named after ``title``."""
    workbook = Workbook()
    instructions = workbook.active
    instructions.title = INSTRUCTIONS_TITLE
    data = workbook.create_sheet(sheet_title(title))
    _instructions_sheet(
        instructions,
        instruction_lines(heading=heading or title, data_sheet=data.title, fiscal_year=fiscal_year),
    )
    _data_sheet(data, rows, title, fiscal_year)
    workbook.properties.title = title
    workbook.properties.creator = "dxapi"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
