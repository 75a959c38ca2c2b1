"""API keys are resolved from a short-lived cache, and every change to a key clears it.

A cached key authenticates without a query; only the exact key that was verified is answered
from the cache; revocation, expiry, a role change and deletion take effect on the very next
request, through every door (the model, bulk updates, cascades, the admin).
"""

import datetime

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.test import APIRequestFactory

from initiatives.authentication import ApiKeyAuthentication
from initiatives.models import ApiKey, ApiKeyRole, Department, api_key_cache_name
from tests.helpers import PLAN_CODE, as_one_request, key_client

PLANS = "/api/v1/plans/"
ROUNDS = "/api/v1/rounds/"


def authenticate(key: str):
    """The authentication class on its own, as in a request: the key it names for the log
    and history is the request's only (``RequestIDMiddleware`` forgets it afterwards)."""
    request = APIRequestFactory().get(PLANS, HTTP_AUTHORIZATION=f"Api-Key {key}")
    with as_one_request():
        return ApiKeyAuthentication().authenticate(request)


@pytest.fixture
def reader(plan) -> tuple[ApiKey, str]:
    return ApiKey.objects.create_key(name="cached-reader", plan=plan, role=ApiKeyRole.READER)


def status_after_warming(key: str) -> int:
    """The status of a request with ``key``, once a first request has cached it."""
    client = key_client(key)
    assert client.get(PLANS).status_code == 200
    return client.get(PLANS).status_code


def test_a_cached_key_authenticates_without_a_query(reader) -> None:
    api_key, raw = reader
    with CaptureQueriesContext(connection) as first:
        assert authenticate(raw)[1].pk == api_key.pk
    with CaptureQueriesContext(connection) as second:
        _, cached = authenticate(raw)
    assert len(first.captured_queries) == 1
    assert len(second.captured_queries) == 0
    assert (cached.pk, cached.prefix, cached.plan_id, cached.role) == (
        api_key.pk,
        api_key.prefix,
        api_key.plan_id,
        ApiKeyRole.READER,
    )
    assert not cached._state.adding


def test_a_wrong_secret_for_a_cached_prefix_is_checked_and_refused(reader) -> None:
    _, raw = reader
    authenticate(raw)  # cached
    prefix, _, secret = raw.partition(".")
    wrong = f"{prefix}.{'x' * len(secret)}"
    with CaptureQueriesContext(connection) as context:
        response = key_client(wrong).get(PLANS)
    assert response.status_code == 401
    assert any("initiatives_apikey" in query["sql"] for query in context.captured_queries)
    assert key_client(raw).get(PLANS).status_code == 200  # the right key is still cached


@override_settings(API_KEY_CACHE_SECONDS=0)
def test_no_cache_when_the_setting_is_zero(reader) -> None:
    _, raw = reader
    authenticate(raw)
    with CaptureQueriesContext(connection) as context:
        authenticate(raw)
    assert len(context.captured_queries) == 1


def test_a_revoked_key_is_refused_on_the_very_next_request(reader) -> None:
    api_key, raw = reader
    client = key_client(raw)
    assert client.get(PLANS).status_code == 200
    api_key.revoked = True
    api_key.save()
    assert client.get(PLANS).status_code == 401


def test_an_expired_key_is_refused_on_the_next_request(reader) -> None:
    api_key, raw = reader
    client = key_client(raw)
    assert client.get(PLANS).status_code == 200
    api_key.expiry_date = timezone.now() - datetime.timedelta(minutes=1)
    api_key.save()
    assert client.get(PLANS).status_code == 401


def test_a_cached_key_that_expires_meanwhile_is_refused(reader) -> None:
    """The expiry date travels with the cached key and is checked on every request."""
    api_key, raw = reader
    soon = timezone.now() + datetime.timedelta(seconds=30)
    api_key.expiry_date = soon
    api_key.save()
    authenticate(raw)
    with (
        pytest.raises(AuthenticationFailed, match="expired"),
        override_now(soon + datetime.timedelta(seconds=1)),
    ):
        authenticate(raw)


class override_now:
    """``timezone.now`` moved to ``moment`` (the key's expiry compares with it)."""

    def __init__(self, moment: datetime.datetime) -> None:
        self.moment = moment

    def __enter__(self) -> None:
        self.patch = pytest.MonkeyPatch()
        self.patch.setattr(timezone, "now", lambda: self.moment)

    def __exit__(self, *exc) -> None:
        self.patch.undo()


def test_a_role_change_applies_on_the_next_request(plan, r7, reader) -> None:
    api_key, raw = reader
    client = key_client(raw)
    published = client.get(ROUNDS).json()["count"]
    api_key.role = ApiKeyRole.SECRETARIAT
    api_key.save()
    assert client.get(ROUNDS).json()["count"] == published + 1  # R7, not published


def test_a_deleted_key_is_refused_on_the_next_request(reader) -> None:
    api_key, raw = reader
    client = key_client(raw)
    assert client.get(PLANS).status_code == 200
    api_key.delete()
    assert client.get(PLANS).status_code == 401


def test_a_bulk_revocation_clears_the_cache(reader) -> None:
    api_key, raw = reader
    assert status_after_warming(raw) == 200
    ApiKey.objects.filter(pk=api_key.pk).update(revoked=True)
    assert key_client(raw).get(PLANS).status_code == 401


def test_a_key_deleted_with_its_department_is_refused(plan) -> None:
    department = Department.objects.create(plan=plan, code="temporary", name="臨時部", order=99)
    _, raw = ApiKey.objects.create_key(
        name="bound", plan=plan, department=department, role=ApiKeyRole.VIEWER
    )
    assert status_after_warming(raw) == 200
    department.delete()
    assert key_client(raw).get(PLANS).status_code == 401


def test_the_admin_revocation_clears_the_cache(plan, staff_user, reader) -> None:
    api_key, raw = reader
    assert status_after_warming(raw) == 200
    admin = Client()
    admin.force_login(staff_user)
    response = admin.post(
        reverse("admin:initiatives_apikey_change", args=[api_key.pk]),
        {
            "name": api_key.name,
            "plan": plan.pk,
            "role": ApiKeyRole.READER,
            "department": "",
            "expiry_date_0": "",
            "expiry_date_1": "",
            "revoked": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()
    assert ApiKey.objects.get(pk=api_key.pk).revoked
    assert key_client(raw).get(PLANS).status_code == 401


def test_a_key_made_by_the_command_works_at_once(plan, capsys) -> None:
    call_command("create_api_key", "--plan", PLAN_CODE, "--role", "reader")
    raw = capsys.readouterr().out.strip().splitlines()[-1]
    assert status_after_warming(raw) == 200


def test_a_change_leaves_a_marker_that_keeps_an_older_read_out_of_the_cache(reader) -> None:
    """A request that read the key before a change cannot put it back in the cache."""
    from django.core.cache import cache

    api_key, raw = reader
    authenticate(raw)
    api_key.name = "renamed"
    api_key.save()
    entry = api_key_cache_name(api_key.prefix)
    assert not isinstance(cache.get(entry), dict)
    authenticate(raw)  # answered by the database, not cached again
    assert not isinstance(cache.get(entry), dict)
    cache.delete(entry)  # the marker expired
    authenticate(raw)
    assert isinstance(cache.get(entry), dict)
