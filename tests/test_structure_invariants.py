"""Rules that evaluations put on the structure (``evaluations/structure_rules.py``), checked
by ``initiatives.services.structure_save`` at every door: a clear 400 naming the field, and
nothing saved."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from evaluations.models import KPIActual
from initiatives import services
from initiatives.access import actor_for_user
from initiatives.models import KPI, InitiativeDepartment, Pillar, Plan, PolicyArea
from tests.conftest import initiative


def test_a_kpi_with_actuals_stays_with_its_initiative(plan, secretariat):
    kpi = KPI.objects.get(initiative=initiative(45), order=1)
    assert KPIActual.objects.filter(kpi=kpi).exists()
    response = secretariat.patch(
        reverse("kpi-detail", args=[kpi.pk]), {"initiative": initiative(46).pk}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == "initiative"
    kpi.refresh_from_db()
    assert kpi.initiative == initiative(45)


def test_a_kpi_without_actuals_may_move(plan, secretariat):
    kpi = KPI.objects.create(initiative=initiative(45), order=9, name="新しい指標")
    response = secretariat.patch(
        reverse("kpi-detail", args=[kpi.pk]), {"initiative": initiative(46).pk}, format="json"
    )
    assert response.status_code == 200
    kpi.refresh_from_db()
    assert kpi.initiative == initiative(46)


@pytest.mark.parametrize(
    ("change", "field"), [({"end_year": 2023}, "end_year"), ({"start_year": 2024}, "start_year")]
)
def test_a_plans_period_keeps_its_rounds(plan, secretariat, change, field):
    response = secretariat.patch(reverse("plan-detail", args=[plan.pk]), change, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == field
    plan.refresh_from_db()
    assert (plan.start_year, plan.end_year) == (2023, 2024)


def test_widening_the_period_lets_the_secretariat_open_r7(plan, secretariat):
    """README's cycle: the shipped plan reports R5 and R6; R7 needs a wider period first."""
    rounds = reverse("round-list")
    response = secretariat.post(rounds, {"plan": plan.pk, "fiscal_year": "R7"}, format="json")
    assert response.status_code == 400
    assert "end_year" in response.json()["errors"][0]["detail"]
    response = secretariat.patch(
        reverse("plan-detail", args=[plan.pk]), {"end_year": 2025}, format="json"
    )
    assert response.status_code == 200
    response = secretariat.post(rounds, {"plan": plan.pk, "fiscal_year": "R7"}, format="json")
    assert response.status_code == 201


def test_an_initiative_with_evaluations_stays_in_its_plan(plan, staff_user):
    other = Plan.objects.create(
        code="other", organisation="他県", name="他の計画", start_year=2024, end_year=2025
    )
    pillar = Pillar.objects.create(plan=other, order=1, name="行政")
    moved = initiative(1)
    moved.plan, moved.policy_area = other, PolicyArea.objects.create(pillar=pillar, number=1)
    with pytest.raises(ValidationError) as raised:
        services.structure_save(actor=actor_for_user(staff_user), instance=moved)
    assert "plan" in raised.value.message_dict


def test_departments_without_is_lead_default_to_not_lead(plan, secretariat):
    """A nested write may omit what has a default (PATCH used to answer 500)."""
    number3 = initiative(3)
    departments = list(plan.departments.filter(code__in=["suito", "kikaku-shinko"]))
    response = secretariat.patch(
        reverse("initiative-detail", args=[number3.pk]),
        {"departments": [{"department": d.pk} for d in departments]},
        format="json",
    )
    assert response.status_code == 200, response.json()
    leads = InitiativeDepartment.objects.filter(initiative=number3).values_list(
        "is_lead", flat=True
    )
    assert sorted(leads) == [False, False]


def test_replacing_departments_records_deletions_and_creations(plan, secretariat_user):
    number3 = initiative(3)
    history = InitiativeDepartment.history.filter(initiative_id=number3.pk)
    before = {kind: history.filter(history_type=kind).count() for kind in "+-"}
    kensetsu = plan.departments.get(code="kensetsu")
    services.structure_save(
        actor=actor_for_user(secretariat_user),
        instance=number3,
        responsibilities=[{"department": kensetsu, "is_lead": True}],
    )
    created = history.filter(history_type="+").order_by("-history_id").first()
    assert history.filter(history_type="+").count() == before["+"] + 1
    assert history.filter(history_type="-").count() == before["-"] + 2
    assert created.department_id == kensetsu.pk
    assert created.history_user == secretariat_user
    assert created.history_change_reason == "departments replaced"
