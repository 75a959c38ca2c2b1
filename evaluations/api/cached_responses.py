"""Rendered bytes of public reads, served again without DRF, serializers or the database.

The aggregates, the yearly report (every format) and the initiative list are wrapped by
``cacheable`` (their ``as_view``). Their views name the data they show with
``note_version`` (a plan's data version, or the global one for reads of every plan), read
before anything else; the wrapper then gives the response a strong ETag of that version
and the bytes, so the ETag changes with the data version even when the bytes do not. The
view runs inside ``aggregate_cache.reading_after`` the global version: with a read replica,
it reads data at least as new as the last invalidation of any plan.

For anonymous callers (no ``Authorization`` header, no session cookie) a 200 of the full
path is stored under the request's scheme and host, path and normalised query, negotiated
language and ``Accept`` header (the format), with the versions it was computed at. A later
identical request is served from it while neither version changed:
``PublicResponseMiddleware`` (innermost) answers it before the URL is resolved. On Redis
that is one round trip: the anonymous throttle's ``INCR`` pipelined with the ``MGET`` of
the global version and the entry; one more ``GET`` (the entry's plan version) when another
plan changed since. Everything else (callers with credentials, a refused throttle, a miss)
takes the full path, which counts the request (the lookup's count is taken back) and
refuses it in the API's way. The secretariat's aggregate results are cached by
``aggregate_cache.cached``; its responses are not stored here.
"""

import contextlib
import functools
import hashlib
from collections.abc import Callable
from typing import Any, NamedTuple

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.utils import translation

from dxapi.filters import id_or_code
from dxapi.throttling import AnonymousRateThrottle
from evaluations import aggregate_cache
from evaluations.aggregate_cache import DataVersion, as_version, version_key

TIMEOUT = 60 * 60  # bounds the memory of entries nobody asks for again
MAX_PATHS = 256
STORED_FORMATS = frozenset({"json", "html", "csv", "xlsx"})
_ENTRY = "dxapi:responses:public:{digest}"
_GLOBAL_KEY = version_key(None)
# The paths this process has served with a ``cacheable`` view: the middleware serves stored
# bytes for them before resolving the URL (a path always resolves to the same view).
_paths: set[str] = set()


class Entry(NamedTuple):
    """Stored bytes, and the versions they were computed at."""

    plan_id: int | None
    plan_generation: str | None
    global_generation: str
    headers: tuple[tuple[str, str], ...]
    content: bytes


class NotedVersion(NamedTuple):
    plan_id: int | None
    generation: str | None  # None: the global version read by ``cacheable``


def note_version(request: Any, plan_id: int | None) -> None:
    """The response shows the plan's data (``None``: of every plan). Call it before reading
    any of that data: the version read here labels the response."""
    http_request = getattr(request, "_request", request)
    generation = None if plan_id is None else aggregate_cache.current(plan_id).generation
    http_request.data_version = NotedVersion(plan_id, generation)


def note_list_version(request: Any) -> None:
    """``note_version`` for a list filtered by ``plan`` (id or code), or of every plan."""
    from initiatives.models import Plan

    value = request.query_params.get("plan", "")
    plan_id = None
    if value and "\x00" not in value:
        lookup = id_or_code(value)
        plan_id = Plan.objects.filter(**lookup).values_list("pk", flat=True).first()
    note_version(request, plan_id)


def is_anonymous(request: HttpRequest) -> bool:
    """No credentials of any kind: no ``Authorization`` header, no session cookie (and no
    user forced on the request by a test client)."""
    return (
        "HTTP_AUTHORIZATION" not in request.META
        and settings.SESSION_COOKIE_NAME not in request.COOKIES
        and getattr(request, "_force_auth_user", None) is None
    )


def normalised_query(request: HttpRequest) -> str:
    """The query string with its parameters sorted by name (repeated ones keep their order,
    which decides which one counts). Not decoded: that would cost more than the rare
    request spelled another way costs (an entry of its own)."""
    query = request.META.get("QUERY_STRING", "")
    if "&" not in query:
        return query
    parts = [part for part in query.split("&") if part]
    return "&".join(sorted(parts, key=lambda part: part.partition("=")[0]))


def entry_key(request: HttpRequest) -> str:
    """What the bytes depend on for an anonymous caller: scheme and host (links to other
    pages), path and query, the negotiated language and ``Accept`` (the format)."""
    parts = (
        request.scheme,
        request.get_host(),
        request.path,
        normalised_query(request),
        translation.get_language() or "",
        request.META.get("HTTP_ACCEPT", ""),
    )
    digest = hashlib.blake2b("\n".join(parts).encode(), digest_size=20).hexdigest()
    return _ENTRY.format(digest=digest)


def versioned_etag(noted: NotedVersion, generation: str, content: bytes) -> str:
    """A strong ETag of the data version and the bytes."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{noted.plan_id}:{generation}\n".encode())
    digest.update(content)
    return f'"d-{digest.hexdigest()}"'


def _still_valid(key: str, entry: Entry, global_version: DataVersion | None) -> bool:
    if global_version is not None and entry.global_generation == global_version.generation:
        return True  # no plan changed since the entry was computed
    if entry.plan_id is None:
        return False
    plan_version = as_version(cache.get(version_key(entry.plan_id)))
    if plan_version is None or plan_version.generation != entry.plan_generation:
        return False
    if global_version is not None:
        # Another plan changed. The plan's version, read after the global one, has not: the
        # entry is as valid at this global version, and later hits take one round trip.
        relabelled = entry._replace(global_generation=global_version.generation)
        cache.set(key, relabelled, timeout=TIMEOUT)
    return True


def _served(entry: Entry) -> HttpResponse:
    response = HttpResponse(entry.content)
    for name, value in entry.headers:
        response[name] = value
    return response


def _store(key: str, response: Any, noted: NotedVersion, global_version: DataVersion) -> None:
    renderer = getattr(response, "accepted_renderer", None)
    if getattr(renderer, "format", None) not in STORED_FORMATS:
        return
    entry = Entry(
        plan_id=noted.plan_id,
        plan_generation=noted.generation,
        global_generation=global_version.generation,
        headers=tuple(response.items()),
        content=response.content,
    )
    cache.set(key, entry, timeout=TIMEOUT)


def _redis() -> Any:
    """django-redis's client of the cache, or ``None`` (another backend)."""
    backend = getattr(cache, "client", None)
    return backend if callable(getattr(backend, "get_client", None)) else None


class _LookupThrottle(AnonymousRateThrottle):
    """The anonymous throttle (same rate, windows and counters) whose counter is
    incremented in the same Redis round trip as the lookup of ``keys``."""

    def __init__(self, backend: Any, keys: list[str]) -> None:
        super().__init__()
        self.backend = backend
        self.keys = keys
        self.found: dict[str, Any] | None = None
        self.counted: str | None = None

    def _increment(self, key: str, duration: int) -> int:
        backend = self.backend
        client = backend.get_client(write=True)
        names = [backend.make_key(name) for name in (key, *self.keys)]
        # The counter gets the lifetime the throttle gives it when INCR creates it.
        count, *values = _count_and_get(client)(keys=names, args=[duration + 5], client=client)
        self.found = {
            name: backend.decode(value)
            for name, value in zip(self.keys, values, strict=True)
            if value  # nil: false in Lua, None here
        }
        self.counted = key
        return count


_COUNT_AND_GET = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return {count, redis.call('GET', KEYS[2]), redis.call('GET', KEYS[3])}
"""
_script: Any = None


def _count_and_get(client: Any) -> Any:
    """One command: the throttle's INCR (with its expiry) and the two GETs of a lookup."""
    global _script
    if _script is None:
        _script = client.register_script(_COUNT_AND_GET)  # EVALSHA, loaded on first use
    return _script


def _lookup(request: HttpRequest, key: str) -> tuple[Entry | None, DataVersion | None, bool]:
    """The stored entry (if still valid), the global version, and whether the throttle
    allows the request if it is served from the entry. With Redis, one round trip counts
    the request and looks up; a request that is not served is not counted here (the full
    path counts it, and refuses it in the API's way)."""
    backend = _redis()
    keys = [_GLOBAL_KEY, key]
    if backend is None:
        found = cache.get_many(keys)
        throttle = None
    else:
        throttle = _LookupThrottle(backend, keys)
        allowed = throttle.allow_request(request, None)
        found = throttle.found if throttle.found is not None else cache.get_many(keys)
    global_version = as_version(found.get(_GLOBAL_KEY))
    entry = found.get(key)
    if not (isinstance(entry, Entry) and _still_valid(key, entry, global_version)):
        entry = None
    if throttle is None:
        allowed = entry is not None and AnonymousRateThrottle().allow_request(request, None)
    elif throttle.counted is not None and not (entry is not None and allowed):
        with contextlib.suppress(ValueError):  # (the window's counter just expired)
            cache.decr(throttle.counted)  # not served from here: the full path counts it
    return entry, global_version, allowed


def cacheable(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """``view`` with versioned ETags, and its anonymous reads served from stored bytes."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        key = None
        if request.method in ("GET", "HEAD") and is_anonymous(request):
            if len(_paths) < MAX_PATHS:
                _paths.add(request.path_info)
            looked_up = getattr(request, "_public_lookup", None)  # by the middleware
            if looked_up is None:
                key = entry_key(request)
                looked_up = (key, *_lookup(request, key))
            key, entry, global_version, allowed = looked_up
            if entry is not None and allowed:
                return _served(entry)
        else:
            global_version = as_version(cache.get(_GLOBAL_KEY))
        if global_version is None:
            global_version = aggregate_cache.current(None)
        # Reads at least as new as the last invalidation of any plan (replicas).
        with aggregate_cache.reading_after(global_version):
            response = view(request, *args, **kwargs)
            if callable(getattr(response, "render", None)):
                response.render()
        noted = getattr(request, "data_version", None)
        if noted is None or response.status_code != 200 or response.streaming:
            return response
        generation = noted.generation or global_version.generation
        response["ETag"] = versioned_etag(noted, generation, response.content)
        if key is not None:
            _store(key, response, noted, global_version)
        return response

    return wrapped


class PublicResponseMiddleware:
    """Serves the public's stored bytes before the URL is resolved: the cheapest path, after
    every other middleware (innermost), so that the response gets the same headers as any.
    A miss goes on, with its lookup, to the ``cacheable`` view."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if (
            request.path_info in _paths
            and request.method in ("GET", "HEAD")
            and is_anonymous(request)
        ):
            key = entry_key(request)
            entry, global_version, allowed = _lookup(request, key)
            if entry is not None and allowed:
                return _served(entry)
            request._public_lookup = (key, entry, global_version, allowed)
        return self.get_response(request)
