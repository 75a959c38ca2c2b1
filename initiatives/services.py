"""Writes of plan structure, for the secretariat of the plan (superusers for plans)."""

from collections.abc import Callable, Iterable
from typing import TypedDict

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.utils.translation import gettext as _
from simple_history.utils import bulk_create_with_history

from initiatives.access import Actor
from initiatives.fiscal_years import short_label
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


# Rules that records of other apps put on the structure (e.g. a KPI with actuals stays with
# its initiative, a plan's period covers its rounds): each gets the record about to be saved,
# and raises ``ValidationError``. Apps register theirs when they are ready.
StructureCheck = Callable[[models.Model], None]
_structure_checks: list[StructureCheck] = []


def register_structure_check(check: StructureCheck) -> StructureCheck:
    if check not in _structure_checks:
        _structure_checks.append(check)
    return check


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
    if not allowed:
        raise PermissionDenied(_("Only the plan's secretariat may change its structure."))


def require_may_create_structure(actor: Actor) -> None:
    """Refuse early (before validating a payload) callers who may change no structure."""
    if not actor.is_any_secretariat:
        raise PermissionDenied(_("Only a plan's secretariat may change structure."))


def _validate_kpi_baseline(instance: models.Model) -> None:
    """A KPI's baseline is a value of a fiscal year (both, or neither), not after the plan's
    last year: targets across the plan period are measured from it."""
    if not isinstance(instance, KPI):
        return
    value, year = instance.baseline_value, instance.baseline_year
    errors = {}
    if value is not None and year is None:
        errors["baseline_year"] = _("Give the baseline's fiscal year too.")
    elif year is not None and value is None:
        errors["baseline_value"] = _("Give the baseline value too.")
    elif year is not None:
        plan = instance.initiative.plan
        if year > plan.end_year:
            errors["baseline_year"] = _(
                "Must not be after the plan's last fiscal year (%(year)s)."
            ) % {"year": short_label(plan.end_year)}
    if errors:
        raise ValidationError(errors)


def _validate_same_plan(instance: models.Model) -> None:
    errors = {}
    if isinstance(instance, Initiative):
        if instance.policy_area.pillar.plan_id != instance.plan_id:
            errors["policy_area"] = _("The policy area belongs to another plan.")
        if instance.relists and instance.relists.plan_id != instance.plan_id:
            errors["relists"] = _("The re-listed initiative belongs to another plan.")
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
    _validate_kpi_baseline(instance)
    instance.full_clean()
    for check in _structure_checks:
        check(instance)
    instance._change_reason = "update" if instance.pk else "create"
    instance.save()
    if responsibilities is not None:
        _set_responsibilities(instance, list(responsibilities), user=actor.user)
    return instance


def _set_responsibilities(initiative: Initiative, items: list[Responsibility], *, user) -> None:
    errors = []
    if sum(bool(item.get("is_lead")) for item in items) > 1:
        errors.append(_("At most one department can be the lead."))
    if len({item["department"].pk for item in items}) != len(items):
        errors.append(_("A department is listed twice."))
    if any(item["department"].plan_id != initiative.plan_id for item in items):
        errors.append(_("A department belongs to another plan."))
    if errors:
        raise ValidationError({"departments": errors})
    initiative.responsibilities.all().delete()
    bulk_create_with_history(
        [
            InitiativeDepartment(
                initiative=initiative,
                department=item["department"],
                is_lead=item.get("is_lead", False),
            )
            for item in items
        ],
        InitiativeDepartment,
        default_user=user,
        default_change_reason="departments replaced",
    )


@transaction.atomic
def structure_delete(*, actor: Actor, instance: models.Model) -> None:
    """Delete a structural record; records still in use (e.g. by evaluations) are protected
    and the database refuses (``ProtectedError``, HTTP 409)."""
    if isinstance(instance, Plan):
        if not actor.is_superuser:
            raise PermissionDenied(_("Only a superuser may delete a plan."))
    else:
        require_may_change(actor, instance)
    instance._change_reason = "delete"
    instance.delete()
