"""Request rates: anonymous callers per client address, users per id, API keys per prefix.

Each throttle counts in fixed windows (``600/minute``: at most 600 requests in each calendar
minute) with one atomic counter per scope, identity and window: ``cache.incr`` (Redis
``INCR`` with django-redis), the counter being created by ``cache.add`` the first time in
its window. Unlike DRF's ``SimpleRateThrottle`` (a list of timestamps read and rewritten
whole), concurrent requests never lose each other's counts, and a request costs one cache
operation (two for the first of a window). A refused request is a 429 with ``Retry-After``
(the seconds until the window ends) in the API's error envelope.

The address is ``client_address`` (``dxapi.client_address``): ``X-Forwarded-For`` counts
only from a trusted proxy, so rotating it does not give a caller a new budget.
"""

import math
import time

from django.core.cache import caches
from django.core.exceptions import ImproperlyConfigured
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from dxapi.client_address import client_address

__all__ = [
    "AnonymousRateThrottle",
    "ApiKeyRateThrottle",
    "FixedWindowRateThrottle",
    "OpinionRateThrottle",
    "UserRateThrottle",
    "client_address",
]

DURATIONS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """``"600/minute"`` → ``(600, 60)``: requests per window, window in seconds. The period
    is a number of seconds or a unit (``s``, ``m``, ``h``, ``d``, by its first letter)."""
    try:
        count, period = rate.split("/")
        period = period.strip().lower()
        duration = int(period) if period.isdigit() else DURATIONS[period[0]]
        num_requests = int(count)
    except (ValueError, KeyError, IndexError):
        raise ImproperlyConfigured(f"Invalid throttle rate {rate!r}.") from None
    if num_requests < 0 or duration <= 0:
        raise ImproperlyConfigured(f"Invalid throttle rate {rate!r}.")
    return num_requests, duration


def _api_key_prefix(request) -> str | None:
    """The prefix of the API key the request authenticated with (an auth object with a
    ``prefix``: ``initiatives.authentication``), or ``None``."""
    return getattr(getattr(request, "auth", None), "prefix", None)


class FixedWindowRateThrottle(BaseThrottle):
    """A rate (``DEFAULT_THROTTLE_RATES[scope]``) per identity, counted atomically."""

    scope: str = ""
    cache_alias = "default"
    key_prefix = "throttle"

    def __init__(self) -> None:
        # Read on each request (not at import), so that changed settings apply.
        rate = api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)
        self.rate = parse_rate(rate) if rate else None
        self.retry_after: float | None = None

    def get_ident(self, request) -> str | None:
        """Whom the request counts for in this scope, or ``None`` when the scope does not
        apply to it."""
        raise NotImplementedError

    def allow_request(self, request, view) -> bool:
        if self.rate is None:
            return True
        ident = self.get_ident(request)
        if ident is None:
            return True
        num_requests, duration = self.rate
        now = time.time()
        window = int(now // duration)
        key = f"{self.key_prefix}:{self.scope}:{duration}:{window}:{ident}"
        count = self._increment(key, duration)
        if count <= num_requests:
            return True
        self.retry_after = (window + 1) * duration - now
        return False

    def _increment(self, key: str, duration: int) -> int:
        cache = caches[self.cache_alias]
        try:
            return cache.incr(key)  # the usual case: the window's counter exists
        except ValueError:
            # The first request of the window (of all that race here, ``add`` creates the
            # counter once); the key outlives the window by a little, for clock skew.
            cache.add(key, 0, duration + 5)
            return cache.incr(key)

    def wait(self) -> float | None:
        if self.retry_after is None:
            return None
        return max(1, math.ceil(self.retry_after))


class AnonymousRateThrottle(FixedWindowRateThrottle):
    """Anonymous callers, by client address (requests with an API key or a logged-in user
    have their own rates)."""

    scope = "anon"

    def get_ident(self, request) -> str | None:
        if _api_key_prefix(request) is not None:
            return None
        if getattr(getattr(request, "user", None), "is_authenticated", False):
            return None
        return client_address(request) or "unknown"


class UserRateThrottle(FixedWindowRateThrottle):
    """Logged-in users, by id."""

    scope = "user"

    def get_ident(self, request) -> str | None:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        return str(user.pk)


class ApiKeyRateThrottle(FixedWindowRateThrottle):
    """API keys, by prefix."""

    scope = "api_key"

    def get_ident(self, request) -> str | None:
        return _api_key_prefix(request)


class OpinionRateThrottle(FixedWindowRateThrottle):
    """Opinions sent, per user or client address: a person writes a few, a script many."""

    scope = "opinions"

    def get_ident(self, request) -> str | None:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            return f"user:{user.pk}"
        return client_address(request) or "unknown"
