"""Reads of initiatives as plain rows, for the representations built from them.

Lists of initiatives are the busiest reads: a page read with ``values()`` costs a fraction of
the model instances for its initiatives, departments and KPIs. A model instance is turned into
the same rows (``InitiativeRows.of``), so one function builds the representation of both.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import Model, QuerySet

from initiatives.models import KPI, Initiative, InitiativeDepartment

Row = dict[str, Any]

# Columns of an initiative with its policy area and pillar (one query, joined).
INITIATIVE_COLUMNS = (
    "id",
    "plan_id",
    "number",
    "title",
    "is_major",
    "relists_id",
    "policy_area_id",
    "policy_area__number",
    "policy_area__name",
    "policy_area__pillar_id",
    "policy_area__pillar__order",
    "policy_area__pillar__name",
    "policy_area__pillar__theme",
)
# Columns of a responsibility with its department, and of a KPI.
RESPONSIBILITY_COLUMNS = ("department_id", "department__code", "department__name", "is_lead")
KPI_COLUMNS = ("id", "order", "name", "unit", "is_cumulative")
# The model's order of responsibilities within an initiative (lead first, then the
# department's order), without the joins that its order of initiatives (by plan) would add.
RESPONSIBILITY_ORDER = ("initiative_id", "-is_lead", "department__order")


def _column(instance: Model, column: str) -> Any:
    """``instance``'s value of a ``values()`` column such as ``policy_area__pillar_id``."""
    value: Any = instance
    for name in column.split("__"):
        value = getattr(value, name)
    return value


def _columns(instance: Model, columns: Sequence[str]) -> Row:
    return {column: _column(instance, column) for column in columns}


def _listed(instance: Model, prefetched: str, relation: str) -> list:
    """A relation prefetched into a list (``initiative_queryset``), or else read from its
    manager."""
    items = getattr(instance, prefetched, None)
    return items if items is not None else list(getattr(instance, relation).all())


@dataclass
class InitiativeRows:
    """An initiative as plain rows: its ``INITIATIVE_COLUMNS``, its responsibilities
    (``RESPONSIBILITY_COLUMNS``, lead first) and its KPIs (``KPI_COLUMNS``, in order).

    Like a model instance, it carries what a viewset attaches (``visible_ratings``)."""

    initiative: Row
    departments: list[Row]
    kpis: list[Row]

    @property
    def pk(self) -> int:
        return self.initiative["id"]

    @classmethod
    def of(cls, initiative: Initiative) -> "InitiativeRows":
        """The rows of a model instance (with ``initiative_queryset``'s prefetches, or not)."""
        return cls(
            initiative=_columns(initiative, INITIATIVE_COLUMNS),
            departments=[
                _columns(item, RESPONSIBILITY_COLUMNS)
                for item in _listed(initiative, "responsibility_list", "responsibilities")
            ],
            kpis=[_columns(kpi, KPI_COLUMNS) for kpi in _listed(initiative, "kpi_list", "kpis")],
        )


class InitiativeValues:
    """``initiatives`` (filtered and ordered) for a paginator: a slice is read as rows of
    ``INITIATIVE_COLUMNS`` in one query, policy area and pillar joined; the count runs
    without those joins."""

    def __init__(self, initiatives: QuerySet[Initiative]) -> None:
        self._initiatives = initiatives
        self._rows = initiatives.prefetch_related(None).values(*INITIATIVE_COLUMNS)

    @property
    def ordered(self) -> bool:
        return self._rows.ordered

    def count(self) -> int:
        return self._initiatives.count()

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, index: slice) -> QuerySet:
        return self._rows[index]


def initiative_rows(rows: list[Row]) -> list[InitiativeRows]:
    """The initiatives of ``InitiativeValues`` rows with their responsibilities and KPIs,
    read as plain rows in two queries."""
    ids = [row["id"] for row in rows]
    departments: dict[int, list[Row]] = {initiative_id: [] for initiative_id in ids}
    for item in (
        InitiativeDepartment.objects.filter(initiative_id__in=ids)
        .order_by(*RESPONSIBILITY_ORDER)
        .values_list("initiative_id", *RESPONSIBILITY_COLUMNS)
    ):
        departments[item[0]].append(dict(zip(RESPONSIBILITY_COLUMNS, item[1:], strict=True)))
    kpis: dict[int, list[Row]] = {initiative_id: [] for initiative_id in ids}
    for item in (
        KPI.objects.filter(initiative_id__in=ids)
        .order_by("initiative_id", "order")
        .values_list("initiative_id", *KPI_COLUMNS)
    ):
        kpis[item[0]].append(dict(zip(KPI_COLUMNS, item[1:], strict=True)))
    return [
        InitiativeRows(initiative=row, departments=departments[row["id"]], kpis=kpis[row["id"]])
        for row in rows
    ]
