"""Writes of plan structure, for the secretariat of the plan (superusers for plans)."""

from collections.abc import Iterable
from typing import TypedDict

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction

from initiatives.access import Actor
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


class Responsibility(TypedDict):
    department: Department
    is_lead: bool


def plan_id_of(instance: models.Model) -> int | None:
    """The plan a structural record belongs to."""
    match instance:
        case Plan():
            return instance.pk
        case Department() | Pillar() | Initiative():
            return instance.plan_id
        case PolicyArea():
            return instance.pillar.plan_id
        case InitiativeDepartment():
            return instance.initiative.plan_id
        case KPI():
            return instance.initiative.plan_id
        case KPITarget():
            return instance.kpi.initiative.plan_id
    raise TypeError(f"{type(instance).__name__} is not part of a plan's structure.")


def require_may_change(actor: Actor, instance: models.Model) -> None:
    if isinstance(instance, Plan) and instance.pk is None:
        allowed = actor.is_superuser
    else:
        allowed = actor.is_secretariat_of(plan_id_of(instance))
    if not allowed or actor.api_key is not None:
        raise PermissionDenied("Only the plan's secretariat may change its structure.")


def require_may_create_structure(actor: Actor) -> None:
    """Refuse early (before validating a payload) callers who may change no structure."""
    if not actor.is_any_secretariat or actor.api_key is not None:
        raise PermissionDenied("Only a plan's secretariat may change structure.")


def _validate_same_plan(instance: models.Model) -> None:
    errors = {}
    if isinstance(instance, Initiative):
        if instance.policy_area.pillar.plan_id != instance.plan_id:
            errors["policy_area"] = "The policy area belongs to another plan."
        if instance.relists and instance.relists.plan_id != instance.plan_id:
            errors["relists"] = "The re-listed initiative belongs to another plan."
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def structure_save(
    *,
    actor: Actor,
    instance: models.Model,
    responsibilities: Iterable[Responsibility] | None = None,
) -> models.Model:
    """Validate and save a structural record; for an initiative, optionally replace its
    responsible departments."""
    require_may_change(actor, instance)
    _validate_same_plan(instance)
    instance.full_clean()
    instance.save()
    if responsibilities is not None:
        _set_responsibilities(instance, list(responsibilities))
    return instance


def _set_responsibilities(initiative: Initiative, items: list[Responsibility]) -> None:
    errors = []
    if sum(item["is_lead"] for item in items) > 1:
        errors.append("At most one department can be the lead.")
    if len({item["department"].pk for item in items}) != len(items):
        errors.append("A department is listed twice.")
    if any(item["department"].plan_id != initiative.plan_id for item in items):
        errors.append("A department belongs to another plan.")
    if errors:
        raise ValidationError({"departments": errors})
    initiative.responsibilities.all().delete()
    InitiativeDepartment.objects.bulk_create(
        InitiativeDepartment(initiative=initiative, **item) for item in items
    )


@transaction.atomic
def structure_delete(*, actor: Actor, instance: models.Model) -> None:
    """Delete a structural record; records still in use (e.g. by evaluations) are protected
    and the database refuses (``ProtectedError``, HTTP 409)."""
    if isinstance(instance, Plan):
        if not actor.is_superuser:
            raise PermissionDenied("Only a superuser may delete a plan.")
    else:
        require_may_change(actor, instance)
    instance.delete()
