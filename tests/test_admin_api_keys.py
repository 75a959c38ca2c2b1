"""API keys in the admin: the secretariat makes and revokes its own plan's keys from its
membership alone; nobody else sees or makes them; the raw key is shown once."""

import pytest

from initiatives.models import ApiKey, ApiKeyRole
from tests.admin_fixtures import admin_url, logged_in, other_plan  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db


def add_key(client, plan, **fields):
    data = {"name": "連携システム", "plan": plan.pk, "role": ApiKeyRole.SECRETARIAT, **fields}
    return client.post(admin_url(ApiKey, "add"), data)


def test_the_secretariat_makes_a_key_of_its_plan(plan, secretariat_user):
    client = logged_in(secretariat_user)
    assert client.get(admin_url(ApiKey, "changelist")).status_code == 200
    response = add_key(client, plan)
    assert response.status_code == 302
    key = ApiKey.objects.get(name="連携システム")
    assert (key.plan, key.role) == (plan, ApiKeyRole.SECRETARIAT)
    # The raw key is shown once, in the message after saving.
    messages = [str(m) for m in response.wsgi_request._messages]
    assert any(key.prefix in message for message in messages)


def test_the_secretariat_cannot_make_a_key_of_another_plan(plan, secretariat_user, other_plan):  # noqa: F811
    response = add_key(logged_in(secretariat_user), other_plan)
    assert response.status_code == 200  # the form again: that plan is not a choice
    assert not ApiKey.objects.filter(plan=other_plan).exists()


@pytest.mark.parametrize("who", ["editor_user", "viewer_user"])
def test_department_members_see_and_make_no_keys(plan, request, who):
    client = logged_in(request.getfixturevalue(who))
    assert client.get(admin_url(ApiKey, "changelist")).status_code == 403
    assert add_key(client, plan).status_code == 403
    assert not ApiKey.objects.exists()
