"""Production settings: `check --deploy` is clean, health endpoints answer, CORS is limited
to the configured origins, request bodies are bounded."""

import os
import secrets

import pytest
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
