"""Caching of aggregate results, per plan, invalidated on every write that can change them.

Each plan has a generation number in the cache; keys include it, so bumping it (on any write
to the plan's evaluations, rounds or structure) retires every cached aggregate of the plan at
once, across processes when the cache is shared (Redis). Results are cached per audience:
the public (published rounds only) and the plan's secretariat (everything). Callers who see
a mix (department members, keys of another plan) are not cached.
"""

from collections.abc import Callable
from typing import Any

from django.core.cache import cache

from evaluations import policy
from initiatives.access import Actor

TIMEOUT = 60 * 60
_GENERATION = "dxapi:aggregates:generation:{plan_id}"


def _generation(plan_id: int) -> int:
    key = _GENERATION.format(plan_id=plan_id)
    generation = cache.get(key)
    if generation is None:
        cache.add(key, 1, timeout=None)
        generation = cache.get(key, 1)
    return generation


def invalidate(plan_id: int) -> None:
    """Retire every cached aggregate of the plan."""
    key = _GENERATION.format(plan_id=plan_id)
    try:
        cache.incr(key)
    except ValueError:  # not in the cache yet: nothing cached to retire
        cache.add(key, 1, timeout=None)


def cached(
    *, actor: Actor, plan_id: int, name: str, params: tuple, compute: Callable[[], Any]
) -> Any:
    """``compute()``, cached for the actor's audience until the plan changes."""
    group = policy.audience(actor, plan_id)
    if group is None:
        return compute()
    parts = ":".join(str(part) for part in params)
    key = f"dxapi:aggregates:{plan_id}:{_generation(plan_id)}:{group}:{name}:{parts}"
    result = cache.get(key)
    if result is None:
        result = compute()
        cache.set(key, result, timeout=TIMEOUT)
    return result
