"""``generate_scale_data``: a tiny run creates the expected counts, and a second run skips."""

from io import StringIO

import pytest
from django.core.management import call_command

from evaluations.models import Evaluation, EvaluationStatus, KPIActual, Round, RoundStatus
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

ARGS = [
    "--plans",
    "2",
    "--initiatives-per-plan",
    "5",
    "--years",
    "2",
    "--kpis-per-initiative",
    "1",
    "--prefix",
    "tiny",
]


def generate(*args: str) -> str:
    out = StringIO()
    call_command("generate_scale_data", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_tiny_run_counts():
    generate(*ARGS)
    plans = Plan.objects.filter(code__startswith="tiny-")
    assert sorted(plans.values_list("code", flat=True)) == ["tiny-0001", "tiny-0002"]
    assert Department.objects.filter(plan__in=plans).count() == 2 * 10
    assert Pillar.objects.filter(plan__in=plans).count() == 2 * 4
    assert PolicyArea.objects.filter(pillar__plan__in=plans).count() == 2 * 20
    assert Initiative.objects.filter(plan__in=plans).count() == 2 * 5
    # A lead department each, a second one for initiatives 1 and 4 (every third).
    responsibilities = InitiativeDepartment.objects.filter(initiative__plan__in=plans)
    assert responsibilities.filter(is_lead=True).count() == 10
    assert responsibilities.count() == 2 * (5 + 2)
    assert KPI.objects.filter(initiative__plan__in=plans).count() == 2 * 5 * 1
    assert KPITarget.objects.filter(kpi__initiative__plan__in=plans).count() == 2 * 5 * 1 * 2
    rounds = Round.objects.filter(plan__in=plans)
    assert rounds.count() == 2 * 2
    assert set(rounds.values_list("status", flat=True)) == {RoundStatus.PUBLISHED}
    evaluations = Evaluation.objects.filter(round__plan__in=plans)
    assert evaluations.count() == 2 * 5 * 2
    assert set(evaluations.values_list("status", flat=True)) == {EvaluationStatus.APPROVED}
    assert not evaluations.filter(rating__isnull=True).exists()
    assert KPIActual.objects.filter(evaluation__round__plan__in=plans).count() == 2 * 5 * 2 * 1
    # Plans are usable through the ORM: the period leaves a spare year for a new round.
    plan = plans.get(code="tiny-0001")
    assert (plan.start_year, plan.end_year) == (2015, 2017)


@pytest.mark.django_db
def test_second_run_skips_existing_plans_and_adds_missing_ones():
    generate(*ARGS)
    assert "Nothing to generate" in generate(*ARGS)
    more = [*ARGS]
    more[1] = "3"
    output = generate(*more)
    assert "Skipping 2 existing" in output
    assert Plan.objects.filter(code__startswith="tiny-").count() == 3
    assert Evaluation.objects.filter(round__plan__code__startswith="tiny-").count() == 3 * 10
    # New rows get fresh keys after the generated ones (sequences moved on PostgreSQL).
    plan = Plan.objects.create(
        code="after-generation", organisation="x", name="x", start_year=2020, end_year=2021
    )
    assert plan.pk > Plan.objects.filter(code="tiny-0003").get().pk
