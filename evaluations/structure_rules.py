"""What rounds, evaluations and KPI actuals require of the plan's structure, checked by
``initiatives.services.structure_save`` at every door (registered in ``apps.py``)."""

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext as _

from evaluations.models import Evaluation, KPIActual, Round
from initiatives.fiscal_years import short_label
from initiatives.models import KPI, Initiative, Plan


def _stored(instance: models.Model, field: str):
    return type(instance).objects.filter(pk=instance.pk).values_list(field, flat=True).first()


def kpi_stays_with_its_actuals(instance: models.Model) -> None:
    """A KPI that has actuals belongs to the initiative those actuals were reported for."""
    if not isinstance(instance, KPI) or instance.pk is None:
        return
    moved = _stored(instance, "initiative_id") != instance.initiative_id
    if moved and KPIActual.objects.filter(kpi=instance).exists():
        raise ValidationError(
            {"initiative": _("The KPI has actuals: it cannot move to another initiative.")}
        )


def initiative_stays_in_its_plan(instance: models.Model) -> None:
    """An initiative that has evaluations stays in the plan whose rounds evaluated it."""
    if not isinstance(instance, Initiative) or instance.pk is None:
        return
    moved = _stored(instance, "plan_id") != instance.plan_id
    if moved and Evaluation.objects.filter(initiative=instance).exists():
        raise ValidationError(
            {"plan": _("The initiative has evaluations: it cannot move to another plan.")}
        )


def plan_period_covers_rounds(instance: models.Model) -> None:
    """A plan's period keeps every fiscal year that has a round."""
    if not isinstance(instance, Plan) or instance.pk is None:
        return
    years = Round.objects.filter(plan_id=instance.pk).values_list("fiscal_year", flat=True)
    outside = sorted(year for year in years if not instance.covers(year))
    if outside:
        labels = ", ".join(short_label(year) for year in outside)
        field = "start_year" if outside[0] < instance.start_year else "end_year"
        message = _("The plan has rounds outside that period (%(years)s): keep them inside it.")
        raise ValidationError({field: message % {"years": labels}})


CHECKS = (kpi_stays_with_its_actuals, initiative_stays_in_its_plan, plan_period_covers_rounds)
