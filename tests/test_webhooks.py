"""Webhooks (``evaluations.webhooks``): subscriptions managed by the plan's secretariat,
deliveries signed per Standard Webhooks (checked with the ``standardwebhooks`` package's
verifier) to a local HTTP receiver, retried with backoff under the same ``webhook-id``,
paused after failing in a row, redelivered on demand; targets that would reach private
networks refused when saved and when sending; and a delivery in flight when its Celery
worker is killed sent again (PostgreSQL and Redis only)."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from dxapi.celery import app as celery_app
from evaluations import services, webhooks
from evaluations.models import (
    DeliveryState,
    Event,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
)
from initiatives.access import actor_for_user
from tests.conftest import PLAN_CODE

LIST = "/api/v1/webhooks/"
BROKER_URL = os.environ.get("WEBHOOK_TEST_REDIS_URL", "redis://127.0.0.1:6379/10")


class Receiver:
    """A local HTTP server recording each request; ``statuses`` answers them in turn (the
    last one repeated), after ``delay`` seconds."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.statuses: list[int] = [200]
        self.delay = 0.0
        self.headers_out: dict[str, str] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.requests.append(
                    {
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "body": body,
                        "path": self.path,
                    }
                )
                index = len(receiver.requests) - 1
                status = receiver.statuses[min(index, len(receiver.statuses) - 1)]
                time.sleep(receiver.delay)
                try:
                    self.send_response(status)
                    for name, value in receiver.headers_out.items():
                        self.send_header(name, value)
                    self.send_header("content-length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:
                    pass

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def ids(self) -> list[str]:
        return [request["headers"]["webhook-id"] for request in self.requests]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def inline(settings, monkeypatch) -> list[tuple[float, int]]:
    """Jobs in process, in the committing thread; private targets allowed (the receiver is
    on 127.0.0.1); short timeouts; the retries' timers recorded instead of started."""
    settings.CELERY_BROKER_URL = ""
    settings.JOBS_IN_PROCESS_THREADS = 0
    settings.CELERY_BEAT_SCHEDULE = {}
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    settings.WEBHOOK_READ_TIMEOUT_SECONDS = 2
    settings.WEBHOOK_RETRY_BASE_SECONDS = 10
    settings.WEBHOOK_RETRY_MAX_SECONDS = 3600
    settings.WEBHOOK_MAX_ATTEMPTS = 5
    settings.WEBHOOK_PAUSE_AFTER_FAILURES = 20
    settings.WEBHOOK_PAUSE_AFTER_SECONDS = 0
    settings.EVENT_FEED_DELAY_SECONDS = 0
    retries: list[tuple[float, int]] = []
    monkeypatch.setattr(webhooks, "schedule_retry", lambda delay, pk: retries.append((delay, pk)))
    return retries


def subscribe(client, url: str, **extra) -> dict:
    response = client.post(LIST, {"plan": PLAN_CODE, "url": url, **extra}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def edit(draft, editor_user, captured, **data) -> None:
    """An edit of the draft by its department's editor, its jobs run as on commit."""
    with captured(execute=True):
        services.evaluation_update(
            actor=actor_for_user(editor_user), evaluation=draft, data=data or {"rating": "B"}
        )


def verify(secret: str, request: dict) -> dict:
    return Webhook(secret).verify(request["body"], request["headers"])


def sweep(captured) -> None:
    """The periodic sweep, its jobs run as on commit."""
    with captured(execute=True):
        webhooks.sweep()


def make_due(delivery: WebhookDelivery) -> None:
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())


def test_an_event_is_delivered_signed_per_standard_webhooks(
    secretariat, draft, editor_user, receiver, inline, django_capture_on_commit_callbacks
) -> None:
    created = subscribe(secretariat, receiver.url)
    assert created["secret"].startswith("whsec_")
    edit(draft, editor_user, django_capture_on_commit_callbacks)
    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    message = verify(created["secret"], request)
    assert message["type"] == "evaluation.updated"
    assert message["data"]["evaluation"]["id"] == draft.pk
    assert message["data"]["event_id"] == Event.objects.get(evaluation=draft).pk
    delivery = WebhookDelivery.objects.get()
    assert request["headers"]["webhook-id"] == delivery.webhook_id
    assert abs(int(request["headers"]["webhook-timestamp"]) - time.time()) < 5
    assert request["headers"]["webhook-signature"].startswith("v1,")
    assert (delivery.state, delivery.attempts) == (DeliveryState.SUCCEEDED, 1)
    attempt = WebhookAttempt.objects.get(delivery=delivery)
    assert (attempt.status_code, attempt.response_excerpt, attempt.error) == (200, "ok", "")
    # Another secret does not verify it; a tampered body neither.
    with pytest.raises(WebhookVerificationError):
        verify("whsec_" + "QUJD" * 8, request)
    with pytest.raises(WebhookVerificationError):
        verify(created["secret"], {**request, "body": request["body"].replace(b"B", b"A")})


def test_the_secret_is_shown_once_and_rotating_it_changes_the_signature(
    secretariat, draft, editor_user, receiver, inline, django_capture_on_commit_callbacks
) -> None:
    created = subscribe(secretariat, receiver.url)
    detail = secretariat.get(reverse("webhook-detail", args=[created["id"]]))
    assert "secret" not in detail.json()
    assert created["secret"] not in json.dumps(secretariat.get(LIST).json())
    rotated = secretariat.post(reverse("webhook-rotate-secret", args=[created["id"]]))
    assert rotated.status_code == 200
    new_secret = rotated.json()["secret"]
    assert new_secret != created["secret"]
    # Stored as a salt only: the secret is not in the row.
    row = WebhookSubscription.objects.values().get(pk=created["id"])
    assert new_secret not in json.dumps(row, default=str)
    assert new_secret.removeprefix("whsec_") not in json.dumps(row, default=str)
    edit(draft, editor_user, django_capture_on_commit_callbacks)
    verify(new_secret, receiver.requests[0])
    with pytest.raises(WebhookVerificationError):
        verify(created["secret"], receiver.requests[0])


def test_failures_are_retried_with_backoff_under_the_same_webhook_id(
    secretariat, draft, editor_user, receiver, inline, django_capture_on_commit_callbacks
) -> None:
    created = subscribe(secretariat, receiver.url)
    receiver.statuses = [500, 503, 200]
    edit(draft, editor_user, django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.attempts, delivery.last_status_code) == ("pending", 1, 500)
    # Not due yet: a sender that gets it now leaves it.
    assert webhooks.deliver(delivery.pk) is None
    assert len(receiver.requests) == 1
    make_due(delivery)
    assert webhooks.deliver(delivery.pk) == DeliveryState.PENDING
    make_due(delivery)
    assert webhooks.deliver(delivery.pk) == DeliveryState.SUCCEEDED
    assert len(set(receiver.ids())) == 1 and len(receiver.ids()) == 3
    for request in receiver.requests:
        verify(created["secret"], request)
    # Backoff: 10 s then 20 s, each with jitter (50–100 %), timed in process.
    delays = [delay for delay, _ in inline]
    assert len(delays) == 2 and 5 <= delays[0] <= 10 and 10 <= delays[1] <= 20
    codes = list(
        delivery.attempt_log.order_by("attempted_at", "id").values_list("status_code", flat=True)
    )
    assert codes == [500, 503, 200]


def test_backoff_doubles_with_jitter_and_is_capped(settings, monkeypatch) -> None:
    settings.WEBHOOK_RETRY_BASE_SECONDS = 10
    settings.WEBHOOK_RETRY_MAX_SECONDS = 300
    monkeypatch.setattr(webhooks.random, "uniform", lambda low, high: high)
    assert [webhooks.backoff(n) for n in range(1, 8)] == [10, 20, 40, 80, 160, 300, 300]
    monkeypatch.setattr(webhooks.random, "uniform", lambda low, high: low)
    assert webhooks.backoff(1) == 5 and webhooks.backoff(40) == 150


def test_a_timeout_and_a_redirect_are_failures(
    secretariat, draft, editor_user, receiver, inline, settings, django_capture_on_commit_callbacks
) -> None:
    subscribe(secretariat, receiver.url)
    settings.WEBHOOK_READ_TIMEOUT_SECONDS = 0.3
    receiver.delay = 1
    edit(draft, editor_user, django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == DeliveryState.PENDING and "timeout" in delivery.last_error
    receiver.delay = 0
    receiver.statuses = [200, 302]
    receiver.headers_out = {"location": receiver.url + "/elsewhere"}
    make_due(delivery)
    assert webhooks.deliver(delivery.pk) == DeliveryState.PENDING
    assert [r["path"] for r in receiver.requests] == ["/hook", "/hook"]  # not followed
    delivery.refresh_from_db()
    assert (delivery.last_status_code, delivery.last_error) == (302, "HTTP 302")


def test_a_delivery_fails_for_good_after_its_attempts(
    secretariat, draft, editor_user, receiver, inline, settings, django_capture_on_commit_callbacks
) -> None:
    settings.WEBHOOK_MAX_ATTEMPTS = 2
    subscribe(secretariat, receiver.url)
    receiver.statuses = [500]
    edit(draft, editor_user, django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get()
    make_due(delivery)
    assert webhooks.deliver(delivery.pk) == DeliveryState.FAILED
    make_due(delivery)
    assert webhooks.deliver(delivery.pk) is None
    assert len(receiver.requests) == 2


def test_a_webhook_that_keeps_failing_is_paused_and_the_secretariat_told(
    secretariat, draft, editor_user, receiver, inline, settings, django_capture_on_commit_callbacks
) -> None:
    settings.WEBHOOK_PAUSE_AFTER_FAILURES = 3
    created = subscribe(secretariat, receiver.url)
    told: list[WebhookSubscription] = []

    def listener(sender, subscription, **kwargs):
        told.append(subscription)

    webhooks.subscription_paused.connect(listener)
    try:
        receiver.statuses = [500]
        edit(draft, editor_user, django_capture_on_commit_callbacks)
        delivery = WebhookDelivery.objects.get()
        for _ in range(2):
            make_due(delivery)
            webhooks.deliver(delivery.pk)
    finally:
        webhooks.subscription_paused.disconnect(listener)
    assert [subscription.pk for subscription in told] == [created["id"]]
    paused = secretariat.get(reverse("webhook-detail", args=[created["id"]])).json()
    assert (paused["is_active"], paused["failure_count"]) == (False, 3)
    assert paused["paused_at"] and "3" in paused["paused_reason"]
    # Paused: nothing is sent, new events make no deliveries, redelivering is refused.
    make_due(delivery)
    assert webhooks.deliver(delivery.pk) is None
    edit(draft, editor_user, django_capture_on_commit_callbacks, rating="C")
    assert WebhookDelivery.objects.count() == 1
    refused = secretariat.post(reverse("webhook-delivery-redeliver", args=[delivery.pk]))
    assert refused.status_code == 409
    # Resumed: the count starts again and what was owed is sent.
    receiver.statuses = [200]
    with django_capture_on_commit_callbacks(execute=True):
        resumed = secretariat.patch(
            reverse("webhook-detail", args=[created["id"]]), {"is_active": True}, format="json"
        )
    assert resumed.status_code == 200
    assert (resumed.json()["is_active"], resumed.json()["failure_count"]) == (True, 0)
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.SUCCEEDED
    assert receiver.ids() == [delivery.webhook_id] * 4


def test_redeliver_sends_again_with_the_same_webhook_id(
    secretariat, draft, editor_user, receiver, inline, django_capture_on_commit_callbacks
) -> None:
    created = subscribe(secretariat, receiver.url)
    edit(draft, editor_user, django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        response = secretariat.post(reverse("webhook-delivery-redeliver", args=[delivery.pk]))
    assert response.status_code == 202
    assert receiver.ids() == [delivery.webhook_id] * 2
    verify(created["secret"], receiver.requests[1])
    shown = secretariat.get(reverse("webhook-delivery-detail", args=[delivery.pk])).json()
    assert (shown["state"], shown["attempts"], len(shown["attempt_log"])) == ("succeeded", 1, 2)


def test_only_the_kinds_asked_for_are_delivered(
    secretariat, draft, editor_user, receiver, inline, django_capture_on_commit_callbacks
) -> None:
    subscribe(secretariat, receiver.url, kinds=["evaluation.submitted"])
    edit(draft, editor_user, django_capture_on_commit_callbacks)
    assert receiver.requests == []
    with django_capture_on_commit_callbacks(execute=True):
        services.evaluation_submit(actor=actor_for_user(editor_user), evaluation=draft)
    assert [json.loads(r["body"])["type"] for r in receiver.requests] == ["evaluation.submitted"]


def test_the_sweep_sends_what_was_missed(
    secretariat, draft, editor_user, receiver, inline, django_capture_on_commit_callbacks
) -> None:
    """Events whose dispatcher never ran (a process that stopped before), and deliveries
    whose sender died holding them, are sent by the periodic sweep."""
    subscribe(secretariat, receiver.url)
    services.evaluation_update(  # its on-commit jobs never run
        actor=actor_for_user(editor_user), evaluation=draft, data={"rating": "B"}
    )
    assert Event.objects.filter(dispatched=False).count() == 1
    sweep(django_capture_on_commit_callbacks)
    assert len(receiver.requests) == 1
    delivery = WebhookDelivery.objects.get()
    # A sender that died mid-delivery: its claim expires, then the sweep sends it again.
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        state=DeliveryState.PENDING, locked_until=timezone.now() + timedelta(seconds=60)
    )
    sweep(django_capture_on_commit_callbacks)
    assert len(receiver.requests) == 1
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        locked_until=timezone.now() - timedelta(seconds=1),
        queued_at=timezone.now() - timedelta(seconds=120),
    )
    sweep(django_capture_on_commit_callbacks)
    assert receiver.ids() == [delivery.webhook_id] * 2


# --- Targets --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "ftp://93.184.215.14/hook",
        "file:///etc/passwd",
        "http://127.0.0.1/hook",
        "http://localhost/hook",
        "http://10.0.0.8/hook",
        "http://192.168.1.20:8080/hook",
        "http://172.16.0.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hook",
        "http://[fd00:ec2::254]/hook",
        "http://[::ffff:10.0.0.1]/hook",
        "http://224.0.0.1/hook",
        "http://0.0.0.0/hook",
        "http://100.64.0.1/hook",
        "http://user:password@93.184.215.14/hook",
        "https:///hook",
        "http://93.184.215.14:99999/hook",
    ],
)
def test_targets_that_reach_private_networks_are_refused(secretariat, url, settings) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    response = secretariat.post(LIST, {"plan": PLAN_CODE, "url": url}, format="json")
    assert response.status_code == 400, response.json()
    assert [error["attr"] for error in response.json()["errors"]] == ["url"]
    assert not WebhookSubscription.objects.exists()


def test_a_name_that_resolves_to_a_private_address_is_refused(
    secretariat, settings, monkeypatch
) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    monkeypatch.setattr(webhooks, "resolve", lambda host, port: ["93.184.215.14", "10.1.2.3"])
    response = secretariat.post(
        LIST, {"plan": PLAN_CODE, "url": "https://hooks.example.test/x"}, format="json"
    )
    assert response.status_code == 400
    assert "10.1.2.3" in response.json()["errors"][0]["detail"]
    monkeypatch.setattr(webhooks, "resolve", lambda host, port: ["93.184.215.14"])
    subscribe(secretariat, "https://hooks.example.test/x")


def test_allowing_private_targets_still_refuses_cloud_metadata(secretariat, settings) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    subscribe(secretariat, "http://10.0.0.8/hook")
    subscribe(secretariat, "http://127.0.0.1:8080/hook")
    for url in ("http://169.254.169.254/", "http://[fd00:ec2::254]/", "http://224.0.0.1/"):
        response = secretariat.post(LIST, {"plan": PLAN_CODE, "url": url}, format="json")
        assert response.status_code == 400, url


def test_the_target_is_checked_again_when_sending(
    secretariat, draft, editor_user, receiver, inline, settings, monkeypatch,
    django_capture_on_commit_callbacks,
) -> None:  # fmt: skip
    """DNS may change after the URL was saved: the addresses are checked at each delivery,
    and the request goes to the address checked, with the name as Host."""
    name_url = f"http://hooks.example.test:{receiver.port}/hook"
    monkeypatch.setattr(webhooks, "resolve", lambda host, port: ["93.184.215.14"])
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    subscribe(secretariat, name_url)
    monkeypatch.setattr(webhooks, "resolve", lambda host, port: ["127.0.0.1"])
    edit(draft, editor_user, django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get()
    assert receiver.requests == []
    assert delivery.state == DeliveryState.PENDING
    assert "127.0.0.1" in delivery.last_error and delivery.last_status_code is None
    # Allowed (a private network's own system): sent to the checked address, Host kept.
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    make_due(delivery)
    assert webhooks.deliver(delivery.pk) == DeliveryState.SUCCEEDED
    assert receiver.requests[0]["headers"]["host"] == f"hooks.example.test:{receiver.port}"


# --- Who may do what ------------------------------------------------------------------------


def test_only_the_plans_secretariat_manages_webhooks(
    secretariat, editor, viewer, key_clients, api, settings
) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    body = {"plan": PLAN_CODE, "url": "http://10.0.0.8/hook"}
    assert api.post(LIST, body, format="json").status_code == 401
    for client in (editor, viewer, key_clients["rw_key"], key_clients["read_key"]):
        assert client.post(LIST, body, format="json").status_code == 403
    created = subscribe(key_clients["secretariat_key"], body["url"])
    detail = reverse("webhook-detail", args=[created["id"]])
    for client in (editor, viewer, key_clients["rw_key"], key_clients["read_key"]):
        assert client.get(LIST).json()["results"] == []
        assert client.get(detail).status_code == 404
        assert client.patch(detail, {"is_active": False}, format="json").status_code == 404
        assert client.delete(detail).status_code == 404
    assert secretariat.get(LIST).json()["count"] == 1
    assert (
        secretariat.patch(detail, {"description": "県庁システム"}, format="json").status_code == 200
    )
    assert secretariat.patch(detail, {"secret": "x"}, format="json").status_code == 400
    assert secretariat.delete(detail).status_code == 204
    assert not WebhookSubscription.objects.exists()


def test_unknown_kinds_and_parameters_are_400(secretariat, settings) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    response = secretariat.post(
        LIST, {"plan": PLAN_CODE, "url": "http://10.0.0.8/", "kinds": ["round.deleted"]},
        format="json",
    )  # fmt: skip
    assert response.status_code == 400
    assert secretariat.get(LIST, {"colour": "red"}).status_code == 400
    assert secretariat.get("/api/v1/webhook-deliveries/", {"colour": "red"}).status_code == 400


# --- A worker killed mid-delivery -----------------------------------------------------------


def broker_available() -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(BROKER_URL, socket_connect_timeout=1).ping())
    except Exception:
        return False


needs_broker = pytest.mark.skipif(
    connection.vendor != "postgresql" or not broker_available(),
    reason="a Celery worker needs the PostgreSQL database (shared) and Redis",
)


def database_url() -> str:
    db = connection.settings_dict
    user, host, port = db["USER"], db["HOST"] or "127.0.0.1", db["PORT"] or 5432
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


def start_worker(tmp_path) -> subprocess.Popen:
    """A `celery worker` with its beat (the sweep every second) on the test database."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "dxapi.test_settings",
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": BROKER_URL,
        "WEBHOOK_ALLOW_PRIVATE_TARGETS": "1",
        "WEBHOOK_LEASE_SECONDS": "4",
        "WEBHOOK_SWEEP_SECONDS": "1",
        "WEBHOOK_READ_TIMEOUT_SECONDS": "10",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "dxapi", "worker", "--beat", "--pool=solo",
         f"--schedule={tmp_path / f'beat-{uuid.uuid4().hex[:6]}'}",
         "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel=WARNING",
         f"--hostname=webhooks-test-{uuid.uuid4().hex[:8]}@%h"],
        cwd=django_settings.BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )  # fmt: skip


def wait(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


@needs_broker
@pytest.mark.django_db(transaction=True)
def test_a_delivery_in_flight_when_its_worker_is_killed_is_sent_again(
    plan, secretariat_user, editor_user, receiver, settings, tmp_path
) -> None:
    import redis

    from tests.helpers import client_for, open_r7

    redis.Redis.from_url(BROKER_URL).flushdb()
    settings.CELERY_BROKER_URL = BROKER_URL
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    before = celery_app.conf.broker_url
    celery_app.conf.broker_url = BROKER_URL
    workers: list[subprocess.Popen] = []
    try:
        secretariat = actor_for_user(secretariat_user)
        webhooks.subscription_create(actor=secretariat, plan=plan, url=receiver.url, kinds=[])
        receiver.delay = 2.5  # slow: the first delivery is in flight when the worker dies
        r7 = open_r7(client_for(secretariat_user), plan)
        editor = actor_for_user(editor_user)
        for number in (89, 90):
            evaluation = r7.evaluations.get(initiative__number=number)
            services.evaluation_update(actor=editor, evaluation=evaluation, data={"rating": "B"})
        assert Event.objects.count() == 3
        workers.append(start_worker(tmp_path))
        assert wait(lambda: len(receiver.requests) >= 1, 60), "nothing was sent"
        in_flight = receiver.requests[0]["headers"]["webhook-id"]
        os.killpg(workers[0].pid, signal.SIGKILL)
        workers[0].wait(timeout=10)
        assert not WebhookDelivery.objects.filter(webhook_id=in_flight, state="succeeded").exists()
        workers.append(start_worker(tmp_path))
        done = lambda: WebhookDelivery.objects.filter(state="succeeded").count() == 3  # noqa: E731
        assert wait(done, 90), list(WebhookDelivery.objects.values("state", "attempts"))
        assert workers[1].poll() is None, "the worker stopped"
    finally:
        for worker in workers:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGTERM)
                print(worker.communicate(timeout=20)[0])
        celery_app.conf.broker_url = before
        celery_app.pool.force_close_all()
    deliveries = {d.webhook_id: d for d in WebhookDelivery.objects.all()}
    assert len(deliveries) == 3
    # None lost: each delivery arrived; the one in flight again, under its own id.
    assert set(receiver.ids()) == set(deliveries)
    assert receiver.ids().count(in_flight) >= 2
    # None sent under two ids: each event arrived under one webhook-id only.
    ids_by_event: dict[int, set[str]] = {}
    for request in receiver.requests:
        event_id = json.loads(request["body"])["data"]["event_id"]
        ids_by_event.setdefault(event_id, set()).add(request["headers"]["webhook-id"])
    assert sorted(ids_by_event) == sorted(Event.objects.values_list("pk", flat=True))
    assert all(len(ids) == 1 for ids in ids_by_event.values())


# --- The admin ------------------------------------------------------------------------------


def test_the_secretariat_manages_its_webhooks_in_the_admin(
    plan, secretariat_user, editor_user, settings
) -> None:
    from django.contrib.messages import get_messages

    from tests.admin_fixtures import logged_in

    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    client = logged_in(secretariat_user)
    add = reverse("admin:evaluations_webhooksubscription_add")
    refused = client.post(add, {"plan": plan.pk, "url": "http://10.0.0.8/hook", "is_active": "on"})
    assert refused.status_code == 200 and not WebhookSubscription.objects.exists()
    response = client.post(
        add,
        {
            "plan": plan.pk,
            "url": "https://93.184.215.14/hook",
            "kinds": ["round.published"],
            "description": "県のシステム",
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    subscription = WebhookSubscription.objects.get()
    assert (subscription.kinds, subscription.created_by) == (["round.published"], secretariat_user)
    shown = [str(message) for message in get_messages(response.wsgi_request)]
    assert any(webhooks.secret_of(subscription) in message for message in shown)
    # A delivery, redelivered from its list.
    event = Event.objects.create(kind="round.published", plan=plan, round=plan.rounds.first())
    delivery = WebhookDelivery.objects.create(
        subscription=subscription, event=event, webhook_id="msg_admin", state="failed", attempts=3
    )
    changelist = reverse("admin:evaluations_webhookdelivery_changelist")
    client.post(changelist, {"action": "redeliver", "_selected_action": [delivery.pk]})
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.webhook_id) == ("pending", 0, "msg_admin")
    # A department editor sees neither.
    editor = logged_in(editor_user)
    assert (
        editor.get(reverse("admin:evaluations_webhooksubscription_changelist")).status_code == 403
    )
    assert editor.get(changelist).status_code == 403
