"""Shared fixtures: the shipped FY2024 report is loaded once into the test database.

``django_db_setup`` loads ``evaluations/data/akita-dx-progress-r6.json`` right after the test
database is created, so every test that uses ``db`` starts from the report's data and its own
changes are rolled back at the end of the test.
"""

from io import StringIO

import pytest
from django.core.cache import cache
from django.core.management import call_command
from rest_framework.test import APIClient

from evaluations.models import Evaluation
from initiatives.models import Initiative, Plan

PLAN_CODE = "akita-dx"


def load_shipped_plan() -> None:
    call_command("load_plan", stdout=StringIO())


@pytest.fixture(autouse=True)
def empty_cache():
    """Each test starts with an empty cache (cached aggregates, throttle counters)."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """The test database, with the shipped plan document loaded once per session."""
    with django_db_blocker.unblock():
        load_shipped_plan()


@pytest.fixture
def plan(db) -> Plan:
    """The shipped plan (秋田県DX推進計画).

    Reloaded if a test elsewhere flushed the database (``transactional_db``), so that the
    tests here never depend on the order they run in.
    """
    if not Plan.objects.filter(code=PLAN_CODE).exists():
        load_shipped_plan()
    return Plan.objects.get(code=PLAN_CODE)


@pytest.fixture
def api(plan) -> APIClient:
    """An anonymous client: it reads what the public reads."""
    return APIClient()


@pytest.fixture
def staff_user(plan, django_user_model):
    """The secretariat's account: it sees every round, published or not."""
    return django_user_model.objects.create_user(
        username="secretariat", password="unused", is_staff=True, is_superuser=True
    )


@pytest.fixture
def staff_api(staff_user) -> APIClient:
    client = APIClient()
    client.force_login(staff_user)
    return client


def initiative(number: int) -> Initiative:
    return Initiative.objects.get(plan__code=PLAN_CODE, number=number)


def evaluation(number: int, fiscal_year: int) -> Evaluation:
    return Evaluation.objects.get(
        round__plan__code=PLAN_CODE, round__fiscal_year=fiscal_year, initiative__number=number
    )


def numbers(results: list[dict]) -> list[int]:
    """The initiative numbers of a page of initiatives."""
    return [item["number"] for item in results]


def error_attrs(response) -> list[str | None]:
    """The fields named by an error response (drf-standardized-errors format)."""
    return [error["attr"] for error in response.json()["errors"]]
