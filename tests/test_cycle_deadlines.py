"""Deadlines of a round: the secretariat sets the department and review due dates when it
opens a round (``POST /api/v1/rounds/``) and changes them later (``PATCH`` on the round,
``services.round_update``); the review is not due before the departments' submissions, and
every change is kept in the round's history with its reason."""

from datetime import date

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from evaluations import services
from evaluations.models import Round
from initiatives.access import actor_for_user
from tests.admin_fixtures import admin_url, logged_in
from tests.conftest import error_attrs
from tests.helpers import R7, detail

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
ORDER_EN = "The review due date cannot be before the department due date (2025-06-30)."
ORDER_JA = "審査期限は部局の提出期限（2025-06-30）より前にできません。"


def round_url(round_: Round) -> str:
    return reverse("round-detail", args=[round_.pk])


def open_with(client, plan, headers=None, **dates):
    """R7 opened with ``dates``, the plan first extended to R7."""
    plan.end_year = R7
    plan.save(update_fields=["end_year"])
    return client.post(
        reverse("round-list"),
        {"plan": plan.pk, "fiscal_year": "R7", **dates},
        format="json",
        **(headers or {}),
    )


def test_the_secretariat_sets_the_due_dates_when_it_opens_a_round(plan, secretariat):
    response = open_with(
        secretariat, plan, department_due_date="2025-06-30", review_due_date="2025-07-31"
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["department_due_date"] == "2025-06-30"
    assert body["review_due_date"] == "2025-07-31"
    round_ = Round.objects.get(pk=body["id"])
    assert round_.department_due_date == date(2025, 6, 30)
    assert round_.review_due_date == date(2025, 7, 31)
    assert secretariat.get(round_url(round_)).json()["review_due_date"] == "2025-07-31"


def test_a_round_opens_without_due_dates(r7):
    assert (r7.department_due_date, r7.review_due_date) == (None, None)


@pytest.mark.parametrize(("headers", "message"), [({}, ORDER_JA), (EN, ORDER_EN)], ids=["ja", "en"])
def test_opening_with_the_review_due_before_the_departments_is_a_400(
    plan, secretariat, headers, message
):
    response = open_with(
        secretariat,
        plan,
        department_due_date="2025-06-30",
        review_due_date="2025-06-29",
        headers=headers,
    )

    assert response.status_code == 400, response.json()
    assert error_attrs(response) == ["review_due_date"]
    assert detail(response) == message
    assert not Round.objects.filter(plan=plan, fiscal_year=R7).exists()


def test_the_secretariat_changes_the_due_dates_and_the_history_keeps_each_change(
    r7, secretariat, secretariat_user
):
    first = secretariat.patch(
        round_url(r7),
        {"department_due_date": "2025-06-30", "review_due_date": "2025-07-31"},
        format="json",
    )
    assert first.status_code == 200, first.json()
    assert first.json()["department_due_date"] == "2025-06-30"
    # A partial change keeps the other date.
    second = secretariat.patch(round_url(r7), {"review_due_date": "2025-08-15"}, format="json")
    assert second.status_code == 200, second.json()
    assert second.json()["department_due_date"] == "2025-06-30"
    assert second.json()["review_due_date"] == "2025-08-15"
    # null clears a date.
    third = secretariat.patch(round_url(r7), {"department_due_date": None}, format="json")
    assert third.status_code == 200, third.json()

    r7.refresh_from_db()
    assert (r7.department_due_date, r7.review_due_date) == (None, date(2025, 8, 15))
    history = list(r7.history.order_by("-history_id")[:3])
    assert [h.history_change_reason for h in history] == [
        "due dates: department_due_date -",
        "due dates: review_due_date 2025-08-15",
        "due dates: department_due_date 2025-06-30, review_due_date 2025-07-31",
    ]
    assert [h.department_due_date for h in history] == [None, date(2025, 6, 30), date(2025, 6, 30)]
    assert all(h.history_user == secretariat_user for h in history)
    # The status and the workflow times did not move.
    assert r7.status == "open" and r7.closed_at is None


def test_an_unchanged_patch_writes_no_history(r7, secretariat):
    before = r7.history.count()
    response = secretariat.patch(round_url(r7), {"review_due_date": None}, format="json")
    assert response.status_code == 200
    assert r7.history.count() == before


@pytest.mark.parametrize(("headers", "message"), [({}, ORDER_JA), (EN, ORDER_EN)], ids=["ja", "en"])
def test_a_review_due_date_before_the_stored_department_due_date_is_a_400(
    r7, secretariat, headers, message
):
    Round.objects.filter(pk=r7.pk).update(department_due_date=date(2025, 6, 30))

    response = secretariat.patch(
        round_url(r7), {"review_due_date": "2025-06-01"}, format="json", **headers
    )

    assert response.status_code == 400
    assert error_attrs(response) == ["review_due_date"]
    assert detail(response) == message
    r7.refresh_from_db()
    assert r7.review_due_date is None


def test_the_same_day_for_both_is_allowed(r7, secretariat):
    response = secretariat.patch(
        round_url(r7),
        {"department_due_date": "2025-06-30", "review_due_date": "2025-06-30"},
        format="json",
    )
    assert response.status_code == 200, response.json()


@pytest.mark.parametrize(
    "body",
    [
        {"department_due_date": "30/06/2025"},
        {"review_due_date": 20250630},
        {"status": "closed"},
        {"fiscal_year": 2026},
    ],
)
def test_other_fields_and_malformed_dates_are_refused_naming_the_field(r7, secretariat, body):
    response = secretariat.patch(round_url(r7), body, format="json")

    assert response.status_code == 400
    assert error_attrs(response) == list(body)
    r7.refresh_from_db()
    assert (r7.status, r7.fiscal_year, r7.department_due_date) == ("open", R7, None)


def test_put_is_not_offered(r7, secretariat):
    response = secretariat.put(round_url(r7), {"review_due_date": "2025-07-31"}, format="json")
    assert response.status_code == 405


@pytest.mark.parametrize(
    ("client_name", "status"),
    [
        ("api", 401),
        ("viewer", 403),
        ("editor", 403),
        ("other_editor", 403),
        ("secretariat", 200),
        ("staff_api", 200),
    ],
)
def test_only_the_plans_secretariat_changes_the_due_dates(r7, request, client_name, status):
    client = request.getfixturevalue(client_name)
    response = client.patch(round_url(r7), {"review_due_date": "2025-07-31"}, format="json")

    assert response.status_code == status
    r7.refresh_from_db()
    assert (r7.review_due_date is not None) == (status == 200)


def test_the_service_refuses_others_and_checks_the_order(r7, editor_user, secretariat_user):
    with pytest.raises(PermissionDenied):
        services.round_update(
            actor=actor_for_user(editor_user), round_=r7, data={"review_due_date": date.today()}
        )
    with pytest.raises(ValidationError) as error:
        services.round_update(
            actor=actor_for_user(secretariat_user),
            round_=r7,
            data={"department_due_date": date(2025, 7, 1), "review_due_date": date(2025, 6, 1)},
        )
    assert list(error.value.message_dict) == ["review_due_date"]
    with pytest.raises(ValidationError) as error:
        services.round_update(
            actor=actor_for_user(secretariat_user), round_=r7, data={"status": "closed"}
        )
    assert list(error.value.message_dict) == ["status"]


def test_due_dates_can_change_after_the_round_is_closed(r7, secretariat):
    assert secretariat.post(reverse("round-close", args=[r7.pk])).status_code == 200

    response = secretariat.patch(round_url(r7), {"review_due_date": "2025-09-30"}, format="json")

    assert response.status_code == 200
    assert response.json()["status"] == "closed"


def test_the_round_admin_shows_the_due_dates(r7, secretariat_user):
    Round.objects.filter(pk=r7.pk).update(
        department_due_date=date(2025, 6, 30), review_due_date=date(2025, 7, 31)
    )
    page = logged_in(secretariat_user).get(admin_url(Round, "change", r7.pk))
    text = page.content.decode()
    assert page.status_code == 200
    assert "部局の提出期限" in text and "審査期限" in text
    assert "2025年6月30日" in text and "2025年7月31日" in text
