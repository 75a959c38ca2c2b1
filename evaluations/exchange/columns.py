"""The columns of the progress sheet, defined once: Japanese header, stable key, level.

A sheet has one row per record: the evaluation row of an initiative (指標番号 blank) and one
row per KPI. ``key`` columns identify the record, ``info`` columns are shown for reference
and ignored on import, ``evaluation`` columns are written to the evaluation row only and
``kpi`` columns to KPI rows only.
"""

from dataclasses import dataclass

from evaluations.models import EVALUATION_EDITABLE_FIELDS

KEY = "key"
INFO = "info"
EVALUATION = "evaluation"
KPI_LEVEL = "kpi"


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
    Column("value", "実績値", KPI_LEVEL, 12),
    Column("as_of", "時点", KPI_LEVEL, 12),
    Column("note", "注記", KPI_LEVEL, 24),
    Column("rating", "評価", EVALUATION, 8),
    Column("rating_reason", "評価の理由", EVALUATION, 36),
    Column("plan_text", "計画", EVALUATION, 40),
    Column("progress_text", "進捗", EVALUATION, 40),
    Column("next_actions", "今後の取組等", EVALUATION, 40),
)

BY_KEY: dict[str, Column] = {column.key: column for column in COLUMNS}
# An uploaded sheet may name a column by its Japanese header or by its stable key.
BY_NAME: dict[str, Column] = {
    **{column.header: column for column in COLUMNS},
    **{column.key: column for column in COLUMNS},
}
REQUIRED = ("initiative_number", "kpi_order")
EVALUATION_KEYS = tuple(column.key for column in COLUMNS if column.level == EVALUATION)
KPI_KEYS = tuple(column.key for column in COLUMNS if column.level == KPI_LEVEL)

# The evaluation columns are exactly the fields the services let an editor change.
assert set(EVALUATION_KEYS) == set(EVALUATION_EDITABLE_FIELDS), "columns and services disagree"


def header_of(key: str) -> str:
    return BY_KEY[key].header
