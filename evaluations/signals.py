"""Cache invalidation: any saved or deleted record that an aggregate reads retires the plan's
cached aggregates. (Bulk writes that bypass signals call ``aggregate_cache.invalidate``.)"""

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from evaluations import aggregate_cache
from evaluations.models import Evaluation, Round
from initiatives.models import Initiative, InitiativeDepartment, Pillar, PolicyArea


def _plan_id(instance) -> int | None:
    match instance:
        case Evaluation():
            return instance.round.plan_id
        case Round() | Initiative() | Pillar():
            return instance.plan_id
        case InitiativeDepartment():
            return instance.initiative.plan_id
        case PolicyArea():
            return instance.pillar.plan_id
    return None


@receiver(post_save, dispatch_uid="dxapi-aggregates-save")
@receiver(post_delete, dispatch_uid="dxapi-aggregates-delete")
def retire_cached_aggregates(sender, instance, **kwargs) -> None:
    if sender not in (Evaluation, Round, Initiative, InitiativeDepartment, Pillar, PolicyArea):
        return
    plan_id = _plan_id(instance)
    if plan_id is not None:
        # Now, for readers inside this transaction, and again after commit, so that a
        # reader who cached the old data in between is retired too.
        aggregate_cache.invalidate(plan_id)
        transaction.on_commit(lambda: aggregate_cache.invalidate(plan_id))
