"""The committed OpenAPI schema (openapi/schema.yaml) is the one the code generates.

The schema is generated in a subprocess with the documented command and without
``DATABASE_URL``: drf-spectacular derives integer bounds from the database backend
(``maximum: 32767`` for a positive small integer on PostgreSQL, 2**63-1 on SQLite), so an
in-process generation would give a different file on each database.
"""

import os
from pathlib import Path

import pytest
import yaml
from django.conf import settings

from tests.helpers import run_manage

REGENERATE = (
    "DJANGO_SETTINGS_MODULE=dxapi.test_settings "
    "python manage.py spectacular --file openapi/schema.yaml"
)
COMMITTED = Path(settings.BASE_DIR) / "openapi" / "schema.yaml"
METHODS = {"get", "put", "patch", "post", "delete", "head", "options", "trace"}


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> bytes:
    target = tmp_path_factory.mktemp("schema") / "schema.yaml"
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    env["DJANGO_SETTINGS_MODULE"] = "dxapi.test_settings"
    result = run_manage(
        "spectacular", "--file", str(target), "--validate", "--fail-on-warn", env=env
    )
    assert result.returncode == 0, (
        f"Schema generation failed or warned:\n{result.stdout}\n{result.stderr}"
    )
    return target.read_bytes()


@pytest.fixture(scope="module")
def schema(generated: bytes) -> dict:
    return yaml.load(generated, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def test_committed_schema_is_up_to_date(generated: bytes) -> None:
    assert COMMITTED.exists(), f"openapi/schema.yaml is missing: run `{REGENERATE}`."
    assert generated == COMMITTED.read_bytes(), (
        f"openapi/schema.yaml is out of date: run `{REGENERATE}` and commit the result."
    )


def operations(schema: dict):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield f"{method.upper()} {path}", operation


def test_every_operation_has_a_summary_and_a_description(schema: dict) -> None:
    found = dict(operations(schema))
    assert len(found) >= 21
    missing = [
        name
        for name, operation in found.items()
        if not operation.get("summary", "").strip() or not operation.get("description", "").strip()
    ]
    assert missing == []


def test_schema_documents_the_read_api(schema: dict) -> None:
    for endpoint in (
        "plans",
        "departments",
        "pillars",
        "policy-areas",
        "initiatives",
        "kpis",
        "rounds",
        "evaluations",
        "kpi-actuals",
    ):
        assert "get" in schema["paths"][f"/api/v1/{endpoint}/"]
        assert "get" in schema["paths"][f"/api/v1/{endpoint}/{{id}}/"]
    for aggregate in ("ratings", "transitions", "trend"):
        assert "get" in schema["paths"][f"/api/v1/aggregates/{aggregate}/"]
    parameters = {
        parameter["name"]
        for parameter in schema["paths"]["/api/v1/initiatives/"]["get"]["parameters"]
    }
    assert {"plan", "fiscal_year", "rating", "department", "page", "page_size"} <= parameters


def test_schema_endpoint_serves_the_schema(api) -> None:
    response = api.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    assert "/api/v1/initiatives/" in response.json()["paths"]


def test_errors_inside_nested_fields_are_described_as_the_api_names_them(schema: dict) -> None:
    """The API names errors inside lists by index (``departments.0.department``); the 400
    response lists their codes as ``departments.<n>.department``, not with
    drf-standardized-errors' ``INDEX``."""
    response = schema["paths"]["/api/v1/initiatives/"]["post"]["responses"]["400"]
    assert "`departments.<n>.department`" in response["description"]
    assert "INDEX" not in str(schema["paths"])
    assert response["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorResponse400"
    }
