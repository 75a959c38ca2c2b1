"""Production settings: `check --deploy` is clean, health endpoints answer, CORS is limited
to the configured origins, request bodies are bounded."""

import json
import os
import secrets
import subprocess
import sys

import pytest
from django.conf import settings
from django.test import override_settings

from tests.helpers import run_manage


def test_check_deploy_is_clean_with_debug_off() -> None:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DEBUG", "DJANGO_SETTINGS_MODULE", "DATABASE_URL")
    }
    env.update(
        SECRET_KEY=secrets.token_urlsafe(60),
        ALLOWED_HOSTS="dx.example.jp",
        DJANGO_SETTINGS_MODULE="dxapi.settings",
        REDIS_URL="redis://127.0.0.1:6379/7",  # not connected to by `check`
    )
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_settings_refuse_to_start_without_a_secret_when_debug_is_off() -> None:
    env = {key: value for key, value in os.environ.items() if key not in ("DEBUG", "SECRET_KEY")}
    env["DJANGO_SETTINGS_MODULE"] = "dxapi.settings"
    result = run_manage("check", env=env)
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


# Prints what the tests below pin of ``dxapi.settings`` read in a fresh process.
SETTINGS_PROBE = """
import json
from dxapi import settings
database = settings.DATABASES["default"]
print(json.dumps({
    "cache": settings.CACHES["default"]["BACKEND"],
    "health_checks": database["CONN_HEALTH_CHECKS"],
    "max_age": database["CONN_MAX_AGE"],
    "pool": database.get("OPTIONS", {}).get("pool"),
    "api_key_cache_seconds": settings.API_KEY_CACHE_SECONDS,
}))
"""
PRODUCTION_KEYS = ("DEBUG", "REDIS_URL", "ALLOW_LOCAL_CACHE", "DJANGO_SETTINGS_MODULE")


def read_settings(**overrides: str) -> subprocess.CompletedProcess[str]:
    """Import ``dxapi.settings`` in a subprocess: the environment less the production keys
    (DEBUG off, no Redis), with a secret and ``overrides``."""
    env = {key: value for key, value in os.environ.items() if key not in PRODUCTION_KEYS}
    env.update(SECRET_KEY=secrets.token_urlsafe(60), **overrides)
    return subprocess.run(
        [sys.executable, "-c", SETTINGS_PROBE],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def settings_read(**overrides: str) -> dict:
    result = read_settings(**overrides)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_production_refuses_to_start_without_a_shared_cache() -> None:
    result = read_settings()
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "REDIS_URL must be set" in result.stderr


@pytest.mark.parametrize(
    ("overrides", "backend"),
    [
        ({"REDIS_URL": "redis://127.0.0.1:6379/7"}, "django_redis.cache.RedisCache"),
        ({"ALLOW_LOCAL_CACHE": "1"}, "django.core.cache.backends.locmem.LocMemCache"),
        ({"DEBUG": "1"}, "django.core.cache.backends.locmem.LocMemCache"),
    ],
)
def test_the_cache_is_redis_or_a_local_cache_accepted_explicitly(overrides, backend) -> None:
    assert settings_read(**overrides)["cache"] == backend


def test_api_keys_are_cached_for_a_minute_unless_configured() -> None:
    assert settings_read(DEBUG="1")["api_key_cache_seconds"] == 60
    assert settings_read(DEBUG="1", API_KEY_CACHE_SECONDS="5")["api_key_cache_seconds"] == 5


def test_the_pool_checks_connections_by_their_lifetimes_not_a_ping_per_checkout() -> None:
    pooled = settings_read(
        DEBUG="1", DATABASE_URL="postgres://postgres@127.0.0.1:5432/h_light_probe"
    )
    assert pooled["health_checks"] is False
    assert pooled["max_age"] == 0
    assert "check" not in pooled["pool"]
    assert pooled["pool"]["max_idle"] == 300
    assert pooled["pool"]["max_lifetime"] == 1800

    unpooled = settings_read(
        DEBUG="1",
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/h_light_probe",
        DATABASE_POOL_MAX_SIZE="0",
    )
    assert unpooled["health_checks"] is True  # persistent connections, checked by Django
    assert unpooled["pool"] is None


@pytest.mark.django_db
def test_health_endpoints(client) -> None:
    assert client.get("/health/live").json() == {"status": "ok"}
    assert client.get("/health/ready").json() == {"status": "ok", "database": "up"}


@pytest.mark.django_db
@override_settings(CORS_ALLOWED_ORIGINS=["https://dx-front.example.jp"])
def test_cors_only_for_configured_origins(client) -> None:
    allowed = client.get("/api/v1/plans/", HTTP_ORIGIN="https://dx-front.example.jp")
    other = client.get("/api/v1/plans/", HTTP_ORIGIN="https://evil.example.com")

    assert allowed["Access-Control-Allow-Origin"] == "https://dx-front.example.jp"
    assert "Access-Control-Allow-Origin" not in other


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1024)
def test_oversized_bodies_are_refused(admin_client, plan) -> None:
    def post(padding: int):
        # The size lies in the fiscal year's text: a long one is read and refused as a year.
        body = f'{{"plan": {plan.pk}, "fiscal_year": "R6{" " * padding}"}}'
        return admin_client.post("/api/v1/rounds/", data=body, content_type="application/json")

    assert post(10).status_code == 409  # read and answered: R6 exists already
    refused = post(4096)
    assert refused.status_code == 413  # refused before it is read
    assert refused.json()["errors"][0]["code"] == "request_too_large"


def test_health_endpoints_answer_plain_http_probes_behind_the_tls_redirect(db) -> None:
    """A load balancer probes over plain HTTP; everything else is redirected to HTTPS."""
    from django.test import Client, override_settings

    with override_settings(SECURE_SSL_REDIRECT=True):
        client = Client()
        assert client.get("/health/live").status_code == 200
        assert client.get("/health/ready").status_code == 200
        assert client.get("/api/v1/plans/").status_code == 301


def test_the_browsable_api_is_off_without_debug(client, plan) -> None:
    response = client.get("/api/v1/plans/", HTTP_ACCEPT="text/html,*/*;q=0.8")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
