"""The progress sheet a department fills in: its initiatives in a round, pre-filled.

One row per record: the initiative's evaluation row (指標番号 blank) followed by one row per
KPI with the year's target and the current actual. What a caller gets is scoped by the
selectors: the secretariat any department (or the whole plan), department members their
own departments.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db.models import Prefetch, QuerySet

from dxapi.numbers import plain_decimal
from evaluations import policy
from evaluations.exchange.columns import COLUMNS
from evaluations.exchange.sheets import csv_bytes, xlsx_bytes
from evaluations.models import Evaluation, KPIActual, Round
from evaluations.policy import evaluations_visible_to
from initiatives.access import Actor
from initiatives.fiscal_years import as_of_label, parse_as_of, short_label
from initiatives.models import KPI, Department, KPITarget, Plan

CHUNK_SIZE = 500
_KPI_ORDER = next(index for index, column in enumerate(COLUMNS) if column.key == "kpi_order")


def decimal_text(value: Decimal | None) -> str:
    """``Decimal("90.0000")`` -> ``"90"``; ``None`` -> ``""``."""
    return "" if value is None else plain_decimal(value)


def as_of_text(day: date | None) -> str:
    """A month-end date as its label (R7.3時点), any other date as ISO."""
    if day is None:
        return ""
    label = as_of_label(day)
    return label if parse_as_of(label) == day else day.isoformat()


def _number(value: Decimal | None) -> object:
    """A value for an XLSX cell: int or float where exact, else text."""
    if value is None:
        return None
    normal = value.normalize()
    if normal == normal.to_integral_value():
        return int(normal)
    as_float = float(normal)
    return as_float if Decimal(repr(as_float)) == normal else decimal_text(value)


@dataclass(frozen=True)
class TemplateScope:
    plan: Plan
    round: Round
    department: Department | None

    @property
    def title(self) -> str:
        name = self.department.name if self.department else self.plan.name
        return f"{short_label(self.round.fiscal_year)} {name}"

    @property
    def filename_stem(self) -> str:
        part = self.department.code if self.department else "all"
        return f"{self.plan.code}-{short_label(self.round.fiscal_year)}-{part}"


def template_scope(
    *, actor: Actor, plan: Plan, round_: Round, department: Department | None
) -> TemplateScope:
    """Check that the actor may have this template (403 otherwise)."""
    policy.require_may_get_template(actor, plan, department)
    return TemplateScope(plan, round_, department)


def _evaluations(actor: Actor, scope: TemplateScope) -> QuerySet[Evaluation]:
    fiscal_year = scope.round.fiscal_year
    evaluations = evaluations_visible_to(actor).filter(round=scope.round)
    if scope.department is not None:
        evaluations = evaluations.filter(initiative__responsibilities__department=scope.department)
    kpis = KPI.objects.order_by("order").prefetch_related(
        Prefetch("targets", queryset=KPITarget.objects.filter(fiscal_year=fiscal_year))
    )
    return (
        evaluations.select_related("initiative")
        .prefetch_related(
            Prefetch("initiative__kpis", queryset=kpis),
            Prefetch("kpi_actuals", queryset=KPIActual.objects.all()),
        )
        .order_by("initiative__number")
    )


def template_rows(actor: Actor, scope: TemplateScope, *, typed: bool) -> Iterator[list]:
    """The sheet's data rows in column order; ``typed`` gives numbers for XLSX cells."""
    for evaluation in _evaluations(actor, scope).iterator(chunk_size=CHUNK_SIZE):
        initiative = evaluation.initiative
        record = {
            "initiative_number": initiative.number,
            "title": initiative.title,
            "rating": evaluation.rating or "",
            "rating_reason": evaluation.rating_reason,
            "plan_text": evaluation.plan_text,
            "progress_text": evaluation.progress_text,
            "next_actions": evaluation.next_actions,
        }
        yield [record.get(column.key, "") for column in COLUMNS]
        actuals = {actual.kpi_id: actual for actual in evaluation.kpi_actuals.all()}
        for kpi in initiative.kpis.all():
            targets = list(kpi.targets.all())
            target = targets[0] if targets else None
            actual = actuals.get(kpi.pk)
            value = actual.value if actual else None
            if target is None:
                target_shown: object = ""
            elif target.value is None:
                target_shown = target.text
            else:
                target_shown = _number(target.value) if typed else decimal_text(target.value)
            record = {
                "initiative_number": initiative.number,
                "title": initiative.title,
                "kpi_order": kpi.order,
                "kpi_name": kpi.name,
                "unit": kpi.unit,
                "target": target_shown,
                "value": _number(value) if typed else decimal_text(value),
                "as_of": as_of_text(actual.as_of) if actual else "",
                "note": actual.note if actual else "",
            }
            yield [record.get(column.key, "") for column in COLUMNS]


def template_xlsx(actor: Actor, scope: TemplateScope) -> bytes:
    rows = list(template_rows(actor, scope, typed=True))
    evaluation_rows = {index for index, row in enumerate(rows, start=2) if row[_KPI_ORDER] == ""}
    return xlsx_bytes(scope.title, rows, evaluation_rows)


def template_csv(actor: Actor, scope: TemplateScope) -> bytes:
    header = [column.header for column in COLUMNS]
    return csv_bytes([header, *template_rows(actor, scope, typed=False)])
