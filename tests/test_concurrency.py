"""Optimistic concurrency (``dxapi/etags.py``, ``services._claim_version``): evaluations and
KPI actuals carry a strong ETag naming their version; their writes need ``If-Match`` with it
(428 without, 412 when stale or for another record, ``*`` skips the check), and a refused
write changes nothing, history included."""

import threading
from dataclasses import dataclass

import pytest
from django.core.cache import cache
from django.db import connection
from django.db.models import F
from django.urls import reverse

from evaluations.models import Evaluation, EvaluationStatus, KPIActual, Round
from initiatives.models import KPI, SecretariatMembership
from tests.conftest import initiative
from tests.helpers import client_for, if_match, url


def etag(record) -> str:
    return if_match(record)["HTTP_IF_MATCH"]


def actual_url(actual_: KPIActual) -> str:
    return reverse("kpi-actual-detail", args=[actual_.pk])


# Every write that needs If-Match: who makes it, how, and the state the evaluation must be in.


@dataclass(frozen=True)
class Operation:
    client: str
    method: str
    action: str | None  # an evaluation action, "detail", or None for the KPI actual
    body: dict | None
    status: str = EvaluationStatus.DRAFT
    ok: int = 200

    def record(self, draft_, actual_):
        return draft_ if self.action is not None else actual_

    def url(self, draft_, actual_) -> str:
        if self.action is None:
            return actual_url(actual_)
        return url(draft_, None if self.action == "detail" else self.action)

    def prepare(self, draft_) -> None:
        Evaluation.objects.filter(pk=draft_.pk).update(status=self.status, rating="B")


OPERATIONS = {
    "PATCH evaluation": Operation("editor", "patch", "detail", {"progress_text": "new"}),
    "PUT evaluation": Operation(
        "editor", "put", "detail", {"rating": "C", "progress_text": "new", "next_actions": "x"}
    ),
    "submit": Operation("editor", "post", "submit", None),
    "return": Operation(
        "secretariat", "post", "return", {"comment": "new"}, EvaluationStatus.SUBMITTED
    ),
    "approve": Operation("secretariat", "post", "approve", None, EvaluationStatus.SUBMITTED),
    "reopen": Operation(
        "secretariat", "post", "reopen", {"reason": "new"}, EvaluationStatus.APPROVED
    ),
    "PATCH KPI actual": Operation("editor", "patch", None, {"value": "11"}),
    "PUT KPI actual": Operation("editor", "put", None, {"value": "12", "as_of": "2026-03-31"}),
    "DELETE KPI actual": Operation("editor", "delete", None, None, ok=204),
}


PARAMS = [pytest.param(name, id=name) for name in OPERATIONS]


@pytest.fixture
def clients(editor, secretariat):
    return {"editor": editor, "secretariat": secretariat}


def send(clients_, operation: Operation, draft_, actual_, **headers):
    client = clients_[operation.client]
    target = operation.url(draft_, actual_)
    return getattr(client, operation.method)(target, operation.body, format="json", **headers)


def state(draft_, actual_) -> dict:
    """Everything a refused write must leave as it was: both rows and their history."""
    return {
        "evaluation": Evaluation.objects.filter(pk=draft_.pk).values().get(),
        "actuals": list(KPIActual.objects.filter(pk=actual_.pk).values()),
        "evaluation history": draft_.history.count(),
        "actual history": KPIActual.history.filter(id=actual_.pk).count(),
    }


def assert_error(response, status: int, code: str) -> None:
    assert response.status_code == status, response.content[:300]
    body = response.json()
    assert body["type"] == "client_error"
    assert [(error["code"], error["attr"]) for error in body["errors"]] == [(code, None)]
    assert body["errors"][0]["detail"]


# ETags


def test_evaluation_etag_on_get_and_after_each_write(draft, editor, secretariat):
    response = editor.get(url(draft))
    assert response.status_code == 200
    first = response["ETag"]
    assert first == f'"evaluation-{draft.pk}-v{draft.version}"'
    # Anyone who sees it gets the same tag.
    assert secretariat.get(url(draft))["ETag"] == first

    response = editor.patch(url(draft), {"progress_text": "a"}, format="json", HTTP_IF_MATCH=first)
    assert response.status_code == 200, response.json()
    second = response["ETag"]
    assert second == f'"evaluation-{draft.pk}-v{draft.version + 1}"'
    assert editor.get(url(draft))["ETag"] == second

    response = editor.put(url(draft), {"rating": "B"}, format="json", HTTP_IF_MATCH=second)
    assert response.status_code == 200, response.json()
    third = response["ETag"]
    assert len({first, second, third}) == 3
    assert editor.get(url(draft))["ETag"] == third

    # Workflow actions move the version too (states set directly: submit is tested below).
    Evaluation.objects.filter(pk=draft.pk).update(status=EvaluationStatus.SUBMITTED)
    response = secretariat.post(
        url(draft, "return"), {"comment": "c"}, format="json", HTTP_IF_MATCH=third
    )
    assert response.status_code == 200, response.json()
    fourth = response["ETag"]
    Evaluation.objects.filter(pk=draft.pk).update(status=EvaluationStatus.APPROVED)
    response = secretariat.post(
        url(draft, "reopen"), {"reason": "r"}, format="json", HTTP_IF_MATCH=fourth
    )
    assert response.status_code == 200, response.json()
    fifth = response["ETag"]
    assert len({first, second, third, fourth, fifth}) == 5
    draft.refresh_from_db()
    assert fifth == f'"evaluation-{draft.pk}-v{draft.version}"'
    assert draft.version == 5


def test_submit_and_approve_move_the_etag(draft, editor, secretariat):
    Evaluation.objects.filter(pk=draft.pk).update(rating="B")
    before = etag(draft)
    response = editor.post(url(draft, "submit"), HTTP_IF_MATCH=before)
    assert response.status_code == 200, response.json()
    submitted = response["ETag"]
    assert submitted != before
    response = secretariat.post(url(draft, "approve"), HTTP_IF_MATCH=submitted)
    assert response.status_code == 200, response.json()
    assert response["ETag"] not in (before, submitted)
    assert response["ETag"] == etag(draft)


def test_kpi_actual_etag_on_create_get_and_each_write(draft, editor):
    kpi = KPI.objects.get(initiative=initiative(89))
    response = editor.post(
        reverse("kpi-actual-list"),
        {"evaluation": draft.pk, "kpi": kpi.pk, "value": "1"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    actual_ = KPIActual.objects.get(pk=response.json()["id"])
    created = response["ETag"]
    assert created == f'"kpi-actual-{actual_.pk}-v1"'
    assert editor.get(actual_url(actual_))["ETag"] == created

    response = editor.patch(
        actual_url(actual_), {"value": "2"}, format="json", HTTP_IF_MATCH=created
    )
    assert response.status_code == 200, response.json()
    patched = response["ETag"]
    assert patched == f'"kpi-actual-{actual_.pk}-v2"'
    response = editor.put(actual_url(actual_), {"value": "3"}, format="json", HTTP_IF_MATCH=patched)
    assert response.status_code == 200, response.json()
    assert response["ETag"] == f'"kpi-actual-{actual_.pk}-v3"'
    assert editor.get(actual_url(actual_))["ETag"] == response["ETag"]
    # The old tags are stale now.
    response = editor.delete(actual_url(actual_), HTTP_IF_MATCH=patched)
    assert_error(response, 412, "precondition_failed")
    assert KPIActual.objects.filter(pk=actual_.pk).exists()
    response = editor.delete(actual_url(actual_), **if_match(actual_))
    assert response.status_code == 204
    assert not KPIActual.objects.filter(pk=actual_.pk).exists()


def test_etag_of_an_evaluation_does_not_fit_its_kpi_actual(draft, actual, editor):
    """Tags name the kind of record: an evaluation's tag with the same id and version is no
    tag of a KPI actual."""
    Evaluation.objects.filter(pk=draft.pk).update(version=actual.version)
    wrong = f'"evaluation-{actual.pk}-v{actual.version}"'
    response = editor.patch(actual_url(actual), {"value": "5"}, format="json", HTTP_IF_MATCH=wrong)
    assert_error(response, 412, "precondition_failed")


# 428, 412, *


@pytest.mark.parametrize("name", PARAMS)
def test_missing_if_match_is_428_and_changes_nothing(clients, draft, actual, name):
    operation = OPERATIONS[name]
    operation.prepare(draft)
    before = state(draft, actual)
    response = send(clients, operation, draft, actual)
    assert_error(response, 428, "precondition_required")
    assert state(draft, actual) == before
    # An empty header is no If-Match either.
    response = send(clients, operation, draft, actual, HTTP_IF_MATCH="")
    assert_error(response, 428, "precondition_required")
    assert state(draft, actual) == before


@pytest.mark.parametrize("name", PARAMS)
def test_stale_if_match_is_412_and_changes_nothing(clients, draft, actual, name):
    operation = OPERATIONS[name]
    operation.prepare(draft)
    record = operation.record(draft, actual)
    stale = if_match(record)
    # Someone else changes the record in between (a real write, so its history grows).
    if operation.action is not None:
        type(record).objects.filter(pk=record.pk).update(version=F("version") + 1)
    else:
        response = clients["editor"].patch(
            actual_url(actual), {"note": "someone else"}, format="json", **stale
        )
        assert response.status_code == 200, response.json()
    before = state(draft, actual)
    response = send(clients, operation, draft, actual, **stale)
    assert_error(response, 412, "precondition_failed")
    assert state(draft, actual) == before


@pytest.mark.parametrize("name", PARAMS)
@pytest.mark.parametrize(
    "tag",
    ["another record", "weak", "malformed", "future version"],
)
def test_if_match_not_naming_this_version_is_412(clients, draft, actual, name, tag):
    operation = OPERATIONS[name]
    operation.prepare(draft)
    record = operation.record(draft, actual)
    model = type(record)
    current = etag(record)
    if tag == "another record" and model is KPIActual:
        other = KPIActual.objects.create(
            evaluation=Evaluation.objects.get(round=draft.round, initiative__number=50),
            kpi=KPI.objects.filter(initiative=initiative(50)).first(),
            value=1,
        )
        header = etag(other)
    elif tag == "another record":
        header = etag(Evaluation.objects.get(round=draft.round, initiative__number=50))
    elif tag == "weak":
        header = "W/" + current
    elif tag == "malformed":
        header = current.strip('"')
    else:
        header = current.replace(f"-v{record.version}", f"-v{record.version + 1}")
    before = state(draft, actual)
    response = send(clients, operation, draft, actual, HTTP_IF_MATCH=header)
    assert_error(response, 412, "precondition_failed")
    assert state(draft, actual) == before


@pytest.mark.parametrize("name", PARAMS)
def test_if_match_star_skips_the_version_check(clients, draft, actual, name):
    operation = OPERATIONS[name]
    operation.prepare(draft)
    record = operation.record(draft, actual)
    type(record).objects.filter(pk=record.pk).update(version=F("version") + 5)
    version = type(record).objects.values_list("version", flat=True).get(pk=record.pk)
    response = send(clients, operation, draft, actual, HTTP_IF_MATCH="*")
    assert response.status_code == operation.ok, response.content[:300]
    if operation.ok == 204:
        assert not KPIActual.objects.filter(pk=actual.pk).exists()
        return
    record.refresh_from_db()
    assert record.version == version + 1
    assert response["ETag"] == etag(record)


@pytest.mark.parametrize("name", PARAMS)
def test_a_list_of_tags_matches_when_it_names_this_record(clients, draft, actual, name):
    operation = OPERATIONS[name]
    operation.prepare(draft)
    record = operation.record(draft, actual)
    header = f'"something-else-v1", {etag(record)}'
    response = send(clients, operation, draft, actual, HTTP_IF_MATCH=header)
    assert response.status_code == operation.ok, response.content[:300]


def test_two_writers_of_one_version_one_wins(draft, editor, secretariat):
    """Sequentially: the second writer with the same If-Match is refused and its text is not
    saved; after fetching the new ETag it succeeds."""
    tag = etag(draft)
    first = editor.patch(url(draft), {"progress_text": "editor"}, format="json", HTTP_IF_MATCH=tag)
    assert first.status_code == 200
    second = secretariat.patch(
        url(draft), {"progress_text": "secretariat"}, format="json", HTTP_IF_MATCH=tag
    )
    assert_error(second, 412, "precondition_failed")
    draft.refresh_from_db()
    assert draft.progress_text == "editor"
    retry = secretariat.patch(
        url(draft),
        {"progress_text": "secretariat"},
        format="json",
        HTTP_IF_MATCH=secretariat.get(url(draft))["ETag"],
    )
    assert retry.status_code == 200
    draft.refresh_from_db()
    assert (draft.progress_text, draft.version) == ("secretariat", 3)


def test_stale_submit_of_a_draft_is_412(draft, editor):
    Evaluation.objects.filter(pk=draft.pk).update(rating="B")
    stale = if_match(draft)
    Evaluation.objects.filter(pk=draft.pk).update(version=F("version") + 1)
    response = editor.post(url(draft, "submit"), **stale)
    assert_error(response, 412, "precondition_failed")
    draft.refresh_from_db()
    assert draft.status == EvaluationStatus.DRAFT


# Real concurrency: PostgreSQL only (SQLite serializes writers on the whole database).

THREADS = 16
ROUNDS = 4


def _concurrent_patches(pk: int, user, tag: str, texts: list[str]) -> list[tuple[str, int]]:
    barrier = threading.Barrier(len(texts))
    results: list[tuple[str, int]] = []
    lock = threading.Lock()

    def worker(text: str) -> None:
        try:
            client = client_for(user)
            barrier.wait(timeout=30)
            response = client.patch(
                reverse("evaluation-detail", args=[pk]),
                {"progress_text": text},
                format="json",
                HTTP_IF_MATCH=tag,
            )
            with lock:
                results.append((text, response.status_code))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(text,)) for text in texts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    return results


@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL row locks")
@pytest.mark.django_db(transaction=True)
def test_concurrent_patches_with_one_if_match_one_wins(plan, django_user_model):
    cache.clear()
    user = django_user_model.objects.create_user(username="racer", password="unused")
    SecretariatMembership.objects.create(user=user, plan=plan)
    # R6 is published: open it again so that its evaluations can be edited.
    evaluation = Evaluation.objects.get(
        round__plan=plan, round__fiscal_year=2024, initiative__number=89
    )
    Round.objects.filter(pk=evaluation.round_id).update(status="open")
    Evaluation.objects.filter(pk=evaluation.pk).update(status=EvaluationStatus.DRAFT)
    evaluation.refresh_from_db()
    start = evaluation.version
    history_before = evaluation.history.count()

    winners = []
    for round_number in range(ROUNDS):
        version = Evaluation.objects.values_list("version", flat=True).get(pk=evaluation.pk)
        tag = f'"evaluation-{evaluation.pk}-v{version}"'
        texts = [f"round {round_number} thread {n}" for n in range(THREADS)]
        results = _concurrent_patches(evaluation.pk, user, tag, texts)
        statuses = sorted(status for _, status in results)
        assert statuses == [200] + [412] * (THREADS - 1), statuses
        winner = next(text for text, status in results if status == 200)
        winners.append(winner)
        evaluation.refresh_from_db()
        assert evaluation.version == version + 1
        assert evaluation.progress_text == winner

    evaluation.refresh_from_db()
    assert evaluation.version == start + len(winners) == start + ROUNDS
    # No lost update: the history holds exactly the winners' texts, in order.
    new = evaluation.history.order_by("history_date", "history_id")[history_before:]
    assert [record.progress_text for record in new] == winners
    assert [record.version for record in new] == list(range(start + 1, start + ROUNDS + 1))
