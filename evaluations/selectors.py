"""Reads of rounds, evaluations and KPI actuals, scoped to what the actor may see.

Everything that shows evaluation data (API lists and details, filters, aggregates, the
admin) goes through these functions, so the visibility rule lives here only.
"""

from django.db.models import (
    Avg,
    Case,
    CharField,
    DecimalField,
    F,
    Func,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)

from evaluations.models import RATED, Evaluation, KPIActual, Rating, Round, RoundStatus
from evaluations.rating_rules import B_THRESHOLD, KPIAssessment, assess_kpi, suggest_rating
from initiatives.access import Actor, may_see_who_changed
from initiatives.models import (
    Department,
    Initiative,
    InitiativeDepartment,
    KPIDirection,
    KPITarget,
)


def _limited_to_key_plan(queryset: QuerySet, actor: Actor, plan_field: str) -> QuerySet:
    if actor.plan_limit is not None:
        return queryset.filter(**{plan_field: actor.plan_limit})
    return queryset


def rounds_visible_to(actor: Actor) -> QuerySet[Round]:
    """Published rounds, plus every round of the plans the actor works in."""
    rounds = _limited_to_key_plan(Round.objects.all(), actor, "plan_id")
    if actor.is_superuser:
        return rounds
    working_plans = Department.objects.filter(id__in=actor.readable_department_ids).values(
        "plan_id"
    )
    return rounds.filter(
        Q(status=RoundStatus.PUBLISHED)
        | Q(plan_id__in=actor.secretariat_plan_ids)
        | Q(plan_id__in=working_plans)
    )


def evaluations_visible_to(actor: Actor) -> QuerySet[Evaluation]:
    """Published rounds for everyone; all of a plan for its secretariat; every state of
    their departments' initiatives for department members."""
    evaluations = _limited_to_key_plan(Evaluation.objects.all(), actor, "round__plan_id")
    if actor.is_superuser:
        return evaluations
    own_initiatives = InitiativeDepartment.objects.filter(
        department_id__in=actor.readable_department_ids
    ).values("initiative_id")
    return evaluations.filter(
        Q(round__status=RoundStatus.PUBLISHED)
        | Q(round__plan_id__in=actor.secretariat_plan_ids)
        | Q(initiative_id__in=own_initiatives)
    )


def evaluations_editable_by(actor: Actor) -> QuerySet[Evaluation]:
    """Evaluations the actor may change as an editor (state rules are the services')."""
    evaluations = _limited_to_key_plan(Evaluation.objects.all(), actor, "round__plan_id")
    if actor.is_superuser:
        return evaluations
    own_initiatives = InitiativeDepartment.objects.filter(
        department_id__in=actor.editor_department_ids
    ).values("initiative_id")
    return evaluations.filter(
        Q(round__plan_id__in=actor.secretariat_plan_ids) | Q(initiative_id__in=own_initiatives)
    )


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


def kpi_actuals_visible_to(actor: Actor) -> QuerySet[KPIActual]:
    return KPIActual.objects.filter(evaluation__in=evaluations_visible_to(actor))


def with_target(actuals: QuerySet[KPIActual]) -> QuerySet[KPIActual]:
    """Annotate each actual with its KPI's target for the same fiscal year."""
    targets = KPITarget.objects.filter(
        kpi=OuterRef("kpi"), fiscal_year=OuterRef("evaluation__round__fiscal_year")
    )
    return actuals.annotate(
        target_value=Subquery(targets.values("value")[:1]),
        target_text=Subquery(targets.values("text")[:1]),
    )


class Ratio(Func):
    """``numerator / denominator`` as a decimal: numeric division on PostgreSQL; SQLite
    would divide integers as integers, so it divides as REAL there."""

    template = "(%(expressions)s)"
    arg_joiner = " / "
    output_field = DecimalField()

    def as_sqlite(self, compiler, connection, **extra):
        return self.as_sql(
            compiler,
            connection,
            template="(CAST(%(expressions)s)",
            arg_joiner=" AS REAL) / ",
            **extra,
        )


def suggestion_for(evaluation: Evaluation) -> KPIAssessment:
    """The KPI-based suggested rating of one evaluation (see ``rating_rules``)."""
    actuals = with_target(evaluation.kpi_actuals.select_related("kpi"))
    return suggest_rating(
        assess_kpi(actual=a.value, target=a.target_value, direction=a.kpi.direction)
        for a in actuals
    )


def with_suggestion(evaluations: QuerySet[Evaluation]) -> QuerySet[Evaluation]:
    """Annotate ``suggested_rating``: the rule of ``rating_rules.suggest_rating`` in SQL, so
    that evaluations can be filtered by it. Exact on PostgreSQL (numeric); SQLite divides in
    floating point."""
    targets = KPITarget.objects.filter(
        kpi=OuterRef("kpi"), fiscal_year=OuterRef("evaluation__round__fiscal_year")
    ).values("value")[:1]
    ratios = (
        KPIActual.objects.filter(evaluation=OuterRef("pk"))
        .annotate(target=Subquery(targets, output_field=DecimalField()))
        .filter(target__isnull=False)
        .annotate(
            ratio=Case(
                When(
                    Q(kpi__direction=KPIDirection.LOWER) & Q(value__gt=0),
                    then=Ratio(F("target"), F("value")),
                ),
                When(
                    Q(kpi__direction=KPIDirection.HIGHER) & Q(target__gt=0),
                    then=Ratio(F("value"), F("target")),
                ),
                default=None,
                output_field=DecimalField(),
            )
        )
        .filter(ratio__isnull=False)
        .values("evaluation")
        .annotate(mean=Avg("ratio"))
        .values("mean")
    )
    return evaluations.annotate(
        suggestion_ratio=Subquery(ratios, output_field=DecimalField())
    ).annotate(
        suggested_rating=Case(
            When(suggestion_ratio__gt=1, then=Value(Rating.A)),
            When(suggestion_ratio__gte=B_THRESHOLD, then=Value(Rating.B)),
            When(suggestion_ratio__isnull=False, then=Value(Rating.C)),
            default=None,
            output_field=CharField(),
        )
    )


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
