"""Reads of rounds, evaluations and KPI actuals, on querysets that ``policy`` has scoped to
what the actor may see."""

from django.db.models import F, OuterRef, Q, QuerySet, Subquery

from evaluations.models import RATED, Evaluation, KPIActual
from evaluations.rating_rules import (
    KPIAssessment,
    assess_kpi,
    kpi_ratio_sql,
    mean_ratio_sql,
    rating_sql,
    ratio_field,
    suggest_rating,
)
from initiatives.access import Actor, may_see_who_changed
from initiatives.models import Initiative, KPITarget


def ratings_by_initiative(
    evaluations: QuerySet[Evaluation], initiative_ids: list[int]
) -> dict[int, list[tuple[int, int, str | None]]]:
    """``{initiative id: [(evaluation id, fiscal year, rating), …]}`` oldest year first, as
    plain rows: lists of initiatives show every year's rating, and model instances for each
    would cost more than the rest of the page."""
    rows = (
        evaluations.filter(initiative_id__in=initiative_ids)
        .order_by("round__fiscal_year")
        .values_list("initiative_id", "id", "round__fiscal_year", "rating")
    )
    ratings: dict[int, list[tuple[int, int, str | None]]] = {}
    for initiative_id, evaluation_id, fiscal_year, rating in rows:
        ratings.setdefault(initiative_id, []).append((evaluation_id, fiscal_year, rating))
    return ratings


def with_target(actuals: QuerySet[KPIActual]) -> QuerySet[KPIActual]:
    """Annotate each actual with its KPI's target for the same fiscal year."""
    targets = KPITarget.objects.filter(
        kpi=OuterRef("kpi"), fiscal_year=OuterRef("evaluation__round__fiscal_year")
    )
    return actuals.annotate(
        target_value=Subquery(targets.values("value")[:1]),
        target_text=Subquery(targets.values("text")[:1]),
    )


def suggestion_for(evaluation: Evaluation) -> KPIAssessment:
    """The KPI-based suggested rating of one evaluation (see ``rating_rules``)."""
    actuals = list(with_target(evaluation.kpi_actuals.select_related("kpi")))
    return suggest_rating(
        (
            assess_kpi(
                actual=a.value,
                target=a.target_value,
                direction=a.kpi.direction,
                target_text=a.target_text or "",
            )
            for a in actuals
        ),
        kpi_count=None if actuals else evaluation.initiative.kpis.count(),
    )


def with_suggestion(evaluations: QuerySet[Evaluation]) -> QuerySet[Evaluation]:
    """Annotate ``suggestion_ratio`` and ``suggested_rating``: ``suggestion_for`` in SQL (the
    rule's SQL is ``rating_rules``'), so that evaluations can be filtered by it."""
    ratios = (
        KPIActual.objects.filter(
            evaluation=OuterRef("pk"), kpi__targets__fiscal_year=OuterRef("round__fiscal_year")
        )
        .annotate(
            ratio=kpi_ratio_sql(
                actual="value", target="kpi__targets__value", direction="kpi__direction"
            )
        )
        .filter(ratio__isnull=False)
        .order_by()  # KPIActual's ordering would join the evaluation, round and initiative
        .values("evaluation")
        .annotate(mean=mean_ratio_sql("ratio"))
        .values("mean")
    )
    return evaluations.annotate(
        suggestion_ratio=Subquery(ratios, output_field=ratio_field())
    ).annotate(suggested_rating=rating_sql("suggestion_ratio"))


def differing_from_suggestion(evaluations: QuerySet[Evaluation], differs: bool):
    annotated = with_suggestion(evaluations)
    comparable = Q(suggested_rating__isnull=False, rating__in=RATED)
    if differs:
        return annotated.filter(comparable & ~Q(rating=F("suggested_rating")))
    return annotated.exclude(comparable & ~Q(rating=F("suggested_rating")))


def may_see_who_changed_initiative(actor: Actor, initiative: Initiative) -> bool:
    """``access.may_see_who_changed`` for an initiative and its evaluations."""
    departments = initiative.departments.values_list("id", flat=True)  # read only if needed
    return may_see_who_changed(actor, plan_id=initiative.plan_id, department_ids=departments)
