"""The data version of each plan, and the caching of aggregate results on it.

Each plan has a data version in the cache: a generation, replaced on every write that can
change what the plan's public reads show (its evaluations, rounds, structure, KPIs with
their targets and actuals, departments and the plan itself; ``evaluations.signals``), and
the primary database's write position at that moment. A global version is replaced along
with any plan's. Keys and ETags include the generation, so replacing it retires every cached
result of the plan at once, across processes when the cache is shared (Redis), and gives its
responses new ETags even when their bytes happen to be equal (a round reopened and
republished).

Generations are time-based and random, never counted: a version that vanished from the
cache (a Redis flush or restart) restarts from a value no earlier version had, so an old
ETag or cache entry never matches new data. A cache fill reads from a replica only if it has
replayed the write position stored with the version (``reading_after``): a fill never
stores data older than the last invalidation.

Aggregate results are cached per audience: the public (published rounds only) and the
plan's secretariat (everything). Callers who see a mix (department members, keys of another
plan) are not cached.
"""

import contextlib
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.db import connection

from evaluations import policy
from initiatives.access import Actor

try:  # read replicas (optional): reads at least as new as a write position
    from dxapi import replicas
except ImportError:  # pragma: no cover - deployments without the replicas module
    replicas = None

TIMEOUT = 60 * 60
GLOBAL = "all"
_VERSION = "dxapi:data-version:{scope}"


@dataclass(frozen=True)
class DataVersion:
    """A plan's (or the global) data version: its generation, and the primary's write
    position when it was set (``None`` without replicas)."""

    generation: str
    position: str | None = None


def version_key(plan_id: int | None) -> str:
    """The cache key of a plan's version; ``None``: the global version."""
    return _VERSION.format(scope=GLOBAL if plan_id is None else plan_id)


def new_generation() -> str:
    """A generation no earlier one had: nanoseconds since the epoch, plus randomness for two
    processes in the same nanosecond."""
    return f"{time.time_ns():x}{secrets.token_hex(3)}"


def write_position() -> str | None:
    """The primary's write position now; ``None`` without replicas."""
    return replicas.write_position() if replicas is not None else None


@contextlib.contextmanager
def reading_after(version: DataVersion | None) -> Iterator[None]:
    """ORM reads inside see at least the data of ``version``'s invalidation (a replica only
    if it has replayed that far, else the primary)."""
    if replicas is None or version is None:
        yield
        return
    with replicas.reads_at_least(version.position):
        yield


def as_version(value: Any) -> DataVersion | None:
    """A version as the cache holds it (a generation and a position), or ``None``."""
    if isinstance(value, tuple) and len(value) == 2:
        return DataVersion(*value)
    return None


def _restart(key: str) -> DataVersion:
    """A version that vanished from the cache (or never was): a new generation, at least as
    new as every write committed so far."""
    fresh = (new_generation(), write_position())
    cache.add(key, fresh, timeout=None)  # of processes racing here, the first one wins
    return as_version(cache.get(key)) or DataVersion(*fresh)


def current(plan_id: int | None) -> DataVersion:
    """The plan's data version (``None``: the global one)."""
    key = version_key(plan_id)
    return as_version(cache.get(key)) or _restart(key)


def _in_transaction() -> bool:
    return connection.in_atomic_block


def invalidate(plan_id: int) -> None:
    """Give the plan (and the global version) a new generation: retire every cached result
    and ETag of the plan. Inside a transaction the write position is not yet known: the
    previous one is kept, and the caller invalidates again after commit."""
    keys = [version_key(plan_id), version_key(None)]
    if _in_transaction():
        previous = cache.get_many(keys)
        positions = {key: getattr(as_version(previous.get(key)), "position", None) for key in keys}
    else:
        position = write_position()
        positions = dict.fromkeys(keys, position)
    cache.set_many({key: (new_generation(), positions[key]) for key in keys}, timeout=None)


def cached(
    *, actor: Actor, plan_id: int, name: str, params: tuple, compute: Callable[[], Any]
) -> Any:
    """``compute()``, cached for the actor's audience until the plan changes."""
    group = policy.audience(actor, plan_id)
    if group is None:
        return compute()
    version = current(plan_id)
    parts = ":".join(str(part) for part in params)
    key = f"dxapi:aggregates:{plan_id}:{version.generation}:{group}:{name}:{parts}"
    result = cache.get(key)
    if result is None:
        with reading_after(version):
            result = compute()
        cache.set(key, result, timeout=TIMEOUT)
    return result
