"""Read replica (``dxapi/replicas.py``): reads from the replica, writes and fresh reads from the
primary.

The router's and the pin's rules are tested everywhere (SQLite included) with the replica's
presence stood in for. The tests marked ``needs_replica`` need a real streaming replica
(``.ci/replica``) and PostgreSQL: ``DATABASE_URL`` on the primary, ``DATABASE_REPLICA_URL`` on
the replica, same database name. The test runner makes the test database on the primary only
(the replica alias is a test mirror: Django gives it the test database's name and keeps its
server), and the database reaches the replica by replication. Their data is committed
(transactional tests), as only committed data replicates.
"""

import contextlib
import os
import threading
import time
from collections.abc import Iterator

import psycopg
import pytest
from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models.expressions import RawSQL
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from dxapi import replicas
from dxapi.replicas import (
    REPLICA_DB_ALIAS,
    STICKY_COOKIE,
    PrimaryReplicaRouter,
    ReplicaPinMiddleware,
    reads_at_least,
    replica_reads,
    use_primary,
    write_position,
)
from initiatives.models import Plan
from tests.helpers import if_match, url

router = PrimaryReplicaRouter()


# --- the rules, without a replica (every database) -------------------------------------------


@pytest.fixture
def stand_in_replica(monkeypatch):
    """The router acts as if a reachable replica were configured."""
    monkeypatch.setattr(replicas, "replica_configured", lambda: True)
    monkeypatch.setattr(replicas, "_replica_reachable", lambda: True)


def test_without_a_replica_everything_is_the_primary() -> None:
    if REPLICA_DB_ALIAS in settings.DATABASES:
        pytest.skip("a replica is configured")
    assert not replicas.replica_configured()
    with replica_reads():
        assert router.db_for_read(Plan) == DEFAULT_DB_ALIAS
    assert write_position() is None
    with reads_at_least("0/0"):
        assert router.db_for_read(Plan) == DEFAULT_DB_ALIAS


def test_the_test_runner_points_the_replica_at_the_replicated_test_database(db) -> None:
    """The replica alias is a test mirror: the test runner gives it the name of the test
    database it creates on the primary, and keeps it on the replica's server."""
    if REPLICA_DB_ALIAS not in settings.DATABASES:
        pytest.skip("no replica configured")
    replica = connections[REPLICA_DB_ALIAS].settings_dict
    primary = connections[DEFAULT_DB_ALIAS].settings_dict
    assert replica["NAME"] == primary["NAME"]
    assert primary["NAME"].startswith("test_")
    assert (replica["HOST"], replica["PORT"]) == (
        settings.DATABASES[REPLICA_DB_ALIAS]["HOST"],
        settings.DATABASES[REPLICA_DB_ALIAS]["PORT"],
    )
    assert replicas.replica_configured()


def test_a_replica_naming_the_primarys_database_is_no_replica(monkeypatch) -> None:
    if REPLICA_DB_ALIAS not in settings.DATABASES:
        pytest.skip("no replica configured")
    monkeypatch.setattr(
        connections[REPLICA_DB_ALIAS], "settings_dict", connections[DEFAULT_DB_ALIAS].settings_dict
    )
    assert not replicas.replica_configured()


def test_outside_a_request_reads_go_to_the_primary_unless_opted_in(stand_in_replica) -> None:
    assert router.db_for_read(Plan) == DEFAULT_DB_ALIAS  # commands and jobs
    with replica_reads():
        assert router.db_for_read(Plan) == REPLICA_DB_ALIAS
        with use_primary():
            assert router.db_for_read(Plan) == DEFAULT_DB_ALIAS
        assert router.db_for_read(Plan) == REPLICA_DB_ALIAS
    assert router.db_for_read(Plan) == DEFAULT_DB_ALIAS


def test_writes_and_migrations_go_to_the_primary(stand_in_replica) -> None:
    with replica_reads():
        assert router.db_for_write(Plan) == DEFAULT_DB_ALIAS
    assert router.allow_migrate(DEFAULT_DB_ALIAS, "initiatives") is True
    assert router.allow_migrate(REPLICA_DB_ALIAS, "initiatives") is False
    on_primary, on_replica = Plan(), Plan()
    on_primary._state.db, on_replica._state.db = DEFAULT_DB_ALIAS, REPLICA_DB_ALIAS
    assert router.allow_relation(on_primary, on_replica) is True
    elsewhere = Plan()
    elsewhere._state.db = "other"
    assert router.allow_relation(on_primary, elsewhere) is None


def test_a_transaction_reads_from_the_primary(stand_in_replica, monkeypatch) -> None:
    with replica_reads():
        monkeypatch.setattr(connections[DEFAULT_DB_ALIAS], "in_atomic_block", True)
        assert router.db_for_read(Plan) == DEFAULT_DB_ALIAS
        monkeypatch.setattr(connections[DEFAULT_DB_ALIAS], "in_atomic_block", False)
        assert router.db_for_read(Plan) == REPLICA_DB_ALIAS


def test_reads_at_least_follows_the_replicas_position(stand_in_replica, monkeypatch) -> None:
    monkeypatch.setattr(replicas, "_is_postgresql", lambda: True)
    replayed = {"0/10": True, "0/20": False}
    monkeypatch.setattr(replicas, "replica_has_replayed", replayed.__getitem__)
    with reads_at_least("0/10"):  # replayed: the replica, even outside a request
        assert router.db_for_read(Plan) == REPLICA_DB_ALIAS
        with reads_at_least("0/20"):  # not yet: the primary
            assert router.db_for_read(Plan) == DEFAULT_DB_ALIAS
        assert router.db_for_read(Plan) == REPLICA_DB_ALIAS
    with reads_at_least(None):  # no position: the usual rule
        assert router.db_for_read(Plan) == DEFAULT_DB_ALIAS


def test_reads_at_least_in_a_transaction_does_not_ask_the_replica(
    stand_in_replica, monkeypatch
) -> None:
    monkeypatch.setattr(replicas, "_is_postgresql", lambda: True)
    asked = []
    monkeypatch.setattr(replicas, "replica_has_replayed", lambda position: asked.append(position))
    monkeypatch.setattr(connections[DEFAULT_DB_ALIAS], "in_atomic_block", True)
    with reads_at_least("0/10"):
        assert router.db_for_read(Plan) == DEFAULT_DB_ALIAS
    assert asked == []


def test_each_thread_has_its_own_routing(stand_in_replica) -> None:
    inside, release, seen = threading.Event(), threading.Event(), []

    def job() -> None:
        with replica_reads():
            seen.append(router.db_for_read(Plan))
            inside.set()
            release.wait(5)

    thread = threading.Thread(target=job)
    thread.start()
    inside.wait(5)
    seen.append(router.db_for_read(Plan))  # this thread did not opt in
    release.set()
    thread.join()
    assert seen == [REPLICA_DB_ALIAS, DEFAULT_DB_ALIAS]


# The middleware: the pin during and after a caller's writes.


def serve(request: HttpRequest, view=None) -> tuple[HttpResponse, list[str]]:
    """``request`` through the middleware; the view records where its reads would go."""
    seen: list[str] = []

    def get_response(request: HttpRequest) -> HttpResponse:
        if view is not None:
            view()
        seen.append(router.db_for_read(Plan))
        return HttpResponse()

    return ReplicaPinMiddleware(get_response)(request), seen


def with_cookie(request: HttpRequest, response: HttpResponse) -> HttpRequest:
    request.COOKIES[STICKY_COOKIE] = response.cookies[STICKY_COOKIE].value
    return request


def test_a_write_pins_the_caller_to_the_primary_for_a_while(stand_in_replica, settings) -> None:
    settings.REPLICA_STICKY_SECONDS = 5
    factory = RequestFactory()
    response, seen = serve(factory.patch("/api/v1/x"))
    assert seen == [DEFAULT_DB_ALIAS]  # an unsafe method reads from the primary throughout
    cookie = response.cookies[STICKY_COOKIE]
    assert cookie["max-age"] == 5 and cookie["httponly"]

    _, seen = serve(with_cookie(factory.get("/api/v1/x"), response))
    assert seen == [DEFAULT_DB_ALIAS]
    _, seen = serve(factory.get("/api/v1/x"))  # another caller
    assert seen == [REPLICA_DB_ALIAS]
    assert replicas._request_state.get() is None  # nothing left behind after the request


def test_the_pin_expires_and_cannot_be_forged(stand_in_replica, settings) -> None:
    factory = RequestFactory()
    response, _ = serve(factory.post("/api/v1/x"))
    settings.REPLICA_STICKY_SECONDS = 0  # as if the time had passed
    _, seen = serve(with_cookie(factory.get("/api/v1/x"), response))
    assert seen == [REPLICA_DB_ALIAS]
    settings.REPLICA_STICKY_SECONDS = 5
    forged = factory.get("/api/v1/x")
    forged.COOKIES[STICKY_COOKIE] = signing.TimestampSigner(salt="other").sign("1")
    _, seen = serve(forged)
    assert seen == [REPLICA_DB_ALIAS]


def test_an_api_key_caller_is_pinned_without_cookies(stand_in_replica) -> None:
    factory = RequestFactory()
    key = {"HTTP_AUTHORIZATION": "Api-Key abc.def"}
    serve(factory.delete("/api/v1/x", **key))
    _, seen = serve(factory.get("/api/v1/x", **key))  # no cookie sent back
    assert seen == [DEFAULT_DB_ALIAS]
    _, seen = serve(factory.get("/api/v1/x", HTTP_AUTHORIZATION="Api-Key other.key"))
    assert seen == [REPLICA_DB_ALIAS]
    assert not any("abc.def" in key for key in cache._cache)  # keys are hashed


def test_a_write_in_a_safe_request_pins_the_rest_of_it(stand_in_replica) -> None:
    factory = RequestFactory()
    response, seen = serve(factory.get("/api/v1/x"), view=lambda: router.db_for_write(Plan))
    assert seen == [DEFAULT_DB_ALIAS]
    assert STICKY_COOKIE in response.cookies
    response, seen = serve(factory.get("/api/v1/x"))
    assert seen == [REPLICA_DB_ALIAS]
    assert STICKY_COOKIE not in response.cookies


def test_without_a_replica_the_middleware_sets_nothing() -> None:
    if REPLICA_DB_ALIAS in settings.DATABASES:
        pytest.skip("a replica is configured")
    response, seen = serve(RequestFactory().post("/api/v1/x"))
    assert seen == [DEFAULT_DB_ALIAS]
    assert STICKY_COOKIE not in response.cookies


# --- against a real streaming replica ---------------------------------------------------------

needs_replica = pytest.mark.skipif(
    not os.environ.get("DATABASE_REPLICA_URL")
    or settings.DATABASES[DEFAULT_DB_ALIAS]["ENGINE"] != "django.db.backends.postgresql",
    reason="needs DATABASE_REPLICA_URL and PostgreSQL (a replica from .ci/replica)",
)
on_replica = pytest.mark.django_db(transaction=True, databases=[DEFAULT_DB_ALIAS, REPLICA_DB_ALIAS])
PRIMARY_PORT = 5432
REPLICA_PORT = 5433


@pytest.fixture
def real_replica():
    """The replica alias, on the replica's server and in the test database (see above),
    without a connection pool: the test runner manages the connections."""
    connection = connections[REPLICA_DB_ALIAS]
    configured = connection.settings_dict
    connection.close()
    connection.settings_dict = {
        **configured,
        "OPTIONS": {k: v for k, v in configured["OPTIONS"].items() if k != "pool"},
    }
    replicas._replica_down_until = 0.0
    yield connection
    connection.close()
    connection.settings_dict = configured
    replicas._replica_down_until = 0.0


def port_read() -> int:
    """The port of the server that an ORM read goes to, as that server reports it."""
    return (
        Plan.objects.annotate(port=RawSQL("inet_server_port()", ()))
        .values_list("port", flat=True)
        .first()
    )


def replica_sql(sql: str) -> None:
    with connections[REPLICA_DB_ALIAS].cursor() as cursor:
        cursor.execute(sql)


def caught_up() -> None:
    """Waits until the replica has replayed all that the primary committed."""
    position = write_position()
    deadline = time.monotonic() + 10
    while not replicas.replica_has_replayed(position):
        assert time.monotonic() < deadline, "the replica did not catch up within 10 s"
        time.sleep(0.02)


@contextlib.contextmanager
def replay_paused() -> Iterator[None]:
    """The replica stops replaying: it lags behind every write made inside."""
    caught_up()
    replica_sql("SELECT pg_wal_replay_pause()")
    try:
        yield
    finally:
        replica_sql("SELECT pg_wal_replay_resume()")


@needs_replica
@on_replica
def test_reads_go_to_the_replica_and_writes_to_the_primary(real_replica, plan) -> None:
    caught_up()
    assert port_read() == PRIMARY_PORT  # no request, no opt-in: the primary
    with replica_reads():
        assert port_read() == REPLICA_PORT
        with (
            CaptureQueriesContext(connections[DEFAULT_DB_ALIAS]) as on_primary,
            CaptureQueriesContext(real_replica) as on_replica,
        ):
            Plan.objects.filter(pk=plan.pk).update(name="改名")
        assert [q["sql"].split()[0] for q in on_primary] == ["UPDATE"]
        assert on_replica.captured_queries == []
    with real_replica.cursor() as cursor:
        cursor.execute("SELECT pg_is_in_recovery()")
        assert cursor.fetchone() == (True,)


@needs_replica
@on_replica
def test_the_api_reads_from_the_replica(real_replica, plan, api) -> None:
    caught_up()
    with (
        CaptureQueriesContext(connections[DEFAULT_DB_ALIAS]) as on_primary,
        CaptureQueriesContext(real_replica) as on_replica,
    ):
        response = api.get(reverse("plan-detail", args=[plan.pk]))
    assert response.status_code == 200, response.content
    assert on_replica.captured_queries
    assert on_primary.captured_queries == []


@needs_replica
@on_replica
def test_a_caller_reads_its_own_writes_while_the_replica_lags(
    real_replica, draft, key_clients, settings
) -> None:
    settings.REPLICA_STICKY_SECONDS = 2
    writer, other = key_clients["rw_key"], key_clients["bound_key"]
    detail = url(draft)
    with replay_paused():
        response = writer.patch(
            detail, {"progress_text": "新しい進捗"}, format="json", **if_match(draft)
        )
        assert response.status_code == 200, response.json()
        written = time.monotonic()
        assert STICKY_COOKIE in response.cookies

        # The writer, in two requests, sees the change: from the primary, by its cookie...
        assert writer.get(detail).json()["progress_text"] == "新しい進捗"
        # ... and by its API key alone (a client that keeps no cookies).
        writer.cookies.clear()
        assert writer.get(detail).json()["progress_text"] == "新しい進捗"
        # Another caller reads the replica, which has not replayed the write.
        assert other.get(detail).json()["progress_text"] != "新しい進捗"

        # When the pin expires the writer reads the (still lagging) replica again.
        time.sleep(max(0.0, written + 2.1 - time.monotonic()))
        assert writer.get(detail).json()["progress_text"] != "新しい進捗"
    caught_up()
    assert other.get(detail).json()["progress_text"] == "新しい進捗"


@needs_replica
@on_replica
def test_reads_at_least_reads_the_primary_until_the_replica_has_the_position(
    real_replica, plan
) -> None:
    caught_up()
    before = write_position()
    with replay_paused():
        Plan.objects.filter(pk=plan.pk).update(name="位置のテスト")
        after = write_position()
        with reads_at_least(after):
            assert port_read() == PRIMARY_PORT
            assert Plan.objects.get(pk=plan.pk).name == "位置のテスト"
        with reads_at_least(before):  # replayed already
            assert port_read() == REPLICA_PORT
            assert Plan.objects.get(pk=plan.pk).name != "位置のテスト"
    caught_up()
    with reads_at_least(after):
        assert port_read() == REPLICA_PORT
        assert Plan.objects.get(pk=plan.pk).name == "位置のテスト"


@needs_replica
@on_replica
def test_a_transaction_reads_and_locks_on_the_primary(real_replica, plan) -> None:
    caught_up()
    with replica_reads():
        assert port_read() == REPLICA_PORT
        with transaction.atomic():
            assert port_read() == PRIMARY_PORT
            locked = (
                Plan.objects.select_for_update()
                .annotate(port=RawSQL("inet_server_port()", ()))
                .get(pk=plan.pk)
            )
            assert locked.port == PRIMARY_PORT
        # Outside a transaction select_for_update is a write's read too: the primary.
        assert Plan.objects.select_for_update().db == DEFAULT_DB_ALIAS


@needs_replica
@on_replica
def test_health_reports_the_replica_and_its_lag(real_replica, plan, client) -> None:
    caught_up()
    body = client.get("/health/ready").json()
    assert body == {"status": "ok", "database": "up", "replica": "up", "replica_lag_seconds": 0.0}
    with replay_paused():
        Plan.objects.filter(pk=plan.pk).update(name="遅れ")
        time.sleep(0.3)
        body = client.get("/health/ready").json()
        assert body["replica"] == "up"
        assert body["replica_lag_seconds"] > 0


@needs_replica
@on_replica
def test_an_unreachable_replica_sends_reads_to_the_primary(real_replica, plan, api) -> None:
    real_replica.close()
    real_replica.settings_dict = {**real_replica.settings_dict, "PORT": "5499"}  # nothing there
    response = api.get(reverse("plan-detail", args=[plan.pk]))
    assert response.status_code == 200, response.content
    with replica_reads():
        assert port_read() == PRIMARY_PORT
    response = api.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "database": "up",
        "replica": "down",
        "replica_lag_seconds": None,
    }


@needs_replica
@on_replica
def test_a_read_whose_replica_connection_breaks_is_served_from_the_primary(
    real_replica, plan
) -> None:
    """As after a replica restart: the connection held (or pooled) is dead when used."""
    api = APIClient(raise_request_exception=False)  # as a server: the first try's error is kept
    caught_up()
    real_replica.ensure_connection()
    with real_replica.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    with psycopg.connect(
        host="127.0.0.1", port=REPLICA_PORT, user="postgres", dbname="postgres", autocommit=True
    ) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])
    response = api.get(reverse("plan-detail", args=[plan.pk]))
    assert response.status_code == 200, response.content
    assert response.json()["code"] == plan.code
    with replica_reads():  # the replica is left alone for a while
        assert port_read() == PRIMARY_PORT
