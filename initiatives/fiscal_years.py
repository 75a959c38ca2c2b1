"""Japanese fiscal years and their labels.

A fiscal year is stored as the Western year that starts it: fiscal year 2024 runs from
April 2024 to March 2025 and is labelled ``R6`` / ``令和6年度`` (Reiwa year = year - 2018).
As-of dates such as ``R7.3時点`` (end of March 2025) are stored as dates and labelled back.
"""

import calendar
import datetime
import re
from dataclasses import dataclass

from django.utils.translation import gettext as _

MIN_FISCAL_YEAR = 1989
MAX_FISCAL_YEAR = 2100


@dataclass(frozen=True)
class Era:
    letter: str
    name: str
    first_year: int  # the Western year that is year 1 of the era
    first_day: datetime.date
    last_year_number: int | None = None  # None while the era goes on

    def western_year(self, number: int) -> int:
        """Era year ``number`` as a Western year; ``ValueError`` if the era has no such year."""
        if number < 1 or (self.last_year_number and number > self.last_year_number):
            raise ValueError(
                _("%(era)s has no year %(number)s.") % {"era": self.name, "number": number}
            )
        return self.first_year + number - 1

    def year_of(self, western_year: int) -> int:
        return western_year - self.first_year + 1


REIWA = Era("R", "令和", 2019, datetime.date(2019, 5, 1))
HEISEI = Era("H", "平成", 1989, datetime.date(1989, 1, 8), last_year_number=31)
ERAS = (REIWA, HEISEI)
_ERA_BY_LETTER = {era.letter: era for era in ERAS}
_ERA_BY_NAME = {era.name: era for era in ERAS}


def era_of(western_year: int) -> Era:
    """The era a fiscal year is counted in: FY2019 is 令和元年度, years before are Heisei."""
    return REIWA if western_year >= REIWA.first_year else HEISEI


def era_of_date(day: datetime.date) -> Era:
    """The era of a calendar date: 2019-04-30 is 平成31年, 2019-05-01 令和元年."""
    return REIWA if day >= REIWA.first_day else HEISEI


def _era_number(era: Era, western_year: int, *, kanji: bool) -> str:
    number = era.year_of(western_year)
    return "元" if kanji and number == 1 else str(number)


def short_label(fiscal_year: int) -> str:
    """``2024`` -> ``"R6"``."""
    era = era_of(fiscal_year)
    return f"{era.letter}{era.year_of(fiscal_year)}"


def long_label(fiscal_year: int) -> str:
    """``2024`` -> ``"令和6年度"``."""
    era = era_of(fiscal_year)
    return f"{era.name}{_era_number(era, fiscal_year, kanji=True)}年度"


def year_fields(fiscal_year: int, prefix: str = "fiscal_year") -> dict[str, int | str]:
    """``{"fiscal_year": 2024, "fiscal_year_label": "R6", "fiscal_year_label_ja": "令和6年度"}``."""
    return {
        prefix: fiscal_year,
        f"{prefix}_label": short_label(fiscal_year),
        f"{prefix}_label_ja": long_label(fiscal_year),
    }


_WESTERN = re.compile(r"^(?:FY)?(\d{4})$", re.IGNORECASE)
_ERA_SHORT = re.compile(r"^([RH])(\d{1,2})$", re.IGNORECASE)
_ERA_LONG = re.compile(r"^(令和|平成)(\d{1,2}|元)年度?$")


def parse_fiscal_year(value: str | int) -> int:
    """Accept ``2024``, ``"FY2024"``, ``"R6"`` or ``"令和6年度"``; raise ``ValueError``."""
    text = str(value).strip()
    if match := _WESTERN.match(text):
        year = int(match.group(1))
    elif match := _ERA_SHORT.match(text):
        year = _ERA_BY_LETTER[match.group(1).upper()].western_year(int(match.group(2)))
    elif match := _ERA_LONG.match(text):
        number = 1 if match.group(2) == "元" else int(match.group(2))
        year = _ERA_BY_NAME[match.group(1)].western_year(number)
    else:
        raise ValueError(
            _("'%(text)s' is not a fiscal year: use a year such as 2024 or R6.") % {"text": text}
        )
    if not MIN_FISCAL_YEAR <= year <= MAX_FISCAL_YEAR:
        raise ValueError(
            _("Fiscal year %(year)s is outside %(min)s–%(max)s.")
            % {"year": year, "min": MIN_FISCAL_YEAR, "max": MAX_FISCAL_YEAR}
        )
    return year


def fiscal_year_of(day: datetime.date) -> int:
    """The fiscal year a calendar date falls in (April to March)."""
    return day.year if day.month >= 4 else day.year - 1


def fiscal_year_bounds(fiscal_year: int) -> tuple[datetime.date, datetime.date]:
    return datetime.date(fiscal_year, 4, 1), datetime.date(fiscal_year + 1, 3, 31)


def as_of_label(day: datetime.date) -> str:
    """``2025-03-31`` -> ``"R7.3時点"`` (calendar era year and month, as the reports write it)."""
    era = era_of_date(day)
    return f"{era.letter}{era.year_of(day.year)}.{day.month}時点"


_AS_OF = re.compile(r"^([RH])(\d{1,2})\.(\d{1,2})(?:末)?(?:時点)?$", re.IGNORECASE)


def parse_as_of(text: str) -> datetime.date:
    """``"R7.3時点"`` -> ``2025-03-31`` (the last day of that month); raise ``ValueError``."""
    match = _AS_OF.match(text.strip())
    if not match:
        raise ValueError(_("'%(text)s' is not an as-of label such as R7.3時点.") % {"text": text})
    era = _ERA_BY_LETTER[match.group(1).upper()]
    year = era.western_year(int(match.group(2)))
    month = int(match.group(3))
    if not 1 <= month <= 12:
        raise ValueError(_("'%(text)s' has no month %(month)s.") % {"text": text, "month": month})
    day = datetime.date(year, month, calendar.monthrange(year, month)[1])
    if era_of_date(day) != era and era_of_date(day.replace(day=1)) != era:
        raise ValueError(
            _("'%(text)s' is not a month of %(era)s.") % {"text": text, "era": era.name}
        )
    return day
