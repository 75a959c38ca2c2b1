"""Reads from a PostgreSQL read replica, writes and fresh reads from the primary.

With ``DATABASE_REPLICA_URL`` set, ``settings.DATABASES["replica"]`` exists and
``PrimaryReplicaRouter`` sends ORM reads there, everything else to ``default``. A replica
lags behind the primary, so reads stay on the primary when they must see the latest data:

- during a request with an unsafe method (POST, PUT, PATCH, DELETE), or once anything in the
  request wrote (the router saw a write);
- for ``REPLICA_STICKY_SECONDS`` after such a request, for the same caller: a short-lived
  signed cookie, and a cache entry per credential (session or API key) for callers that keep
  no cookies, so the pin holds across requests and processes;
- inside ``transaction.atomic()`` on the primary (what a transaction reads, it reads from the
  primary; ``select_for_update`` always does);
- outside a request (management commands, background jobs), unless the code opts in with
  ``replica_reads()`` or ``reads_at_least(position)``.

``write_position()`` gives the primary's WAL position after a write; ``reads_at_least(pos)``
reads from the replica only if it has replayed that position (for a job that was enqueued by
a write and must see it). When the replica cannot be reached, reads go to the primary for
``REPLICA_RETRY_SECONDS``.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.utils import DatabaseError, InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse

logger = logging.getLogger(__name__)

REPLICA_DB_ALIAS = "replica"
STICKY_COOKIE = "dxapi_primary"
_SIGNER_SALT = "dxapi.replicas.sticky"
_CACHE_PREFIX = "dxapi:primary-pin:"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


@dataclass
class _RequestState:
    """What the router knows about the request being served."""

    pinned: bool = False  # every read from the primary
    wrote: bool = False  # the router saw a write, or the method is unsafe
    replica_failed: bool = False  # a read on the replica lost its connection


# The request being served (None outside a request: commands, jobs, shells).
_request_state: contextvars.ContextVar[_RequestState | None] = contextvars.ContextVar(
    "replica_request_state", default=None
)
# Replica reads outside a request: None (not said), True (opted in), False (primary).
_replica_allowed: contextvars.ContextVar[bool | None] = contextvars.ContextVar(
    "replica_allowed", default=None
)

_down_lock = threading.Lock()
_replica_down_until = 0.0


def replica_configured() -> bool:
    """A replica alias exists and names another database than ``default``'s."""
    if REPLICA_DB_ALIAS not in connections.settings:
        return False
    replica = connections[REPLICA_DB_ALIAS].settings_dict
    primary = connections[DEFAULT_DB_ALIAS].settings_dict
    if replica is primary:
        return False
    return (replica["HOST"], str(replica["PORT"]), replica["NAME"]) != (
        primary["HOST"],
        str(primary["PORT"]),
        primary["NAME"],
    )


def _is_postgresql() -> bool:
    return connections[DEFAULT_DB_ALIAS].vendor == "postgresql"


def sticky_seconds() -> int:
    return int(getattr(settings, "REPLICA_STICKY_SECONDS", 5))


def _mark_replica_down() -> None:
    global _replica_down_until
    with _down_lock:
        _replica_down_until = time.monotonic() + int(getattr(settings, "REPLICA_RETRY_SECONDS", 10))


def _replica_reachable() -> bool:
    """Connects to the replica (a no-op when connected); refuses it for a while on failure."""
    if time.monotonic() < _replica_down_until:
        return False
    try:
        connections[REPLICA_DB_ALIAS].ensure_connection()
    except DatabaseError:
        logger.warning("The read replica cannot be reached: reading from the primary.")
        _mark_replica_down()
        return False
    return True


def _primary_required() -> bool:
    """In a transaction on the primary, or in a request pinned to it."""
    if connections[DEFAULT_DB_ALIAS].in_atomic_block:
        return True
    state = _request_state.get()
    return state is not None and (state.pinned or state.wrote)


def _read_alias() -> str:
    """Where an ORM read goes now."""
    if not replica_configured() or _primary_required():
        return DEFAULT_DB_ALIAS
    state = _request_state.get()
    allowed = _replica_allowed.get()
    if allowed is None:
        allowed = state is not None  # requests read the replica, other code the primary
    if not allowed:
        return DEFAULT_DB_ALIAS
    return REPLICA_DB_ALIAS if _replica_reachable() else DEFAULT_DB_ALIAS


class PrimaryReplicaRouter:
    """Reads to ``replica`` when that is safe (see the module's docstring), the rest to
    ``default``; migrations on ``default`` only."""

    def db_for_read(self, model, **hints) -> str:
        return _read_alias()

    def db_for_write(self, model, **hints) -> str:
        state = _request_state.get()
        if state is not None:
            state.wrote = True
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints) -> bool | None:
        aliases = {DEFAULT_DB_ALIAS, REPLICA_DB_ALIAS}
        if obj1._state.db in aliases and obj2._state.db in aliases:
            return True
        return None

    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None, **hints):
        return db == DEFAULT_DB_ALIAS


@contextlib.contextmanager
def use_primary() -> Iterator[None]:
    """Every read inside reads from the primary."""
    token = _replica_allowed.set(False)
    try:
        yield
    finally:
        _replica_allowed.reset(token)


@contextlib.contextmanager
def replica_reads() -> Iterator[None]:
    """Outside a request (commands, jobs): reads inside may go to the replica."""
    token = _replica_allowed.set(True)
    try:
        yield
    finally:
        _replica_allowed.reset(token)


def write_position() -> str | None:
    """The primary's current WAL position (``pg_current_wal_lsn()``), or None without a
    replica (or on another database than PostgreSQL)."""
    if not replica_configured() or not _is_postgresql():
        return None
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_lsn()::text")
        return cursor.fetchone()[0]


def replica_has_replayed(position: str) -> bool:
    """The replica has replayed the primary's WAL up to ``position`` (False if unreachable)."""
    if not _replica_reachable():
        return False
    try:
        with connections[REPLICA_DB_ALIAS].cursor() as cursor:
            cursor.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [position])
            return bool(cursor.fetchone()[0])
    except DatabaseError:
        logger.warning("The read replica's position could not be read.", exc_info=True)
        return False


UNREACHABLE = object()
_LAG_SQL = """
    SELECT CASE
        WHEN NOT pg_is_in_recovery() THEN NULL
        WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
        ELSE EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())
    END
"""


def replica_lag_seconds() -> float | None | object:
    """How far the replica's replay is behind, in seconds: 0 when it has replayed all it
    received, None when unknown (not a standby), ``UNREACHABLE`` when it does not answer."""
    global _replica_down_until
    try:
        with connections[REPLICA_DB_ALIAS].cursor() as cursor:
            cursor.execute(_LAG_SQL)
            lag = cursor.fetchone()[0]
    except DatabaseError:
        _mark_replica_down()
        return UNREACHABLE
    _replica_down_until = 0.0  # it answers: reads may go there again
    return None if lag is None else max(0.0, round(float(lag), 3))


@contextlib.contextmanager
def reads_at_least(position: str | None) -> Iterator[None]:
    """Reads inside go to the replica only if it has replayed ``position`` (checked once, on
    entry), else to the primary. Does nothing without a replica or without a position."""
    if position is None or not replica_configured() or not _is_postgresql():
        yield
        return
    # Already bound to the primary (a transaction, a pinned request): no need to ask.
    token = _replica_allowed.set(not _primary_required() and replica_has_replayed(position))
    try:
        yield
    finally:
        _replica_allowed.reset(token)


# --- the pin that follows a caller across requests -------------------------------------------


def _digest(kind: str, secret: str) -> str:
    return _CACHE_PREFIX + kind + ":" + hashlib.sha256(secret.encode()).hexdigest()


def caller_identities(request: HttpRequest) -> list[str]:
    """Cache keys naming the caller by its credentials (hashed): session and API key."""
    identities = []
    session_key = request.COOKIES.get(settings.SESSION_COOKIE_NAME)
    session = getattr(request, "session", None)
    if session is not None and session.session_key:
        session_key = session.session_key  # a login gives a new one
    if session_key:
        identities.append(_digest("session", session_key))
    authorization = request.headers.get("Authorization", "")
    if authorization:
        identities.append(_digest("authorization", authorization))
    return identities


def _cookie_pinned(request: HttpRequest) -> bool:
    value = request.COOKIES.get(STICKY_COOKIE)
    if not value:
        return False
    try:
        signing.TimestampSigner(salt=_SIGNER_SALT).unsign(value, max_age=sticky_seconds())
    except signing.BadSignature:  # expired included
        return False
    return True


def _cache_pinned(identities: list[str]) -> bool:
    if not identities:
        return False
    try:
        return bool(cache.get_many(identities))
    except Exception:  # the cache is down: the cookie alone decides
        logger.warning("The primary pin could not be read from the cache.", exc_info=True)
        return False


def _pin_caller(request: HttpRequest, response: HttpResponse) -> None:
    seconds = sticky_seconds()
    if seconds <= 0:
        return
    response.set_cookie(
        STICKY_COOKIE,
        signing.TimestampSigner(salt=_SIGNER_SALT).sign("1"),
        max_age=seconds,
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )
    identities = caller_identities(request)
    if identities:
        try:
            cache.set_many(dict.fromkeys(identities, 1), timeout=seconds)
        except Exception:  # the cache is down: the cookie still pins cookie-keeping callers
            logger.warning("The primary pin could not be stored in the cache.", exc_info=True)


def _watch_replica(state: _RequestState):
    """An execute wrapper for the replica's connection: notes a lost connection."""

    def wrapper(execute, sql, params, many, context):
        try:
            return execute(sql, params, many, context)
        except (OperationalError, InterfaceError):
            state.replica_failed = True
            _mark_replica_down()
            raise

    return wrapper


def _watching_replica(state: _RequestState) -> contextlib.AbstractContextManager:
    if REPLICA_DB_ALIAS not in connections.settings:
        return contextlib.nullcontext()
    return connections[REPLICA_DB_ALIAS].execute_wrapper(_watch_replica(state))


class ReplicaPinMiddleware:
    """Keeps a caller's reads on the primary during and for a while after its writes.

    A request that only read, and failed because the replica's connection did (a restart
    breaks the pooled connections), is served again from the primary instead of a 500.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not replica_configured():
            return self.get_response(request)
        state = _RequestState(wrote=request.method not in SAFE_METHODS)
        if not state.wrote:
            state.pinned = _cookie_pinned(request) or _cache_pinned(caller_identities(request))
        token = _request_state.set(state)
        try:
            with _watching_replica(state):
                response = self.get_response(request)
            if state.replica_failed and not state.wrote and response.status_code >= 500:
                logger.warning("A read on the replica failed: serving it from the primary.")
                state.pinned = True
                response = self.get_response(request)
        finally:
            _request_state.reset(token)
        if state.wrote:
            _pin_caller(request, response)
        return response


def reading_from_primary() -> bool:
    """ORM reads made now go to the primary."""
    return _read_alias() == DEFAULT_DB_ALIAS
