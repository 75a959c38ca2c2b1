"""The round lifecycle (open → closed → published, reopened by the secretariat) and the lock
order that keeps a published round's evaluations approved under concurrent transitions."""

import threading
from collections.abc import Callable

import pytest
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.urls import reverse

from evaluations import services
from evaluations.models import Evaluation, EvaluationStatus, Round, RoundStatus
from evaluations.policy import WorkflowConflict
from initiatives.access import actor_for_user
from initiatives.models import SecretariatMembership
from tests.conftest import PLAN_CODE
from tests.helpers import detail, if_match, url


def round_url(round_: Round, action: str) -> str:
    return reverse(f"round-{action}", args=[round_.pk])


def r6() -> Round:
    return Round.objects.get(plan__code=PLAN_CODE, fiscal_year=2024)


def public_r6_count(client) -> int:
    response = client.get(reverse("aggregate-ratings"), {"plan": PLAN_CODE, "fiscal_year": "R6"})
    return response.json()["overall"]["rated"] if response.status_code == 200 else -1


def test_a_closed_round_can_be_reopened_for_data_entry(r7, draft, secretariat, editor):
    assert secretariat.post(round_url(r7, "close")).json()["status"] == "closed"
    response = editor.patch(url(draft), {"rating": "B"}, format="json", **if_match(draft))
    assert response.status_code == 409
    assert "現在の状態: 締切" in detail(response)

    response = secretariat.post(round_url(r7, "reopen"), {}, format="json")
    assert response.status_code == 200
    assert response.json()["status"] == "open"
    response = editor.patch(url(draft), {"rating": "B"}, format="json", **if_match(draft))
    assert response.status_code == 200


def test_review_goes_on_in_a_closed_round(r7, draft, secretariat, editor):
    Evaluation.objects.filter(pk=draft.pk).update(status=EvaluationStatus.SUBMITTED)
    draft.refresh_from_db()
    assert secretariat.post(round_url(r7, "close")).status_code == 200
    response = secretariat.post(
        url(draft, "return"), {"comment": "数値を確認"}, format="json", **if_match(draft)
    )
    assert response.status_code == 200
    assert response.json()["status"] == "returned"


def test_publishing_needs_every_evaluation_approved_then_reopening_needs_a_reason(
    r7, secretariat, client
):
    Evaluation.objects.filter(round=r7).update(status=EvaluationStatus.APPROVED, rating="B")
    assert secretariat.post(round_url(r7, "close")).status_code == 200
    assert secretariat.post(round_url(r7, "publish")).json()["status"] == "published"
    assert client.get(reverse("evaluation-list"), {"fiscal_year": "R7"}).json()["count"] == 91

    response = secretariat.post(round_url(r7, "reopen"), {"reason": " "}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == "reason"
    r7.refresh_from_db()
    assert r7.status == RoundStatus.PUBLISHED

    response = secretariat.post(
        round_url(r7, "reopen"), {"reason": "No. 89 の実績値を訂正"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["status"] == "open"
    assert response.json()["published_at"] is None
    latest = r7.history.order_by("-history_id").first()
    assert latest.history_change_reason == "reopen: No. 89 の実績値を訂正"
    # The public no longer sees the round until it is published again.
    assert client.get(reverse("evaluation-list"), {"fiscal_year": "R7"}).json()["count"] == 0


def test_reopening_the_published_r6_hides_it_from_the_public_counts(secretariat, client):
    cache.clear()
    assert public_r6_count(client) == 91
    response = secretariat.post(round_url(r6(), "reopen"), {"reason": "訂正"}, format="json")
    assert response.status_code == 200
    assert public_r6_count(client) == 0
    assert secretariat.post(round_url(r6(), "close")).status_code == 200
    assert secretariat.post(round_url(r6(), "publish")).status_code == 200
    assert public_r6_count(client) == 91


@pytest.mark.parametrize("action", ["close", "reopen", "publish"])
@pytest.mark.parametrize("who", ["editor", "viewer", "other_editor"])
def test_only_the_secretariat_moves_a_round(r7, request, action, who):
    client = request.getfixturevalue(who)
    status_before = Round.objects.get(pk=r7.pk).status
    response = client.post(round_url(r7, action), {"reason": "x"}, format="json")
    assert response.status_code == 403
    assert Round.objects.get(pk=r7.pk).status == status_before


def test_anonymous_callers_move_no_round(r7, client):
    assert client.post(round_url(r7, "close")).status_code in (401, 403)
    assert Round.objects.get(pk=r7.pk).status == RoundStatus.OPEN


@pytest.mark.parametrize(
    ("start", "action"),
    [
        (RoundStatus.OPEN, "reopen"),
        (RoundStatus.OPEN, "publish"),
        (RoundStatus.CLOSED, "close"),
        (RoundStatus.PUBLISHED, "close"),
        (RoundStatus.PUBLISHED, "publish"),
    ],
)
def test_transitions_the_round_state_does_not_allow_are_409(r7, secretariat, start, action):
    Round.objects.filter(pk=r7.pk).update(status=start)
    body = {"reason": "x"} if action == "reopen" else None
    response = secretariat.post(round_url(r7, action), body, format="json")
    assert response.status_code == 409
    assert f"現在の状態: {start.label}" in detail(response)
    assert Round.objects.get(pk=r7.pk).status == start


# Concurrency: every transition locks the round, then its evaluations.

TRIALS = 12


def _race(*calls: Callable[[], object]) -> list[object]:
    """Run the calls at once, each in its own thread and database connection."""
    barrier = threading.Barrier(len(calls))
    outcomes: list[object] = [None] * len(calls)

    def run(index: int, call: Callable[[], object]) -> None:
        try:
            barrier.wait(timeout=30)
            outcomes[index] = call()
        except (WorkflowConflict, PermissionDenied) as error:
            outcomes[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=item) for item in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return outcomes


@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL row locks")
@pytest.mark.django_db(transaction=True)
def test_publish_racing_reopen_never_publishes_an_unapproved_evaluation(plan, django_user_model):
    """Publish and the reopening of one of its approved evaluations, fired together: the
    round ends published with every evaluation approved (the reopen refused), or not
    published with the evaluation returned (the publication refused), never both."""
    user = django_user_model.objects.create_user(username="racer", password="unused")
    SecretariatMembership.objects.create(user=user, plan=plan)
    plan.end_year = 2025
    plan.save()
    actor = actor_for_user(user)
    round_ = services.round_open(actor=actor, plan=plan, fiscal_year=2025)
    evaluations = list(Evaluation.objects.filter(round=round_).order_by("initiative__number"))
    outcomes = {"published": 0, "reopened": 0}
    for trial in range(TRIALS):
        Evaluation.objects.filter(round=round_).update(status=EvaluationStatus.APPROVED)
        Round.objects.filter(pk=round_.pk).update(status=RoundStatus.CLOSED)
        reopened = evaluations[trial]
        publish, reopen = _race(
            lambda: services.round_publish(actor=actor, round_=round_),
            lambda reopened=reopened: services.evaluation_reopen(
                actor=actor, evaluation=reopened, reason="race", expected_version=None
            ),
        )
        published = Round.objects.get(pk=round_.pk).status == RoundStatus.PUBLISHED
        unapproved = Evaluation.objects.filter(round=round_).exclude(
            status=EvaluationStatus.APPROVED
        )
        assert not (published and unapproved.exists()), f"trial {trial}: published {unapproved}"
        assert published != isinstance(publish, WorkflowConflict)
        assert published == isinstance(reopen, WorkflowConflict)
        outcomes["published" if published else "reopened"] += 1
    assert sum(outcomes.values()) == TRIALS
