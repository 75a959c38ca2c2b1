"""Login throttling: repeated failed logins of a user from one address are locked out."""

import pytest
from axes.models import AccessAttempt
from django.test import Client

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
