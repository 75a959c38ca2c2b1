"""The progress sheet a department fills in: its initiatives in a round, pre-filled.

One row per record: the initiative's evaluation row (指標番号 blank) followed by one row per
KPI. Besides what is entered (rating, texts, actuals, a roadmap KPI's status) each row shows,
read-only, what helps to fill it in: the year's target (of the round's fiscal year: for a
roadmap KPI, the year's milestone), last year's actual and rating, the KPI-based suggestion,
and the version (版) of the record the row was made from. What a caller gets is scoped by
the selectors: the secretariat any department (or the whole plan), department members their
own departments; last year's round as the caller may see it.

All text is passed through ``safety.neutralise``, so no cell is ever a formula, in XLSX or
in CSV. The XLSX workbook itself (instructions, protection, validation, print setup) is
``workbook``'s.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db.models import Prefetch, QuerySet

from dxapi.numbers import plain_decimal
from evaluations import policy
from evaluations.exchange.columns import COLUMNS, EVALUATION_KEYS, ROADMAP_TEXT
from evaluations.exchange.safety import neutralise
from evaluations.exchange.sheets import csv_bytes
from evaluations.exchange.workbook import SheetRow, xlsx_bytes
from evaluations.models import Evaluation, KPIActual, Round
from evaluations.policy import evaluations_visible_to
from evaluations.rating_rules import KPIAssessment, assess_kpi, suggest_rating
from initiatives.access import Actor
from initiatives.fiscal_years import as_of_label, long_label, parse_as_of, short_label
from initiatives.models import KPI, Department, KPIDirection, KPITarget, Plan

CHUNK_SIZE = 500
# Columns holding a choice (A, B, C, -), written as they are: "-" is a rating, not a formula.
_CHOICE_KEYS = frozenset({"rating", "previous_rating"})


def normalized(value: Decimal | None) -> Decimal | None:
    """A number for a CSV cell: a ``Decimal`` without trailing zeros (``csv_lines`` writes it
    plainly, and as a number a negative value is not taken for a formula)."""
    return None if value is None else value.normalize()


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
    def heading(self) -> str:
        """``秋田県DX推進計画 令和7年度 企画振興部`` (全部局 for the whole plan)."""
        name = self.department.name if self.department else "全部局"
        return f"{self.plan.name} {long_label(self.round.fiscal_year)} {name}"

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
    """The round's evaluations in scope with, prefetched, everything a row shows: the KPIs
    with this year's target and last year's actual, the current actuals and last year's
    evaluation (the previous round as the actor may see it). A fixed number of queries per
    chunk, whatever the number of rows."""
    fiscal_year = scope.round.fiscal_year
    evaluations = evaluations_visible_to(actor).filter(round=scope.round)
    if scope.department is not None:
        evaluations = evaluations.filter(initiative__responsibilities__department=scope.department)
    previous = evaluations_visible_to(actor).filter(
        round__plan=scope.plan, round__fiscal_year=fiscal_year - 1
    )
    kpis = KPI.objects.order_by("order").prefetch_related(
        Prefetch("targets", queryset=KPITarget.objects.filter(fiscal_year=fiscal_year)),
        Prefetch(
            "actuals",
            queryset=KPIActual.objects.filter(evaluation__in=previous).order_by(),
            to_attr="previous_actuals",
        ),
    )
    return (
        evaluations.select_related("initiative", "round")
        .prefetch_related(
            Prefetch("initiative__kpis", queryset=kpis),
            Prefetch(
                "initiative__evaluations",
                queryset=previous.order_by(),
                to_attr="previous_evaluations",
            ),
            Prefetch("kpi_actuals", queryset=KPIActual.objects.order_by()),
        )
        .order_by("initiative__number")
    )


def _editable(evaluation: Evaluation) -> bool:
    """Whether the evaluation's state (and its round's) lets it be edited now."""
    try:
        policy.require_state(policy.Action.EDIT, evaluation)
    except policy.WorkflowConflict:
        return False
    return True


def _target_shown(target: KPITarget) -> Decimal | str:
    return target.text if target.value is None else target.value


def _target(kpi: KPI) -> KPITarget | None:
    targets = list(kpi.targets.all())  # prefetched: this year's only
    return targets[0] if targets else None


def suggestion_text(assessment: KPIAssessment) -> str:
    """``A（125.40%）``, ``B（ロードマップ）`` for a suggestion from the roadmap KPIs, or why
    there is no suggestion."""
    if assessment.rating is not None and assessment.roadmap_score is not None:
        return f"{assessment.rating.value}（ロードマップ）"
    if assessment.rating is None or assessment.ratio_display is None:
        return assessment.reason
    return f"{assessment.rating.value}（{assessment.ratio_display * 100:.2f}%）"


def _suggestion(kpis: dict[int, KPI], actuals: dict[int, KPIActual]) -> KPIAssessment:
    """``selectors.suggestion_for`` from prefetched rows (no query): each actual against its
    KPI's target of the same year."""
    assessments = []
    for actual in actuals.values():
        kpi = kpis.get(actual.kpi_id)
        target = _target(kpi) if kpi is not None else None
        assessments.append(
            assess_kpi(
                actual=actual.value,
                target=target.value if target is not None else None,
                direction=kpi.direction if kpi is not None else KPIDirection.HIGHER,
                target_text=target.text if target is not None else "",
                roadmap_status=actual.roadmap_status,
            )
        )
    return suggest_rating(assessments, kpi_count=len(kpis))


def _records(actor: Actor, scope: TemplateScope) -> Iterator[tuple[dict[str, object], bool, bool]]:
    """``(values by column key, is the evaluation row, may be edited)`` for every row, the
    values as stored (``Decimal`` numbers, raw text)."""
    for evaluation in _evaluations(actor, scope).iterator(chunk_size=CHUNK_SIZE):
        initiative = evaluation.initiative
        editable = _editable(evaluation)
        kpis = {kpi.pk: kpi for kpi in initiative.kpis.all()}
        actuals = {actual.kpi_id: actual for actual in evaluation.kpi_actuals.all()}
        previous = initiative.previous_evaluations[0] if initiative.previous_evaluations else None
        record: dict[str, object] = {
            "initiative_number": initiative.number,
            "title": initiative.title,
            "previous_rating": previous.rating if previous is not None else None,
            "suggestion": suggestion_text(_suggestion(kpis, actuals)),
            "version": evaluation.version,
            **{name: getattr(evaluation, name) for name in EVALUATION_KEYS},
        }
        yield record, True, editable
        for kpi in kpis.values():
            target = _target(kpi)
            actual = actuals.get(kpi.pk)
            before = kpi.previous_actuals[0] if kpi.previous_actuals else None
            record = {
                "initiative_number": initiative.number,
                "title": initiative.title,
                "kpi_order": kpi.order,
                "kpi_name": kpi.name,
                "unit": kpi.unit,
                "target": None if target is None else _target_shown(target),
                "previous_actual": before.value if before is not None else None,
                "value": actual.value if actual else None,
                "as_of": as_of_text(actual.as_of) if actual else "",
                "note": actual.note if actual else "",
                "roadmap_status": ROADMAP_TEXT.get(actual.roadmap_status or "") if actual else None,
                "version": actual.version if actual else None,
            }
            yield record, False, editable


def _cell(key: str, value: object, *, typed: bool) -> object:
    """A value as written to the sheet: text made inert (``safety.neutralise``), numbers as
    numbers for XLSX (``typed``) or as their plain text for CSV, nothing as ``""``."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return _number(value) if typed else normalized(value)
    if isinstance(value, str) and key not in _CHOICE_KEYS:
        return neutralise(value)
    return value


def _cells(record: dict[str, object], *, typed: bool) -> list:
    return [_cell(column.key, record.get(column.key), typed=typed) for column in COLUMNS]


def template_rows(actor: Actor, scope: TemplateScope, *, typed: bool) -> Iterator[list]:
    """The sheet's data rows in column order; ``typed`` gives numbers for XLSX cells."""
    for record, _, _ in _records(actor, scope):
        yield _cells(record, typed=typed)


def template_xlsx(actor: Actor, scope: TemplateScope) -> bytes:
    rows = (
        SheetRow(_cells(record, typed=True), is_evaluation, editable)
        for record, is_evaluation, editable in _records(actor, scope)
    )
    return xlsx_bytes(scope.title, rows, heading=scope.heading, fiscal_year=scope.round.fiscal_year)


def template_csv(actor: Actor, scope: TemplateScope) -> bytes:
    header = [column.header for column in COLUMNS]
    return csv_bytes([header, *template_rows(actor, scope, typed=False)])
