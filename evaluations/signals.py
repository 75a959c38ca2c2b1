"""Cache invalidation: any saved or deleted record that a cached public read shows (the
aggregates, the yearly report, the initiative list) gives its plan a new data version
(``aggregate_cache``). Bulk writes that bypass signals call ``aggregate_cache.invalidate``."""

from django.core.exceptions import ObjectDoesNotExist
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from evaluations import aggregate_cache
from evaluations.models import Evaluation, KPIActual, Round
from initiatives.models import (
    KPI,
    Department,
    Initiative,
    InitiativeDepartment,
    KPITarget,
    Pillar,
    Plan,
    PolicyArea,
)
from initiatives.services import plan_id_of

# The plan's structure: what the aggregates are grouped by, and what the report and the
# initiative list show beside the ratings.
STRUCTURE = (
    Plan,
    Department,
    Pillar,
    PolicyArea,
    Initiative,
    InitiativeDepartment,
    KPI,
    KPITarget,
)


def _plan_id(sender, instance) -> int | None:
    if sender is Evaluation:
        if Evaluation.round.is_cached(instance):
            return instance.round.plan_id
        return Round.objects.filter(pk=instance.round_id).values_list("plan_id", flat=True).first()
    if sender is Round:
        return instance.plan_id
    if sender is KPIActual:
        evaluation = instance.evaluation if KPIActual.evaluation.is_cached(instance) else None
        if evaluation is not None and Evaluation.round.is_cached(evaluation):
            return evaluation.round.plan_id
        return (
            Evaluation.objects.filter(pk=instance.evaluation_id)
            .values_list("round__plan_id", flat=True)
            .first()
        )
    if sender in STRUCTURE:
        return plan_id_of(instance)
    return None


@receiver(post_save, dispatch_uid="dxapi-aggregates-save")
@receiver(post_delete, dispatch_uid="dxapi-aggregates-delete")
def retire_cached_aggregates(sender, instance, **kwargs) -> None:
    try:
        plan_id = _plan_id(sender, instance)
    except ObjectDoesNotExist:
        # A record deleted with its parent (a plan's cascade): the parent's own signal
        # retires the plan.
        return
    if plan_id is None:
        return
    # Now, for readers inside this transaction, and again after commit, so that a reader who
    # cached the old data in between is retired too (and the version gets the write position
    # of the commit, for reads from replicas).
    aggregate_cache.invalidate(plan_id)
    transaction.on_commit(lambda: aggregate_cache.invalidate(plan_id))
