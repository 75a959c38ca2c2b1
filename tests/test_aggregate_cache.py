"""Cached aggregates: served from the cache until a write to the plan retires them, and
never shared between callers who see different data."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from evaluations import policy
from evaluations.models import Evaluation, Round, RoundStatus
from initiatives.access import ANONYMOUS, Actor
from initiatives.models import DepartmentMembership, SecretariatMembership
from tests.conftest import evaluation

R6 = "/api/v1/aggregates/ratings/?plan=akita-dx&fiscal_year=R6"
R7 = "/api/v1/aggregates/ratings/?plan=akita-dx&fiscal_year=R7"


def queries(client: APIClient, url: str) -> tuple[int, dict]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured), response.json()


def test_a_repeated_aggregate_is_served_from_the_cache(api) -> None:
    first, body = queries(api, R6)
    second, again = queries(api, R6)

    assert again == body
    assert second < first


def test_a_saved_evaluation_retires_the_cached_counts(api) -> None:
    assert api.get(R6).json()["overall"]["c"] == 5
    changed = evaluation(30, 2024)
    changed.rating = "B"
    changed.save()

    overall = api.get(R6).json()["overall"]
    assert (overall["b"], overall["c"]) == (69, 4)


def test_publishing_retires_the_public_counts(api, plan) -> None:
    plan.end_year = 2025
    plan.save()
    round_ = Round.objects.create(plan=plan, fiscal_year=2025, status=RoundStatus.CLOSED)
    Evaluation.objects.create(round=round_, initiative=plan.initiatives.get(number=1), rating="C")
    assert api.get(R7).json()["overall"]["total"] == 0

    round_.status = RoundStatus.PUBLISHED
    round_.save()

    assert api.get(R7).json()["overall"]["c"] == 1


def test_secretariat_and_public_results_are_kept_apart(api, plan, django_user_model) -> None:
    plan.end_year = 2025
    plan.save()
    round_ = Round.objects.create(plan=plan, fiscal_year=2025, status=RoundStatus.OPEN)
    Evaluation.objects.create(round=round_, initiative=plan.initiatives.get(number=1), rating="A")
    user = django_user_model.objects.create_user(username="jimukyoku")
    SecretariatMembership.objects.create(user=user, plan=plan)
    secretariat = APIClient()
    secretariat.force_authenticate(user)

    assert secretariat.get(R7).json()["overall"]["a"] == 1
    assert api.get(R7).json()["overall"]["a"] == 0
    assert secretariat.get(R7).json()["overall"]["a"] == 1


@pytest.mark.parametrize(
    ("actor", "expected"),
    [
        (ANONYMOUS, "public"),
        (Actor(secretariat_plan_ids=frozenset({1})), "all"),
        (Actor(is_superuser=True), "all"),
        (Actor(secretariat_plan_ids=frozenset({2})), "public"),
        (Actor(editor_department_ids=frozenset({5})), None),
        (Actor(viewer_department_ids=frozenset({5})), None),
    ],
)
def test_audiences(actor: Actor, expected: str | None) -> None:
    assert policy.audience(actor, 1) == expected


def test_department_members_are_not_served_from_the_cache(plan, django_user_model) -> None:
    user = django_user_model.objects.create_user(username="bukyoku")
    DepartmentMembership.objects.create(
        user=user, department=plan.departments.get(code="kikaku-shinko"), role="viewer"
    )
    member = APIClient()
    member.force_authenticate(user)

    first, _ = queries(member, R6)
    second, _ = queries(member, R6)
    assert second == first
