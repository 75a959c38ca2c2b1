"""Cache invalidation: any saved or deleted record that an aggregate reads retires the plan's
cached aggregates. (Bulk writes that bypass signals call ``aggregate_cache.invalidate``.)"""

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from evaluations import aggregate_cache
from evaluations.models import Evaluation, Round
from initiatives.models import Initiative, InitiativeDepartment, Pillar, PolicyArea
from initiatives.services import plan_id_of

# What the aggregates read: evaluations and rounds, and the structure they are grouped by.
STRUCTURE = (Initiative, InitiativeDepartment, Pillar, PolicyArea)


@receiver(post_save, dispatch_uid="dxapi-aggregates-save")
@receiver(post_delete, dispatch_uid="dxapi-aggregates-delete")
def retire_cached_aggregates(sender, instance, **kwargs) -> None:
    if sender is Evaluation:
        plan_id = instance.round.plan_id
    elif sender is Round:
        plan_id = instance.plan_id
    elif sender in STRUCTURE:
        plan_id = plan_id_of(instance)
    else:
        return
    # Now, for readers inside this transaction, and again after commit, so that a reader who
    # cached the old data in between is retired too.
    aggregate_cache.invalidate(plan_id)
    transaction.on_commit(lambda: aggregate_cache.invalidate(plan_id))
