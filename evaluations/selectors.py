"""Reads of evaluations and KPI actuals, scoped to what the caller may see."""

from django.db.models import OuterRef, QuerySet, Subquery

from evaluations.models import Evaluation, KPIActual, Round, RoundStatus
from initiatives.access import User, is_secretariat
from initiatives.models import KPITarget


def rounds_visible_to(user: User | None) -> QuerySet[Round]:
    rounds = Round.objects.all()
    if is_secretariat(user):
        return rounds
    return rounds.filter(status=RoundStatus.PUBLISHED)


def evaluations_visible_to(user: User | None) -> QuerySet[Evaluation]:
    """The public sees published rounds only; the secretariat sees everything."""
    evaluations = Evaluation.objects.all()
    if is_secretariat(user):
        return evaluations
    return evaluations.filter(round__status=RoundStatus.PUBLISHED)


def kpi_actuals_visible_to(user: User | None) -> QuerySet[KPIActual]:
    return KPIActual.objects.filter(evaluation__in=evaluations_visible_to(user))


def with_target(actuals: QuerySet[KPIActual]) -> QuerySet[KPIActual]:
    """Annotate each actual with its KPI's target for the same fiscal year."""
    targets = KPITarget.objects.filter(
        kpi=OuterRef("kpi"), fiscal_year=OuterRef("evaluation__round__fiscal_year")
    )
    return actuals.annotate(
        target_value=Subquery(targets.values("value")[:1]),
        target_text=Subquery(targets.values("text")[:1]),
    )
