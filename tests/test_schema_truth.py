"""The committed OpenAPI schema tells clients what the API really sends, and stays small
enough for client generators (openapi-python-client, openapi-typescript: see clients/)."""

import json
from pathlib import Path

import pytest
import yaml
from django.conf import settings

SCHEMA = Path(settings.BASE_DIR) / "openapi" / "schema.yaml"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
METHODS = {"get", "put", "patch", "post", "delete", "head", "options", "trace"}


@pytest.fixture(scope="module")
def schema() -> dict:
    return yaml.load(SCHEMA.read_bytes(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def operations(schema: dict):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield method, path, operation


def response(schema: dict, answer: dict) -> dict:
    ref = answer.get("$ref", "")
    return schema["components"]["responses"][ref.rsplit("/", 1)[1]] if ref else answer


def test_the_report_is_described_in_each_of_its_formats(schema: dict) -> None:
    content = schema["paths"]["/api/v1/reports/yearly/"]["get"]["responses"]["200"]["content"]
    assert content["application/json"]["schema"] == {"$ref": "#/components/schemas/Report"}
    assert content["text/html"]["schema"] == {"type": "string"}
    assert content["text/csv"]["schema"] == {"type": "string"}
    assert content[XLSX]["schema"] == {"type": "string", "format": "binary"}


def test_downloads_are_text_or_binary_as_they_are(schema: dict) -> None:
    paths = schema["paths"]
    template = paths["/api/v1/templates/progress/"]["get"]["responses"]["200"]["content"]
    assert template[XLSX]["schema"] == {"type": "string", "format": "binary"}
    assert template["text/csv"]["schema"] == {"type": "string"}
    for method, path, operation in operations(schema):
        for media_type, media in operation["responses"].get("200", {}).get("content", {}).items():
            if media_type == "text/csv":
                assert media["schema"] == {"type": "string"}, f"{method} {path}"


def test_the_report_types_its_plan_status_and_ratings(schema: dict) -> None:
    components = schema["components"]["schemas"]
    report = components["Report"]["properties"]
    assert report["plan"] == {"$ref": "#/components/schemas/ReportPlan"}
    assert report["round_status"] == {"$ref": "#/components/schemas/RoundStatusEnum"}
    rating = components["ReportInitiativeRow"]["properties"]["rating"]
    refs = {member["$ref"].rsplit("/", 1)[1] for member in rating["oneOf"]}
    assert "RatingEnum" in refs and "NullEnum" in refs
    assert components["RatingEnum"]["enum"] == ["A", "B", "C", "-"]


def test_history_values_are_typed(schema: dict) -> None:
    change = schema["components"]["schemas"]["FieldChange"]["properties"]
    for side in ("old", "new"):
        assert {"type": "boolean"} in change[side]["oneOf"]
        assert change[side]["nullable"] is True


def test_names_generated_clients_derive_are_ascii(schema: dict) -> None:
    components = schema["components"]["schemas"]
    assert all(name.isascii() for name in components)
    assert {
        "RatingEnum",
        "EvaluationStatusEnum",
        "RoundStatusEnum",
        "KPIDirectionEnum",
    } <= set(components)
    titles = []

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("title"), str):
                titles.append(node["title"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    assert all(title.isascii() for title in titles)


def test_enum_members_have_names(schema: dict) -> None:
    statuses = {
        parameter["name"]: parameter["schema"]
        for parameter in schema["paths"]["/api/v1/evaluations/"]["get"]["parameters"]
    }
    assert statuses["rating"]["x-enum-varnames"] == ["BLANK", "NOT_RATED", "A", "B", "C"]


# The one write open to anonymous callers: a citizen sending an opinion.
PUBLIC_WRITES = {("post", "/api/v1/opinions/")}


def test_public_reads_allow_anonymous_calls(schema: dict) -> None:
    for path in ("/api/v1/plans/", "/api/v1/aggregates/ratings/", "/api/v1/reports/yearly/"):
        assert {} in schema["paths"][path]["get"]["security"], path
    for method, path, operation in operations(schema):
        if method != "get":
            public = {} in operation.get("security", [{}])
            assert public == ((method, path) in PUBLIC_WRITES), f"{method} {path}"


def test_precondition_errors_have_the_error_envelope(schema: dict) -> None:
    patch = schema["paths"]["/api/v1/evaluations/{id}/"]["patch"]["responses"]
    for code in ("412", "428"):
        body = response(schema, patch[code])["content"]["application/json"]["schema"]
        assert body == {"$ref": "#/components/schemas/ClientErrorResponse"}


def test_error_bodies_are_json_and_validation_codes_are_listed(schema: dict) -> None:
    for method, path, operation in operations(schema):
        for code, answer in operation["responses"].items():
            if code.startswith("4"):
                content = response(schema, answer).get("content", {})
                assert set(content) <= {"application/json"}, f"{method} {path} {code}"
    rounds = schema["paths"]["/api/v1/rounds/"]["post"]["responses"]["400"]
    assert "`fiscal_year`" in rounds["description"] and "`invalid`" in rounds["description"]
    detail = schema["components"]["schemas"]["ValidationErrorDetail"]["properties"]
    assert detail["code"]["type"] == "string" and "enum" not in detail["code"]


def test_request_bodies_are_json(schema: dict) -> None:
    for method, path, operation in operations(schema):
        content = operation.get("requestBody", {}).get("content", {})
        if "application/json" in content:
            assert list(content) == ["application/json"], f"{method} {path}"


def test_the_schema_stays_small(schema: dict) -> None:
    """Small for its size: a budget per operation, so that a new endpoint is welcome but a
    schema that repeats itself (errors inlined per operation, components per serializer
    variant) is not. 72 operations took 241 KB and 146 components (3.3 KB and 2.0 each)."""
    count = len(list(operations(schema)))
    assert SCHEMA.stat().st_size < 3_600 * count
    assert len(schema["components"]["schemas"]) < 2.2 * count
    assert "ErrorComponent" not in json.dumps(list(schema["components"]["schemas"]))
