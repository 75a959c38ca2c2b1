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

from evaluations.models import Evaluation, KPIActual, Round
from initiatives.models import (
    KPI,
    ApiKey,
    ApiKeyRole,
    DepartmentRole,
    Initiative,
    Plan,
    SecretariatMembership,
)
from tests.helpers import PLAN_CODE, client_for, key_client, member, open_r7

__all__ = ["PLAN_CODE", "error_attrs", "evaluation", "initiative", "load_shipped_plan", "numbers"]


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


# Role users of the shipped plan and their API clients.


@pytest.fixture
def secretariat_user(plan, django_user_model):
    """A member of the plan's secretariat (事務局)."""
    user = django_user_model.objects.create_user(username="jimukyoku", password="unused")
    SecretariatMembership.objects.create(user=user, plan=plan)
    return user


@pytest.fixture
def secretariat(secretariat_user) -> APIClient:
    return client_for(secretariat_user)


@pytest.fixture
def editor_user(plan, django_user_model):
    """An editor of 企画振興部 (kikaku-shinko), the lead department of No. 89."""
    return member(django_user_model, "kikaku-editor", "kikaku-shinko", DepartmentRole.EDITOR)


@pytest.fixture
def editor(editor_user) -> APIClient:
    return client_for(editor_user)


@pytest.fixture
def viewer_user(plan, django_user_model):
    """A viewer of 企画振興部."""
    return member(django_user_model, "kikaku-viewer", "kikaku-shinko", DepartmentRole.VIEWER)


@pytest.fixture
def viewer(viewer_user) -> APIClient:
    return client_for(viewer_user)


@pytest.fixture
def other_editor_user(plan, django_user_model):
    """An editor of another department (建設部, kensetsu)."""
    return member(django_user_model, "kensetsu-editor", "kensetsu", DepartmentRole.EDITOR)


@pytest.fixture
def other_editor(other_editor_user) -> APIClient:
    return client_for(other_editor_user)


@pytest.fixture
def api_keys(plan) -> dict[str, str]:
    """Raw API keys of the plan: a reader (the public's reads), an editor of every
    department, an editor bound to 企画振興部 and the plan's secretariat."""
    kikaku = plan.departments.get(code="kikaku-shinko")
    _, read_key = ApiKey.objects.create_key(name="read", plan=plan, role=ApiKeyRole.READER)
    _, rw_key = ApiKey.objects.create_key(name="rw", plan=plan, role=ApiKeyRole.EDITOR)
    _, bound_key = ApiKey.objects.create_key(
        name="bound", plan=plan, department=kikaku, role=ApiKeyRole.EDITOR
    )
    _, secretariat_key = ApiKey.objects.create_key(
        name="secretariat", plan=plan, role=ApiKeyRole.SECRETARIAT
    )
    return {
        "read_key": read_key,
        "rw_key": rw_key,
        "bound_key": bound_key,
        "secretariat_key": secretariat_key,
    }


@pytest.fixture
def key_clients(api_keys) -> dict[str, APIClient]:
    return {name: key_client(key) for name, key in api_keys.items()}


# The R7 (FY2025) round, opened through the API, and what tests edit in it.


@pytest.fixture
def r7(plan, secretariat) -> Round:
    """R7 opened by the secretariat (the plan extended to R7): a draft for every initiative."""
    return open_r7(secretariat, plan)


@pytest.fixture
def draft(r7) -> Evaluation:
    """The R7 draft of No. 89 (企画振興部)."""
    return Evaluation.objects.get(round=r7, initiative__number=89)


@pytest.fixture
def kpi89(plan) -> KPI:
    return KPI.objects.get(initiative=initiative(89))


@pytest.fixture
def actual(draft, kpi89) -> KPIActual:
    """A KPI actual of the R7 draft of No. 89."""
    return KPIActual.objects.create(evaluation=draft, kpi=kpi89, value=10)


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
