"""Request rates: per client address (``X-Forwarded-For`` only from a trusted proxy), per
user and per API key, counted atomically (``dxapi.throttling``)."""

import threading
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.test import RequestFactory, override_settings
from rest_framework.test import APIClient

from dxapi import throttling
from dxapi.client_address import client_address
from tests.helpers import TEST_REDIS_URL, client_for, key_client

PLANS = "/api/v1/plans/"
# A fixed clock in the middle of a window: the tests never straddle two windows.
NOW = 1_800_000_030.0
REDIS_TEST_URL = TEST_REDIS_URL


def rates(anon: str = "3/minute", user: str = "3/minute", api_key: str = "3/minute"):
    return override_settings(
        REST_FRAMEWORK={
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {"anon": anon, "user": user, "api_key": api_key},
        }
    )


@pytest.fixture
def clock(monkeypatch):
    """The throttles' clock, settable: ``clock.now``."""
    fake = SimpleNamespace(now=NOW)
    monkeypatch.setattr(throttling, "time", SimpleNamespace(time=lambda: fake.now))
    return fake


@pytest.fixture
def low_rates(clock):
    with rates():
        yield


def get(client: APIClient, **headers):
    return client.get(PLANS, **headers)


# --- The client's address -------------------------------------------------------------


def meta(remote_addr: str, forwarded_for: str | None = None):
    extra = {"REMOTE_ADDR": remote_addr}
    if forwarded_for is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded_for
    return RequestFactory().get("/", **extra)


@pytest.mark.parametrize(
    ("proxies", "remote_addr", "forwarded_for", "expected"),
    [
        # No trusted proxy (the default): X-Forwarded-For is never read.
        ([], "203.0.113.5", "198.51.100.1", "203.0.113.5"),
        # An untrusted peer's X-Forwarded-For is ignored.
        (["10.0.0.1"], "203.0.113.5", "198.51.100.1", "203.0.113.5"),
        # From the trusted proxy: the right-most address it was given.
        (["10.0.0.1"], "10.0.0.1", "198.51.100.1", "198.51.100.1"),
        # Whatever the client put in front of it is not believed.
        (["10.0.0.1"], "10.0.0.1", "1.1.1.1, 2.2.2.2, 198.51.100.1", "198.51.100.1"),
        # A chain of trusted proxies (a CIDR) is walked from the right.
        (["10.0.0.0/8"], "10.0.0.1", "6.6.6.6, 198.51.100.1, 10.2.0.3", "198.51.100.1"),
        (["10.0.0.0/8"], "10.0.0.1", "10.9.9.9, 10.2.0.3", "10.9.9.9"),
        # Ports and IPv6, as proxies write them.
        (["10.0.0.1"], "10.0.0.1", "198.51.100.1:51234", "198.51.100.1"),
        (["::1"], "::1", "[2001:db8::7]:443", "2001:db8::7"),
        (["10.0.0.1"], "::ffff:10.0.0.1", "2001:DB8::7", "2001:db8::7"),
        # No or unusable X-Forwarded-For from the proxy: the proxy itself.
        (["10.0.0.1"], "10.0.0.1", None, "10.0.0.1"),
        (["10.0.0.1"], "10.0.0.1", "unknown", "10.0.0.1"),
        (["10.0.0.1"], "10.0.0.1", "garbage, 198.51.100.1", "198.51.100.1"),
        # A peer that is not an IP address.
        (["10.0.0.1"], "", "198.51.100.1", None),
    ],
)
def test_client_address(proxies, remote_addr, forwarded_for, expected) -> None:
    with override_settings(TRUSTED_PROXIES=proxies):
        assert client_address(meta(remote_addr, forwarded_for)) == expected


def test_trusted_proxies_may_be_a_comma_separated_string() -> None:
    with override_settings(TRUSTED_PROXIES="10.0.0.1, 192.168.0.0/16"):
        assert client_address(meta("192.168.3.4", "198.51.100.1")) == "198.51.100.1"


def test_a_bad_trusted_proxy_is_a_configuration_error() -> None:
    from django.core.exceptions import ImproperlyConfigured

    with override_settings(TRUSTED_PROXIES=["10.0.0.300"]), pytest.raises(ImproperlyConfigured):
        client_address(meta("10.0.0.1"))


# --- Through the API --------------------------------------------------------------------


@pytest.mark.django_db
def test_rotating_x_forwarded_for_does_not_escape_the_anonymous_limit(api, low_rates) -> None:
    codes = [
        get(api, REMOTE_ADDR="203.0.113.5", HTTP_X_FORWARDED_FOR=f"198.51.100.{n}").status_code
        for n in range(10)
    ]
    assert codes == [200] * 3 + [429] * 7


@pytest.mark.django_db
def test_a_refusal_is_a_429_with_retry_after_in_the_error_envelope(api, low_rates, clock) -> None:
    for _ in range(3):
        assert get(api).status_code == 200
    response = get(api)
    assert response.status_code == 429
    assert response["Retry-After"] == "30"  # the window ends 30 s after NOW
    body = response.json()
    assert body["type"] == "client_error"
    assert [(error["code"], error["attr"]) for error in body["errors"]] == [("throttled", None)]
    # The next window is a fresh budget.
    clock.now += 30
    assert get(api).status_code == 200


@pytest.mark.django_db
def test_behind_a_trusted_proxy_each_client_has_its_own_budget(api, low_rates) -> None:
    def via_proxy(client_ip: str, spoofed: str = "6.6.6.6"):
        return get(
            api, REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=f"{spoofed}, {client_ip}"
        ).status_code

    with override_settings(TRUSTED_PROXIES=["10.0.0.1"]):
        assert [via_proxy("198.51.100.1") for _ in range(4)] == [200, 200, 200, 429]
        # Another client behind the same proxy: its own budget.
        assert [via_proxy("198.51.100.2") for _ in range(4)] == [200, 200, 200, 429]
        # Rotating what the client itself writes in front changes nothing.
        assert via_proxy("198.51.100.1", spoofed="7.7.7.7") == 429
        # The proxy's own requests (no X-Forwarded-For) are the proxy's.
        assert get(api, REMOTE_ADDR="10.0.0.1").status_code == 200


@pytest.mark.django_db
def test_a_key_a_user_and_an_address_each_have_their_own_budget(
    api, api_keys, staff_user, low_rates
) -> None:
    keyed = key_client(api_keys["read_key"])
    other_key = key_client(api_keys["rw_key"])
    user = client_for(staff_user)
    assert [get(keyed).status_code for _ in range(4)] == [200, 200, 200, 429]
    # The same address: another key, a user and anonymous callers are not affected.
    assert get(other_key).status_code == 200
    assert [get(user).status_code for _ in range(4)] == [200, 200, 200, 429]
    assert [get(api).status_code for _ in range(4)] == [200, 200, 200, 429]
    assert get(other_key).status_code == 200


@pytest.mark.django_db
def test_the_configured_rates_apply(api, clock) -> None:
    with rates(anon="2/hour"):
        assert [get(api).status_code for _ in range(3)] == [200, 200, 429]


def test_rates_are_parsed() -> None:
    assert throttling.parse_rate("600/minute") == (600, 60)
    assert throttling.parse_rate("5/s") == (5, 1)
    assert throttling.parse_rate("10/3600") == (10, 3600)
    from django.core.exceptions import ImproperlyConfigured

    for bad in ("600", "x/minute", "5/fortnight", "-1/minute"):
        with pytest.raises(ImproperlyConfigured):
            throttling.parse_rate(bad)


# --- Concurrency on Redis ----------------------------------------------------------------


@pytest.fixture
def redis_cache():
    """The default cache on a real Redis (``TEST_REDIS_URL``), emptied."""
    pytest.importorskip("django_redis")
    from django_redis import get_redis_connection
    from redis.exceptions import ConnectionError as RedisConnectionError

    caches = {"default": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": REDIS_TEST_URL}}
    with override_settings(CACHES=caches):
        connection = get_redis_connection("default")
        try:
            connection.flushdb()
        except RedisConnectionError:
            pytest.skip(f"no Redis at {REDIS_TEST_URL}")
        yield connection
        connection.flushdb()


def anonymous_request(address: str):
    return SimpleNamespace(META={"REMOTE_ADDR": address}, user=AnonymousUser(), auth=None)


def test_concurrent_requests_are_counted_exactly_on_redis(redis_cache, clock) -> None:
    threads, total, limit = 8, 200, 100
    start = threading.Barrier(threads)

    def worker(share: int) -> list[bool]:
        start.wait()
        request = anonymous_request("203.0.113.9")
        return [
            throttling.AnonymousRateThrottle().allow_request(request, None) for _ in range(share)
        ]

    with rates(anon=f"{limit}/minute"), ThreadPoolExecutor(threads) as pool:
        results = [ok for part in pool.map(worker, [total // threads] * threads) for ok in part]

    assert (results.count(True), results.count(False)) == (limit, total - limit)
    # One counter in Redis, with an expiry (a little over the window).
    (key,) = redis_cache.keys("*throttle:anon*")
    assert int(redis_cache.get(key)) == total
    assert 60 < redis_cache.ttl(key) <= 65
