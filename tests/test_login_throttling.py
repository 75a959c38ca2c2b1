"""Login throttling: repeated failed logins of a user from one address are locked out."""

import pytest
from axes.models import AccessAttempt
from django.test import Client, override_settings

LOGIN = "/admin/login/"


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user(
        username="jimukyoku", password="correct horse battery", is_staff=True
    )


def login(client: Client, password: str):
    return client.post(LOGIN, {"username": "jimukyoku", "password": password, "next": "/admin/"})


@pytest.mark.django_db
def test_a_correct_login_works(staff) -> None:
    response = login(Client(), "correct horse battery")
    assert response.status_code == 302
    assert response["Location"] == "/admin/"


@pytest.mark.django_db
def test_five_failures_lock_the_user_out_even_with_the_right_password(staff) -> None:
    client = Client()
    for _ in range(4):
        assert login(client, "wrong").status_code == 200  # the form again, with an error
    assert login(client, "wrong").status_code == 429
    assert login(client, "correct horse battery").status_code == 429
    assert AccessAttempt.objects.get(username="jimukyoku").failures_since_start >= 5


@pytest.mark.django_db
def test_the_lockout_is_per_address(staff) -> None:
    for _ in range(5):
        login(Client(REMOTE_ADDR="10.0.0.1"), "wrong")
    assert login(Client(REMOTE_ADDR="10.0.0.2"), "correct horse battery").status_code == 302


# Behind the TLS proxy: axes takes the client's address from ``dxapi.client_address``.
PROXY = "10.0.0.1"


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user(
        username="alice", password="alice's good password", is_staff=True
    )


def alice_login(password: str, *, remote_addr: str = PROXY, forwarded_for: str | None = None):
    headers = {"REMOTE_ADDR": remote_addr}
    if forwarded_for is not None:
        headers["HTTP_X_FORWARDED_FOR"] = forwarded_for
    return Client(**headers).post(
        LOGIN, {"username": "alice", "password": password, "next": "/admin/"}
    )


@pytest.mark.django_db
@override_settings(TRUSTED_PROXIES=[PROXY])
def test_behind_the_proxy_a_stranger_locks_alice_out_from_the_strangers_address_only(
    alice,
) -> None:
    for _ in range(5):
        alice_login("wrong", forwarded_for="198.51.100.66")
    # The stranger's address is locked out for alice, even with the right password ...
    assert alice_login("alice's good password", forwarded_for="198.51.100.66").status_code == 429
    attempt = AccessAttempt.objects.get(username="alice")
    assert attempt.ip_address == "198.51.100.66"  # the client, not the proxy
    # ... but alice, another client behind the same proxy, logs in.
    assert alice_login("alice's good password", forwarded_for="203.0.113.10").status_code == 302


@pytest.mark.django_db
@override_settings(TRUSTED_PROXIES=[PROXY])
def test_a_forged_x_forwarded_for_does_not_escape_the_lockout(alice) -> None:
    # Not from the proxy: X-Forwarded-For is ignored, the peer is the address.
    for n in range(5):
        alice_login("wrong", remote_addr="192.0.2.8", forwarded_for=f"198.51.100.{n}")
    forged = alice_login("alice's good password", remote_addr="192.0.2.8", forwarded_for="1.2.3.4")
    assert forged.status_code == 429
    # Through the proxy, what the client writes in front of its address is not believed.
    for n in range(5):
        alice_login("wrong", forwarded_for=f"198.51.100.{n}, 198.51.100.77")
    assert (
        alice_login("alice's good password", forwarded_for="6.6.6.6, 198.51.100.77").status_code
        == 429
    )
    assert alice_login("alice's good password", forwarded_for="203.0.113.10").status_code == 302
