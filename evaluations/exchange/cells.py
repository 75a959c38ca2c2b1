"""What a clerk types into a cell, read as Excel and Japanese input give it: full-width
digits, 「約120」, 「８５％」, 「1,234」, 「▲5」, 「令和8年3月末」. Each reader returns the value
or raises ``CellError`` with a message that says what was expected; readings that change
what was typed (an approximate value) come back with a notice. Numbers are bounded before
they are converted, so no cell can make the server compute for long."""

import calendar
import datetime
import re
import unicodedata
from decimal import Decimal, InvalidOperation

from django.utils.translation import gettext as _

from evaluations.exchange.safety import restore
from evaluations.models import Rating
from initiatives.fiscal_years import parse_as_of

MAX_NUMBER_TEXT = 40
MAX_EXPONENT = 30
CLEAR_MARKER = "（削除）"
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")
_PLAIN_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_WHOLE_NUMBER = re.compile(r"^\d{1,9}(\.0+)?$")
_APPROXIMATE = ("約", "およそ", "概ね")
_MINUS_SIGNS = str.maketrans({"−": "-", "▲": "-", "△": "-", "ー": "-", "‐": "-"})
_ISO_DATE = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})$")
_WAREKI = re.compile(r"^(令和|平成)(元|\d{1,2})年(\d{1,2})月(?:(末)|(\d{1,2})日)?(?:時点)?$")
_WESTERN_JA = re.compile(r"^(\d{4})年(\d{1,2})月(?:(末)|(\d{1,2})日)?(?:時点)?$")
_ERA_START = {"令和": 2018, "平成": 1988}


class CellError(ValueError):
    """A cell that cannot be read; the message says what was expected."""


def normal(text: str) -> str:
    """Full-width digits, letters and signs as ASCII (what Japanese input often gives), the
    apostrophe that exports put before formula-like text taken off, spaces trimmed."""
    return restore(unicodedata.normalize("NFKC", text).strip())


def is_clear(text: str) -> bool:
    """The cell asks to clear the stored value (「（削除）」, full-width or not)."""
    return normal(text) == normal(CLEAR_MARKER)


def text_value(text: str) -> str:
    """A text cell as the clerk wrote it; only the apostrophe exports put before
    formula-like text is taken off."""
    return "" if is_clear(text) else restore(text)


def parse_number(text: str, *, unit: str = "") -> tuple[Decimal, str | None]:
    """A number, and a notice when it was read from an approximate value. ``%`` is read when
    the KPI is counted in percent, and the KPI's own unit after the number is dropped."""
    cleaned = normal(text).translate(_MINUS_SIGNS).replace(" ", "")
    if len(cleaned) > MAX_NUMBER_TEXT:
        raise CellError(_("'%(text)s…' is too long for a number.") % {"text": text[:20]})
    notice = None
    for prefix in _APPROXIMATE:
        if cleaned.startswith(prefix):
            cleaned = cleaned.removeprefix(prefix)
            notice = _("'%(text)s' was read as the number %(number)s.")
    if cleaned.endswith("%"):
        if unit != "%":
            raise CellError(
                _("'%(text)s' is a percentage, but this KPI is counted in %(unit)s.")
                % {"text": text, "unit": unit or _("(no unit)")}
            )
        cleaned = cleaned.removesuffix("%")
    elif unit and cleaned.endswith(normal(unit)):
        cleaned = cleaned.removesuffix(normal(unit))
    if "," in cleaned:
        if not _THOUSANDS.match(cleaned):
            raise CellError(
                _("'%(text)s': write the number without commas, e.g. 1234.5.") % {"text": text}
            )
        cleaned = cleaned.replace(",", "")
    if not _PLAIN_NUMBER.match(cleaned):
        raise CellError(_("'%(text)s' is not a number.") % {"text": text})
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise CellError(_("'%(text)s' is not a number.") % {"text": text}) from None
    exponent = value.as_tuple().exponent
    if not value.is_finite() or not isinstance(exponent, int) or abs(exponent) > MAX_EXPONENT:
        raise CellError(_("'%(text)s' is out of range.") % {"text": text})
    if notice:
        notice = notice % {"text": text, "number": f"{value.normalize():f}"}
    return value, notice


def parse_whole_number(text: str, *, minimum: int = 1) -> int:
    """A whole number from ``minimum`` up, such as an initiative or KPI number or a 版."""
    cleaned = normal(text)
    if not _WHOLE_NUMBER.match(cleaned) or int(Decimal(cleaned)) < minimum:
        raise CellError(_("'%(text)s' is not a positive whole number.") % {"text": text})
    return int(Decimal(cleaned))


def _month_day(year: int, month: int, end: bool, day: str | None) -> datetime.date:
    if not 1 <= month <= 12:
        raise ValueError
    if day is None or end:
        return datetime.date(year, month, calendar.monthrange(year, month)[1])
    return datetime.date(year, month, int(day))


def parse_date(text: str) -> datetime.date:
    """2026-03-31, 2026/3/31, R8.3時点, R8.3末, 令和8年3月末, 令和8年3月31日, 2026年3月."""
    cleaned = normal(text)
    try:
        if match := _ISO_DATE.match(cleaned):
            year, month, day = (int(part) for part in match.groups())
            return datetime.date(year, month, day)
        if match := _WAREKI.match(cleaned):
            era, number, month, end, day = match.groups()
            year = _ERA_START[era] + (1 if number == "元" else int(number))
            return _month_day(year, int(month), bool(end), day)
        if match := _WESTERN_JA.match(cleaned):
            year, month, end, day = match.groups()
            return _month_day(int(year), int(month), bool(end), day)
        return parse_as_of(cleaned)
    except ValueError:
        raise CellError(
            _("'%(text)s' is not a date: write 2026-03-31, R8.3時点 or 令和8年3月末.")
            % {"text": text}
        ) from None


def parse_rating(text: str) -> str | None:
    cleaned = normal(text).upper().replace("ー", "-").replace("―", "-").replace("－", "-")
    if cleaned == "" or is_clear(text):
        return None
    if cleaned not in Rating.values:
        raise CellError(_("'%(text)s' is not a rating: use A, B, C or -.") % {"text": text})
    return cleaned
