"""Reads of rounds, evaluations and KPI actuals, on querysets that ``policy`` has scoped to
what the actor may see."""

from collections.abc import Iterable

from django.db.models import F, IntegerField, OuterRef, Q, QuerySet, Subquery

from evaluations.models import EVALUATION_TEXT_FIELDS, RATED, Evaluation, KPIActual
from evaluations.rating_rules import (
    KPIAssessment,
    assess_kpi,
    kpi_ratio_sql,
    mean_ratio_sql,
    rating_sql,
    ratio_field,
    roadmap_score_sql,
    roadmap_sum_sql,
    suggest_rating,
)
from initiatives.access import Actor, may_see_who_changed
from initiatives.models import Initiative, InitiativeDepartment, KPITarget


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
    ).order_by()  # one at most (``kpi_target_unique_year``): no ordering, no joins for it
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
                roadmap_status=a.roadmap_status,
            )
            for a in actuals
        ),
        kpi_count=None if actuals else evaluation.initiative.kpis.count(),
    )


def with_suggestion(evaluations: QuerySet[Evaluation]) -> QuerySet[Evaluation]:
    """Annotate ``suggestion_ratio``, ``roadmap_score`` and ``suggested_rating``:
    ``suggestion_for`` in SQL (the rule's SQL is ``rating_rules``'), so that evaluations can be
    filtered by it."""
    with_year_target = KPIActual.objects.filter(
        evaluation=OuterRef("pk"), kpi__targets__fiscal_year=OuterRef("round__fiscal_year")
    )
    roadmap = (
        with_year_target.annotate(
            score=roadmap_score_sql(status="roadmap_status", target="kpi__targets__value")
        )
        .filter(score__isnull=False)
        .order_by()
        .values("evaluation")
        .annotate(total=roadmap_sum_sql("score"))
        .values("total")
    )
    ratios = (
        with_year_target.annotate(
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
        suggestion_ratio=Subquery(ratios, output_field=ratio_field()),
        roadmap_score=Subquery(roadmap, output_field=IntegerField()),
    ).annotate(suggested_rating=rating_sql("suggestion_ratio", roadmap="roadmap_score"))


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


# --- the evaluation list as plain rows ---------------------------------------------------------

# Columns of an evaluation of the list, its round and initiative joined. ``pk`` is the cursor
# pagination's position. The suggestion is not among them: see ``suggestions``.
EVALUATION_COLUMNS = (
    "pk",
    "round_id",
    "round__plan_id",
    "round__fiscal_year",
    "initiative_id",
    "initiative__number",
    "initiative__title",
    "initiative__plan_id",
    "rating",
    "status",
    "updated_at",
)
# What ``?expand=texts`` adds: the texts, the note and the review, reviewers joined.
TEXT_COLUMNS = (
    *EVALUATION_TEXT_FIELDS,
    "note",
    "review_comment",
    "submitted_by__username",
    "submitted_at",
    "approved_by__username",
    "approved_at",
)


def evaluation_values(evaluations: QuerySet[Evaluation], *, texts: bool) -> QuerySet:
    """``evaluations`` (scoped, filtered, ordered) read as rows of ``EVALUATION_COLUMNS`` (and
    ``TEXT_COLUMNS`` with ``texts``): plain columns only, so that the database filters, sorts
    and cuts the page without computing anything per row (a suggestion filter's annotation
    stays in the WHERE clause only). Model instances for a page would cost several times the
    rest of the request."""
    columns = (*EVALUATION_COLUMNS, *(TEXT_COLUMNS if texts else ()))
    return evaluations.select_related(None).prefetch_related(None).values(*columns)


def suggestions(evaluation_ids: Iterable[int]) -> dict[int, KPIAssessment]:
    """The suggestion of each of a page's evaluations, by the rule in ``Decimal`` over their KPI
    actuals with their targets, read in one query for the page's ids only. (The rule's SQL,
    ``with_suggestion``, as a column of the page would be a correlated subquery per row, and
    its rating repeats that subquery once per threshold.)"""
    ids = list(evaluation_ids)
    assessments: dict[int, list[KPIAssessment]] = {evaluation_id: [] for evaluation_id in ids}
    if ids:
        rows = (
            with_target(KPIActual.objects.filter(evaluation_id__in=ids))
            .order_by()
            .values_list(
                "evaluation_id",
                "value",
                "target_value",
                "target_text",
                "kpi__direction",
                "roadmap_status",
            )
        )
        for evaluation_id, value, target, target_text, direction, roadmap_status in rows:
            assessments[evaluation_id].append(
                assess_kpi(
                    actual=value,
                    target=target,
                    direction=direction,
                    target_text=target_text or "",
                    roadmap_status=roadmap_status,
                )
            )
    return {evaluation_id: suggest_rating(items) for evaluation_id, items in assessments.items()}


def responsible_departments(initiative_ids: Iterable[int]) -> dict[int, list[int]]:
    """``{initiative id: [department id, …]}`` in one query."""
    departments: dict[int, list[int]] = {}
    for initiative_id, department_id in InitiativeDepartment.objects.filter(
        initiative_id__in=set(initiative_ids)
    ).values_list("initiative_id", "department_id"):
        departments.setdefault(initiative_id, []).append(department_id)
    return departments
