"""The yearly progress report of a plan, built from the data in the structure of the source:
a summary of rating counts, a table by pillar and policy area with the previous year beside,
and the details of the major initiatives."""

from dataclasses import dataclass
from typing import Any

from django.db.models import OuterRef, Prefetch, QuerySet, Subquery

from evaluations import aggregates
from evaluations.models import Evaluation, KPIActual, Round
from evaluations.selectors import with_target
from initiatives.fiscal_years import as_of_label, long_label, short_label, year_fields
from initiatives.models import Initiative, InitiativeDepartment, Pillar, Plan


@dataclass(frozen=True)
class ReportScope:
    plan: Plan
    round: Round
    evaluations: QuerySet[Evaluation]  # what the reader may see


def _rating_in(scope: ReportScope, fiscal_year: int) -> Subquery:
    return Subquery(
        scope.evaluations.filter(
            round__plan=scope.plan, round__fiscal_year=fiscal_year, initiative=OuterRef("pk")
        ).values("rating")[:1]
    )


def report_table(scope: ReportScope) -> list[dict[str, Any]]:
    """Pillars → policy areas → initiatives with last year's and this year's rating."""
    year = scope.round.fiscal_year
    initiatives = (
        Initiative.objects.filter(plan=scope.plan)
        .annotate(previous=_rating_in(scope, year - 1), current=_rating_in(scope, year))
        .order_by("number")
    )
    pillars = Pillar.objects.filter(plan=scope.plan).prefetch_related(
        "policy_areas",
        Prefetch("policy_areas__initiatives", queryset=initiatives, to_attr="rows"),
    )
    return [
        {
            "order": pillar.order,
            "name": pillar.name,
            "theme": pillar.theme,
            "policy_areas": [
                {
                    "number": area.number,
                    "name": area.name,
                    "initiatives": [
                        {
                            "number": item.number,
                            "title": item.title,
                            "previous_rating": item.previous,
                            "rating": item.current,
                        }
                        for item in area.rows
                    ],
                }
                for area in pillar.policy_areas.all()
            ],
        }
        for pillar in pillars
    ]


def report_details(scope: ReportScope) -> list[dict[str, Any]]:
    """The major initiatives in the order of the table, with their departments, plan, KPIs,
    progress, rating and next actions."""
    evaluations = (
        scope.evaluations.filter(round=scope.round, initiative__is_major=True)
        .select_related("initiative__policy_area__pillar")
        .prefetch_related(
            Prefetch(
                "initiative__responsibilities",
                queryset=InitiativeDepartment.objects.select_related("department").order_by(
                    "-is_lead", "department__order"
                ),
            ),
            Prefetch(
                "kpi_actuals",
                queryset=with_target(KPIActual.objects.select_related("kpi")).order_by(
                    "kpi__order"
                ),
            ),
        )
        .order_by(
            "initiative__policy_area__pillar__order",
            "initiative__policy_area__number",
            "initiative__number",
        )
    )
    return [
        {
            "number": evaluation.initiative.number,
            "title": evaluation.initiative.title,
            "pillar": evaluation.initiative.policy_area.pillar.name,
            "policy_area_number": evaluation.initiative.policy_area.number,
            "policy_area": evaluation.initiative.policy_area.name,
            "departments": [
                r.department.name for r in evaluation.initiative.responsibilities.all()
            ],
            "plan_text": evaluation.plan_text,
            "progress_text": evaluation.progress_text,
            "rating": evaluation.rating,
            "next_actions": evaluation.next_actions,
            "kpis": [
                {
                    "name": actual.kpi.name,
                    "unit": actual.kpi.unit,
                    "is_cumulative": actual.kpi.is_cumulative,
                    "target_value": actual.target_value,
                    "target_text": actual.target_text or "",
                    "actual_value": actual.value,
                    "as_of": actual.as_of,
                    "as_of_label": as_of_label(actual.as_of) if actual.as_of else None,
                }
                for actual in evaluation.kpi_actuals.all()
            ],
        }
        for evaluation in evaluations
    ]


def yearly_report(scope: ReportScope) -> dict[str, Any]:
    year = scope.round.fiscal_year
    summary = aggregates.rating_counts(scope.evaluations, plan=scope.plan, fiscal_year=year)
    by_pillar = aggregates.rating_counts(
        scope.evaluations, plan=scope.plan, fiscal_year=year, group_by=aggregates.GroupBy.PILLAR
    )["groups"]
    previous_by_pillar = aggregates.rating_counts(
        scope.evaluations,
        plan=scope.plan,
        fiscal_year=year - 1,
        group_by=aggregates.GroupBy.PILLAR,
    )["groups"]
    return {
        "plan": {"id": scope.plan.pk, "code": scope.plan.code, "name": scope.plan.name},
        "organisation": scope.plan.organisation,
        **year_fields(year),
        "previous_fiscal_year_label": short_label(year - 1),
        "title": f"{scope.plan.name}の進捗状況について（{long_label(year)}）",
        "round_status": scope.round.status,
        "summary": summary["overall"],
        "by_pillar": by_pillar,
        "previous_by_pillar": previous_by_pillar,
        "table": report_table(scope),
        "details": report_details(scope),
    }
