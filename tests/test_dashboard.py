"""The round's dashboard (``GET /api/v1/rounds/{id}/dashboard/`` and its admin page): per
department the evaluations by status, what is overdue and the last activity; per initiative
what is missing. Only the plan's secretariat (users and keys) and superusers see it; it runs
a fixed number of queries whatever the plan's size."""

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from evaluations.dashboard import round_dashboard
from evaluations.models import Evaluation, EvaluationStatus, KPIActual, Round, RoundStatus
from initiatives.models import (
    KPI,
    Department,
    Initiative,
    InitiativeDepartment,
    KPITarget,
)
from tests.admin_fixtures import admin_url, logged_in
from tests.conftest import evaluation, initiative
from tests.helpers import R7

# The queries of one dashboard request as the plan's secretariat: the actor's memberships
# (2), the round, then the dashboard's seven (``evaluations.dashboard``).
DASHBOARD_QUERIES = 10


def dashboard_url(round_: Round) -> str:
    return reverse("round-dashboard", args=[round_.pk])


def get(client, round_: Round) -> dict:
    response = client.get(dashboard_url(round_))
    assert response.status_code == 200, response.content[:300]
    return response.json()


def department(body: dict, code: str) -> dict:
    return next(item for item in body["departments"] if item["code"] == code)


def gaps(body: dict, number: int) -> dict | None:
    return next(
        (item for item in body["initiatives"] if item["initiative"]["number"] == number), None
    )


def test_a_new_round_shows_every_draft_and_what_is_missing(r7, secretariat):
    body = get(secretariat, r7)

    assert body["round"]["id"] == r7.pk
    assert body["counts"] == {
        "draft": 91,
        "submitted": 0,
        "returned": 0,
        "approved": 0,
        "total": 91,
    }
    assert body["overdue"] == {"submission": 0, "review": 0}
    kikaku = department(body, "kikaku-shinko")
    expected = InitiativeDepartment.objects.filter(department__code="kikaku-shinko").count()
    assert kikaku["counts"]["draft"] == kikaku["counts"]["total"] == expected > 0
    assert kikaku["name"] == "企画振興部"
    # Initiatives the report names no department for are counted apart.
    unassigned = department(body, "")
    assert unassigned["id"] is None
    assigned = Initiative.objects.filter(plan=r7.plan, responsibilities__isnull=False).distinct()
    assert unassigned["counts"]["total"] == 91 - assigned.count()
    # Every evaluation lacks a rating; the KPIs have no R7 target yet (the plan's targets
    # stop at R6): opening the round was allowed, the gap is shown.
    assert len(body["initiatives"]) == 91
    no_89 = gaps(body, 89)
    assert no_89["missing"] == ["rating", "target"]
    assert [kpi["order"] for kpi in no_89["kpis_without_target"]] == [1]
    assert no_89["kpis_without_actual"] == []
    assert no_89["overdue"] is None
    assert gaps(body, 7)["missing"] == ["rating"]  # no KPI: judged against the roadmap


def test_gaps_close_as_the_department_fills_the_evaluation_in(r7, draft, kpi89, secretariat):
    KPITarget.objects.create(kpi=kpi89, fiscal_year=R7, value=Decimal(1800))
    assert gaps(get(secretariat, r7), 89)["missing"] == ["rating", "actual"]

    actual = KPIActual.objects.create(evaluation=draft, kpi=kpi89, value=None, note="集計中")
    assert gaps(get(secretariat, r7), 89)["missing"] == ["rating", "actual"]  # still no value

    actual.value = Decimal(1032)  # 57 %: the suggestion is C
    actual.save()
    draft.rating = "A"
    draft.save()
    body = get(secretariat, r7)
    assert gaps(body, 89)["missing"] == ["reason"]
    assert gaps(body, 89)["kpis_without_actual"] == []

    draft.rating_reason = "　"  # a full-width space is no reason either (as on submit)
    draft.save()
    assert gaps(get(secretariat, r7), 89)["missing"] == ["reason"]

    draft.rating_reason = "新規参加者の伸びが見込まれるため"
    draft.save()
    assert gaps(get(secretariat, r7), 89) is None


def test_overdue_submissions_and_reviews_and_the_last_activity(r7, secretariat):
    today = timezone.localdate()
    Round.objects.filter(pk=r7.pk).update(
        department_due_date=today - timedelta(days=3), review_due_date=today
    )
    submitted = evaluation(89, R7)
    submitted.status = EvaluationStatus.SUBMITTED
    submitted.save()
    approved = evaluation(1, R7)
    approved.status = EvaluationStatus.APPROVED
    approved.save()

    body = get(secretariat, r7)

    assert body["counts"]["submitted"] == 1 and body["counts"]["approved"] == 1
    assert body["overdue"] == {"submission": 89, "review": 0}  # reviews are due today
    assert gaps(body, 2)["overdue"] == "submission"
    assert gaps(body, 89)["overdue"] is None
    kikaku = department(body, "kikaku-shinko")
    assert kikaku["overdue"]["submission"] == kikaku["counts"]["total"] - 2
    latest = max(
        Evaluation.objects.filter(
            round=r7, initiative__responsibilities__department__code="kikaku-shinko"
        ).values_list("updated_at", flat=True)
    )
    assert datetime.fromisoformat(kikaku["last_activity"]) == latest

    Round.objects.filter(pk=r7.pk).update(review_due_date=today - timedelta(days=1))
    body = get(secretariat, r7)
    assert body["overdue"] == {"submission": 89, "review": 1}
    assert gaps(body, 89)["overdue"] == "review"


def test_the_last_activity_counts_kpi_actuals(r7, draft, kpi89, secretariat):
    actual = KPIActual.objects.create(evaluation=draft, kpi=kpi89, value=5)
    later = timezone.now() + timedelta(hours=1)
    KPIActual.objects.filter(pk=actual.pk).update(updated_at=later)

    kikaku = department(get(secretariat, r7), "kikaku-shinko")

    assert datetime.fromisoformat(kikaku["last_activity"]) == later


def test_a_department_with_no_initiative_has_zero_counts(r7, secretariat):
    Department.objects.create(plan=r7.plan, code="new", name="新部局", order=99)

    new = department(get(secretariat, r7), "new")

    assert new["counts"]["total"] == 0 and new["last_activity"] is None


@pytest.mark.parametrize(
    ("client_name", "status"),
    [
        ("api", 404),
        ("viewer", 403),
        ("editor", 403),
        ("other_editor", 403),
        ("secretariat", 200),
        ("staff_api", 200),
    ],
)
def test_who_sees_the_dashboard_of_an_open_round(r7, request, client_name, status):
    client = request.getfixturevalue(client_name)
    assert client.get(dashboard_url(r7)).status_code == status


def test_the_public_may_see_a_published_round_but_not_its_dashboard(plan, api, key_clients):
    r6 = Round.objects.get(plan=plan, fiscal_year=2024)
    assert r6.status == RoundStatus.PUBLISHED
    assert api.get(reverse("round-detail", args=[r6.pk])).status_code == 200
    assert api.get(dashboard_url(r6)).status_code == 403
    assert key_clients["read_key"].get(dashboard_url(r6)).status_code == 403
    assert key_clients["secretariat_key"].get(dashboard_url(r6)).status_code == 200


def test_the_selector_takes_the_day_it_is_asked_for(r7):
    Round.objects.filter(pk=r7.pk).update(department_due_date=timezone.localdate())
    r7.refresh_from_db()
    due = r7.department_due_date
    assert round_dashboard(r7, today=due).overdue["submission"] == 0
    assert round_dashboard(r7, today=due + timedelta(days=1)).overdue["submission"] == 91


def grow(round_: Round, count: int) -> None:
    """``count`` more initiatives in the round's plan, each with a department, two KPIs (one
    with this year's target and an actual, one without a target) and a draft."""
    plan = round_.plan
    area = initiative(89).policy_area
    kikaku = Department.objects.get(plan=plan, code="kikaku-shinko")
    start = Initiative.objects.filter(plan=plan).order_by("-number").first().number + 1
    initiatives = Initiative.objects.bulk_create(
        Initiative(plan=plan, policy_area=area, number=start + n, title=f"追加{n}")
        for n in range(count)
    )
    InitiativeDepartment.objects.bulk_create(
        InitiativeDepartment(initiative=item, department=kikaku, is_lead=True)
        for item in initiatives
    )
    kpis = KPI.objects.bulk_create(
        KPI(initiative=item, order=order, name=f"指標{order}")
        for item in initiatives
        for order in (1, 2)
    )
    KPITarget.objects.bulk_create(
        KPITarget(kpi=kpi, fiscal_year=round_.fiscal_year, value=Decimal(10))
        for kpi in kpis
        if kpi.order == 1
    )
    evaluations = Evaluation.objects.bulk_create(
        Evaluation(round=round_, initiative=item, rating="A") for item in initiatives
    )
    by_initiative = {item.initiative_id: item for item in evaluations}
    KPIActual.objects.bulk_create(
        KPIActual(evaluation=by_initiative[kpi.initiative_id], kpi=kpi, value=Decimal(5))
        for kpi in kpis
        if kpi.order == 1
    )


def count_queries(client, round_: Round) -> tuple[int, dict]:
    with CaptureQueriesContext(connection) as context:
        body = get(client, round_)
    return len(context.captured_queries), body


def test_a_fixed_number_of_queries_at_two_plan_sizes(r7, secretariat):
    small, small_body = count_queries(secretariat, r7)
    grow(r7, 60)
    large, large_body = count_queries(secretariat, r7)

    assert small_body["counts"]["total"] == 91
    assert large_body["counts"]["total"] == 151
    added = gaps(large_body, 150)
    assert added["missing"] == ["reason", "target"]  # A against 50 %, and KPI 2 has no target
    assert small == large == DASHBOARD_QUERIES


# --- the admin page ---------------------------------------------------------------------------


def test_the_admin_dashboard_is_linked_from_the_round_and_shows_the_departments(
    r7, secretariat_user
):
    client = logged_in(secretariat_user)
    change = client.get(admin_url(Round, "change", r7.pk))
    assert change.status_code == 200
    page_url = admin_url(Round, "dashboard", r7.pk)
    assert page_url in change.content.decode()

    page = client.get(page_url)

    assert page.status_code == 200
    text = page.content.decode()
    assert "企画振興部" in text and "担当部局なし" in text  # initiatives without a department
    assert ">No.89</a>" in text and "今年度の目標のない指標" in text
    assert admin_url(Evaluation, "change", evaluation(89, R7).pk) in text


def test_the_admin_dashboard_is_the_secretariats(r7, editor_user):
    client = logged_in(editor_user)
    assert client.get(admin_url(Round, "dashboard", r7.pk)).status_code == 403
    change = client.get(admin_url(Round, "change", r7.pk))
    assert change.status_code == 200
    assert admin_url(Round, "dashboard", r7.pk) not in change.content.decode()
