"""The columns of the progress sheet, defined once: Japanese header, stable key, level.

A sheet has one row per record: the evaluation row of an initiative (指標番号 blank) and one
row per KPI. ``key`` columns identify the record, ``info`` columns are shown for reference
(the year's target, last year's actual and rating, the KPI-based suggestion) and ignored on
import, ``evaluation`` columns are written to the evaluation row only and ``kpi`` columns to
KPI rows only (a roadmap KPI's target is the year's milestone, and its ロードマップ cell says
whether it is ahead of it, on track or behind). ``version`` (版) holds the version of the
record the row was made from: a row whose record has changed since is a conflict, not an
overwrite.
"""

from dataclasses import dataclass

from evaluations.models import EVALUATION_EDITABLE_FIELDS, RoadmapStatus

KEY = "key"
INFO = "info"
EVALUATION = "evaluation"
KPI_LEVEL = "kpi"
VERSION = "version"
SCOPE = "scope"


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    level: str
    width: int = 14

    @property
    def imported(self) -> bool:
        return self.level in (EVALUATION, KPI_LEVEL)


COLUMNS: tuple[Column, ...] = (
    Column("initiative_number", "取組番号", KEY, 10),
    Column("title", "取組事項", INFO, 36),
    Column("kpi_order", "指標番号", KEY, 10),
    Column("kpi_name", "指標名", INFO, 30),
    Column("unit", "単位", INFO, 8),
    Column("target", "目標", INFO, 12),
    Column("previous_actual", "前年度実績", INFO, 12),
    Column("value", "実績値", KPI_LEVEL, 12),
    Column("as_of", "時点", KPI_LEVEL, 12),
    Column("note", "注記", KPI_LEVEL, 24),
    Column("roadmap_status", "ロードマップ", KPI_LEVEL, 16),
    Column("previous_rating", "前年度評価", INFO, 10),
    Column("suggestion", "評価の目安", INFO, 14),
    Column("rating", "評価", EVALUATION, 8),
    Column("rating_reason", "評価の理由", EVALUATION, 36),
    Column("plan_text", "計画", EVALUATION, 40),
    Column("progress_text", "進捗", EVALUATION, 40),
    Column("next_actions", "今後の取組等", EVALUATION, 40),
    Column("version", "版", VERSION, 6),
)

# Columns that the table exports carry and the importer reads too: a row of another fiscal
# year than the import's is skipped.
EXPORT_COLUMNS: tuple[Column, ...] = (Column("fiscal_year", "年度", SCOPE, 8),)

BY_KEY: dict[str, Column] = {column.key: column for column in (*COLUMNS, *EXPORT_COLUMNS)}
# An uploaded sheet may name a column by its Japanese header or by its stable key.
BY_NAME: dict[str, Column] = {
    **{column.header: column for column in BY_KEY.values()},
    **{column.key: column for column in BY_KEY.values()},
}
# Without 指標番号 every row is an evaluation row (as in the evaluations table export).
REQUIRED = ("initiative_number",)
EVALUATION_KEYS = tuple(column.key for column in COLUMNS if column.level == EVALUATION)
KPI_KEYS = tuple(column.key for column in COLUMNS if column.level == KPI_LEVEL)

# The evaluation columns are exactly the fields the services let an editor change.
assert set(EVALUATION_KEYS) == set(EVALUATION_EDITABLE_FIELDS), "columns and services disagree"


def header_of(key: str) -> str:
    return BY_KEY[key].header


# The ロードマップ cell: a roadmap KPI's status as written in the sheet (``ROADMAP_TEXT``), in
# short, or by its key.
ROADMAP_TEXT: dict[str, str] = {
    RoadmapStatus.AHEAD: "ロードマップより進んでいる",
    RoadmapStatus.ON_TRACK: "ロードマップのとおり",
    RoadmapStatus.BEHIND: "ロードマップより遅れている",
}
ROADMAP_CELLS: dict[str, str] = {
    **{text: status for status, text in ROADMAP_TEXT.items()},
    **{status.value: status for status in RoadmapStatus},
    "進んでいる": RoadmapStatus.AHEAD,
    "とおり": RoadmapStatus.ON_TRACK,
    "遅れている": RoadmapStatus.BEHIND,
}
