"""The outbox (``evaluations.events``): one event per change, written in the change's
transaction by the services and the sheet import; and the event feed
(``GET /api/v1/events/``): its cursor, filters, strict parameters and who sees what."""

from decimal import Decimal

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from evaluations import events, services
from evaluations.models import Evaluation, EvaluationStatus, Event, KPIActual, Round, RoundStatus
from initiatives.access import actor_for_user
from tests.conftest import PLAN_CODE, evaluation, initiative
from tests.helpers import progress_csv, sheet_row

FEED = "/api/v1/events/"
IMPORT_URL = "/api/v1/imports/progress/"


@pytest.fixture(autouse=True)
def no_feed_delay(settings):
    settings.EVENT_FEED_DELAY_SECONDS = 0


def kinds(since: int = 0) -> list[str]:
    return list(Event.objects.filter(pk__gt=since).order_by("pk").values_list("kind", flat=True))


def last_id() -> int:
    return Event.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def test_opening_a_round_records_one_event(r7) -> None:
    event = Event.objects.get(round=r7)
    assert event.kind == "round.opened"
    assert event.plan_id == r7.plan_id and event.evaluation_id is None
    assert event.payload["plan"] == {"id": r7.plan_id, "code": PLAN_CODE}
    assert event.payload["round"] == {"id": r7.pk, "fiscal_year": 2025, "status": "open"}
    assert event.payload["actor"] == {"kind": "user"}


def test_each_service_records_one_event_with_what_a_subscriber_needs(
    r7, draft, kpi89, secretariat_user, editor_user
) -> None:
    editor, secretariat = actor_for_user(editor_user), actor_for_user(secretariat_user)
    start = last_id()
    services.evaluation_update(actor=editor, evaluation=draft, data={"rating": "B"})
    actual = services.kpi_actual_save(
        actor=editor, evaluation=draft, kpi=kpi89, value=Decimal(12), note=""
    )
    services.evaluation_submit(actor=editor, evaluation=draft)
    services.evaluation_return(actor=secretariat, evaluation=draft, comment="数値を確認")
    services.kpi_actual_delete(actor=editor, actual=actual)
    services.evaluation_submit(actor=editor, evaluation=draft)
    services.evaluation_approve(actor=secretariat, evaluation=draft)
    services.evaluation_reopen(actor=secretariat, evaluation=draft, reason="再確認")
    services.round_close(actor=secretariat, round_=r7)
    services.round_reopen(actor=secretariat, round_=r7)
    assert kinds(start) == [
        "evaluation.updated",
        "kpi_actual.changed",
        "evaluation.submitted",
        "evaluation.returned",
        "kpi_actual.changed",
        "evaluation.submitted",
        "evaluation.approved",
        "evaluation.reopened",
        "round.closed",
        "round.reopened",
    ]
    recorded = list(Event.objects.filter(pk__gt=start).order_by("pk"))
    updated, saved, submitted, returned, deleted = recorded[:5]
    assert updated.evaluation_id == draft.pk
    assert updated.payload["evaluation"] == {
        "id": draft.pk,
        "initiative_number": 89,
        "status": "draft",
        "rating": "B",
        "version": 2,
    }
    assert saved.kpi_id == kpi89.pk
    assert saved.payload["kpi_actual"]["value"] == "12"
    assert saved.payload["kpi_actual"]["deleted"] is False
    assert deleted.payload["kpi_actual"]["deleted"] is True
    assert deleted.payload["kpi_actual"]["id"] is None
    assert submitted.payload["evaluation"]["status"] == "submitted"
    assert returned.payload["comment"] == "数値を確認"
    assert recorded[7].payload["comment"] == "再確認"
    assert recorded[8].payload["round"]["status"] == "closed"
    assert all(event.payload["actor"] == {"kind": "user"} for event in recorded)
    # No user name, no e-mail: only the kind of actor.
    assert "kikaku-editor" not in str([event.payload for event in recorded])


def test_an_api_key_is_recorded_as_such(r7, draft, key_clients) -> None:
    from tests.helpers import if_match

    response = key_clients["bound_key"].patch(
        reverse("evaluation-detail", args=[draft.pk]),
        {"progress_text": "鍵から"},
        format="json",
        **if_match(draft),
    )
    assert response.status_code == 200
    assert Event.objects.order_by("-pk").first().payload["actor"] == {"kind": "api_key"}


def test_a_service_that_fails_after_recording_leaves_no_event(
    r7, draft, editor_user, monkeypatch
) -> None:
    """The event is written in the change's transaction: when the service fails after
    recording it, neither the change nor the event is kept."""
    real_record = events.record

    def record_then_fail(*args, **kwargs):
        real_record(*args, **kwargs)
        assert Event.objects.filter(evaluation=draft).exists()  # written, not yet committed
        raise RuntimeError("the database went away")

    monkeypatch.setattr(events, "record", record_then_fail)
    before = Event.objects.count()
    with pytest.raises(RuntimeError):
        services.evaluation_update(
            actor=actor_for_user(editor_user), evaluation=draft, data={"rating": "A"}
        )
    assert Event.objects.count() == before
    draft.refresh_from_db()
    assert (draft.rating, draft.version) == (None, 1)


def test_a_refused_change_records_nothing(r7, draft, viewer_user) -> None:
    before = Event.objects.count()
    with pytest.raises(Exception):  # noqa: B017 -- PermissionDenied
        services.evaluation_update(
            actor=actor_for_user(viewer_user), evaluation=draft, data={"rating": "A"}
        )
    assert Event.objects.count() == before


def test_the_import_records_one_event_per_changed_row(r7, secretariat) -> None:
    start = last_id()
    rows = [
        sheet_row(initiative_number=89, rating="B", progress_text="進んだ"),
        sheet_row(initiative_number=89, kpi_order=1, value="120", as_of="2026-03-31"),
        sheet_row(initiative_number=1, kpi_order=1, value="7", as_of="2026-03-31"),
        sheet_row(initiative_number=2),  # nothing to change
    ]
    data = {"file": progress_csv(rows), "plan": PLAN_CODE, "fiscal_year": "R7"}
    response = secretariat.post(IMPORT_URL, data, format="multipart")
    assert response.status_code == 200, response.json()
    recorded = list(Event.objects.filter(pk__gt=start).order_by("pk"))
    assert sorted(event.kind for event in recorded) == [
        "evaluation.updated",
        "kpi_actual.changed",
        "kpi_actual.changed",
    ]
    by_kind = {(e.kind, e.payload["evaluation"]["initiative_number"]): e for e in recorded}
    updated = by_kind[("evaluation.updated", 89)]
    assert updated.payload["evaluation"]["rating"] == "B"
    assert updated.evaluation_id == evaluation(89, 2025).pk
    changed = by_kind[("kpi_actual.changed", 1)]
    assert changed.payload["kpi_actual"]["value"] == "7"
    assert changed.kpi_id is not None
    assert changed.payload["actor"] == {"kind": "user"}
    # The same sheet again changes nothing and records nothing.
    data["file"] = progress_csv(rows)
    assert secretariat.post(IMPORT_URL, data, format="multipart").status_code == 200
    assert Event.objects.filter(pk__gt=recorded[-1].pk).count() == 0


def test_a_dry_run_import_records_nothing(r7, secretariat) -> None:
    start = last_id()
    rows = [sheet_row(initiative_number=89, kpi_order=1, value="120", as_of="2026-03-31")]
    data = {"file": progress_csv(rows), "plan": PLAN_CODE, "fiscal_year": "R7", "dry_run": True}
    assert secretariat.post(IMPORT_URL, data, format="multipart").status_code == 200
    assert kinds(start) == []


# --- The feed ------------------------------------------------------------------------------


@pytest.fixture
def history(r7, draft, editor_user, secretariat_user) -> list[Event]:
    """R7 opened; No. 89 (企画振興部) and another department's initiative edited, No. 89
    returned with a comment."""
    editor, secretariat = actor_for_user(editor_user), actor_for_user(secretariat_user)
    services.evaluation_update(actor=editor, evaluation=draft, data={"rating": "B"})
    other = (  # an initiative of neither 企画振興部 nor 建設部
        Evaluation.objects.filter(round=r7)
        .exclude(initiative__departments__code__in=["kikaku-shinko", "kensetsu"])
        .order_by("initiative__number")
        .first()
    )
    services.evaluation_update(actor=secretariat, evaluation=other, data={"rating": "A"})
    services.evaluation_submit(actor=editor, evaluation=draft)
    services.evaluation_return(actor=secretariat, evaluation=draft, comment="内部のコメント")
    return list(Event.objects.filter(round=r7).order_by("pk"))


def feed(client, **params) -> dict:
    response = client.get(FEED, params)
    assert response.status_code == 200, response.content[:300]
    return response.json()


def test_the_feed_walks_forward_with_its_cursor(secretariat, history) -> None:
    ids = [event.pk for event in history]
    first = feed(secretariat, limit=2)
    assert [item["id"] for item in first["results"]] == ids[:2]
    assert first["results"][0]["kind"] == "round.opened"
    assert (first["next"], first["has_more"]) == (ids[1], True)
    rest = feed(secretariat, after=first["next"], limit=50)
    assert [item["id"] for item in rest["results"]] == ids[2:]
    assert (rest["next"], rest["has_more"]) == (ids[-1], False)
    # Resumable: nothing new after the last cursor, and the cursor stays put.
    empty = feed(secretariat, after=rest["next"])
    assert (empty["results"], empty["next"], empty["has_more"]) == ([], ids[-1], False)
    services.round_close(actor=actor_for_user(history_user()), round_=history[0].round)
    later = feed(secretariat, after=empty["next"])
    assert [item["kind"] for item in later["results"]] == ["round.closed"]


def history_user():
    from django.contrib.auth.models import User

    return User.objects.get(username="jimukyoku")


def test_the_feed_filters_by_plan_and_kind(secretariat, history, plan) -> None:
    submitted = feed(secretariat, kind="evaluation.submitted")["results"]
    assert [item["evaluation"] for item in submitted] == [
        history[0].round.evaluations.get(initiative__number=89).pk
    ]
    assert len(feed(secretariat, plan=PLAN_CODE)["results"]) == len(history)
    assert len(feed(secretariat, plan=plan.pk)["results"]) == len(history)
    assert secretariat.get(FEED, {"plan": "no-such-plan"}).status_code == 404


@pytest.mark.parametrize(
    "params",
    [{"colour": "red"}, {"after": "x"}, {"after": "-1"}, {"limit": "0"}, {"limit": "201"},
     {"kind": "round.deleted"}, {"cursor": "abc"}],
)  # fmt: skip
def test_the_feed_refuses_parameters_it_does_not_take(api, params) -> None:
    response = api.get(FEED, params)
    assert response.status_code == 400
    assert [error["attr"] for error in response.json()["errors"]] == list(params)


def test_who_sees_which_events(api, secretariat, editor, other_editor, key_clients, history):
    others = history[2].evaluation_id
    seen = lambda client: {  # noqa: E731
        (item["kind"], item["evaluation"]) for item in feed(client)["results"]
    }
    everything = {(event.kind, event.evaluation_id) for event in history}
    assert seen(secretariat) == everything
    assert seen(key_clients["secretariat_key"]) == everything
    # A department member: its plan's rounds and its department's evaluations.
    assert seen(editor) == everything - {("evaluation.updated", others)}
    assert seen(key_clients["bound_key"]) == seen(editor)
    # Another department: the round only. The public and a reader key: nothing (unpublished).
    assert seen(other_editor) == {("round.opened", None)}
    assert seen(api) == set()
    assert seen(key_clients["read_key"]) == set()


def test_the_public_sees_the_events_of_published_rounds_without_review_comments(
    api, secretariat, editor, history
) -> None:
    Round.objects.filter(pk=history[0].round_id).update(status=RoundStatus.PUBLISHED)
    public = feed(api)["results"]
    assert [item["id"] for item in public] == [event.pk for event in history]
    returned = [item for item in public if item["kind"] == "evaluation.returned"]
    assert len(returned) == 1 and "comment" not in returned[0]["data"]
    assert returned[0]["data"]["evaluation"]["status"] == EvaluationStatus.RETURNED
    for insider in (secretariat, editor):
        item = next(i for i in feed(insider)["results"] if i["kind"] == "evaluation.returned")
        assert item["data"]["comment"] == "内部のコメント"


def test_the_feed_waits_for_slow_commits(secretariat, history, settings) -> None:
    """Events younger than the delay are not served yet: an event whose transaction took its
    id first but committed last is not skipped by a reader that moved past a later one."""
    settings.EVENT_FEED_DELAY_SECONDS = 60
    assert feed(secretariat)["results"] == []
    Event.objects.update(created_at=history[0].created_at.replace(year=2020))
    assert len(feed(secretariat)["results"]) == len(history)


def test_events_keep_their_kpi_when_it_is_a_kpi_actual(r7, draft, kpi89, editor_user) -> None:
    actual = services.kpi_actual_save(
        actor=actor_for_user(editor_user), evaluation=draft, kpi=kpi89, value=None, note="集計中"
    )
    event = Event.objects.order_by("-pk").first()
    assert (event.kind, event.kpi_id, event.evaluation_id) == (
        "kpi_actual.changed",
        kpi89.pk,
        draft.pk,
    )
    assert event.payload["kpi_actual"] == {
        "id": actual.pk,
        "value": None,
        "as_of": None,
        "note": "集計中",
        "roadmap_status": None,
        "version": actual.version,
        "deleted": False,
    }
    assert KPIActual.objects.filter(pk=actual.pk).exists()
    assert initiative(89).pk == draft.initiative_id


def test_publishing_records_the_round_published_and_the_public_sees_it(
    r7, secretariat_user, api
) -> None:
    secretariat = actor_for_user(secretariat_user)
    start = last_id()
    Evaluation.objects.filter(round=r7).update(status=EvaluationStatus.APPROVED)
    services.round_close(actor=secretariat, round_=r7)
    services.round_publish(actor=secretariat, round_=r7)
    assert kinds(start) == ["round.closed", "round.published"]
    published = Event.objects.order_by("-pk").first()
    assert published.payload["round"]["status"] == "published"
    assert [item["kind"] for item in feed(api)["results"]] == [
        "round.opened",
        "round.closed",
        "round.published",
    ]


@pytest.mark.parametrize(("query", "status"), [("plan=", 400), ("plan=nosuch", 404)])
def test_a_blank_or_unknown_plan_is_refused(plan, query, status) -> None:
    assert APIClient().get(f"/api/v1/events/?{query}").status_code == status
