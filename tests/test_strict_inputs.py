"""Strict inputs: writes take JSON only (a form or multipart body is a 415; the sheet import
alone takes multipart), a body field a write does not take is a 400 naming it, and so is a
query parameter a read does not take (``dxapi.strict``).

The writes are the rows of the permission matrix the secretariat may do
(``tests.test_permissions``); the reads are every GET of the OpenAPI schema.
"""

from urllib.parse import urlencode

import pytest
from django.urls import reverse
from drf_spectacular.generators import SchemaGenerator

from evaluations.exchange.exporter import TABLES
from evaluations.models import Evaluation, Job, KPIActual, Round
from initiatives.models import KPI, Department, Initiative, KPITarget, Pillar, PolicyArea
from tests.conftest import PLAN_CODE, error_attrs
from tests.helpers import finished_export_job, if_match, url
from tests.test_permissions import (
    MATRIX,
    headers_for,
    opinion_objects,
    request_for,
    webhook_objects,
)

# The matrix's writes the secretariat may do, with their current If-Match.
WRITES = [
    (name, method, case)
    for (name, method, case), expected in MATRIX.items()
    if method != "GET" and expected["secretariat"] < 300 and "If-Match" not in case
]
# Every write route and method, whatever the secretariat's outcome (409, 403) or If-Match.
WRITE_ROUTES = sorted(
    {
        (name, method, case)
        for (name, method, case), expected in MATRIX.items()
        if method != "GET" and expected["secretariat"] != 405 and "If-Match" not in case
    }
)
UNKNOWN = "colour"


@pytest.fixture
def write_objects(plan, draft, kpi89):
    """What the matrix's requests need: the plan runs to R8 (a round may be opened), the R7
    draft of No. 89 with a KPI actual, and a department nothing refers to."""
    plan.end_year = 2026
    plan.save(update_fields=["end_year"])
    return {
        "plan": plan,
        "draft": draft,
        "actual": KPIActual.objects.create(evaluation=draft, kpi=kpi89, value=10),
        "unused_department": Department.objects.create(
            plan=plan, code="unused", name="未使用部局", order=98
        ),
    }


def matrix_request(name, method, case, objects):
    path, body = request_for(name, method, case, **objects)
    headers = headers_for(name, method, case, draft=objects["draft"], actual=objects["actual"])
    return path, body, headers


@pytest.mark.parametrize(
    ("name", "method", "case"), WRITE_ROUTES, ids=[" ".join(w).strip() for w in WRITE_ROUTES]
)
@pytest.mark.parametrize("media", ["multipart", "form"])
def test_a_form_body_is_415(secretariat, write_objects, name, method, case, media):
    path, body, headers = matrix_request(name, method, case, write_objects)
    flat = {k: v for k, v in (body or {}).items() if v is not None and not isinstance(v, list)}
    flat = flat or {"title": "form"}
    if media == "multipart":
        response = getattr(secretariat, method.lower())(path, flat, format="multipart", **headers)
    else:
        response = secretariat.generic(
            method,
            path,
            urlencode(flat),
            content_type="application/x-www-form-urlencoded",
            **headers,
        )
    assert response.status_code == 415, response.content[:300]
    body = response.json()
    assert body["type"] == "client_error"
    assert [error["code"] for error in body["errors"]] == ["unsupported_media_type"]


WRITES_WITH_BODIES = [w for w in WRITES if w[1] != "DELETE"]


@pytest.mark.parametrize(
    ("name", "method", "case"),
    WRITES_WITH_BODIES,
    ids=[" ".join(w).strip() for w in WRITES_WITH_BODIES],
)
def test_an_unknown_body_field_is_400_and_the_write_without_it_succeeds(
    secretariat, write_objects, name, method, case
):
    path, body, headers = matrix_request(name, method, case, write_objects)
    send = getattr(secretariat, method.lower())
    # An action without a body (submit, approve, …) refuses any field, as others refuse theirs.
    response = send(path, {**(body or {}), UNKNOWN: "red"}, format="json", **headers)
    assert response.status_code == 400, response.content[:300]
    assert [(e["attr"], e["code"]) for e in response.json()["errors"]] == [
        (UNKNOWN, "unknown_field")
    ]
    response = send(path, body, format="json", **headers) if body else send(path, **headers)
    assert response.status_code < 300, response.content[:300]


def test_every_write_with_a_body_is_covered():
    covered = {(name, method) for name, method, _ in WRITES_WITH_BODIES}
    for route in (
        ("evaluation-detail", "PATCH"),
        ("evaluation-return-for-changes", "POST"),
        ("evaluation-reopen", "POST"),
        ("round-list", "POST"),
        ("kpi-actual-list", "POST"),
        ("kpi-actual-detail", "PATCH"),
    ):
        assert route in covered, route
    for basename in ("plan", "department", "pillar", "policy-area", "initiative", "kpi"):
        for method in ("PUT", "PATCH"):
            assert (f"{basename}-detail", method) in covered, (basename, method)
    assert ("kpi-target-list", "POST") in covered


def test_round_reopen_refuses_unknown_fields(secretariat, r7):
    response = secretariat.post(
        reverse("round-reopen", args=[r7.pk]), {"reason": "x", UNKNOWN: 1}, format="json"
    )
    assert (response.status_code, error_attrs(response)) == (400, [UNKNOWN])


def test_unknown_fields_inside_a_list_are_named(secretariat, plan):
    no_89 = Initiative.objects.get(plan=plan, number=89)
    kikaku = Department.objects.get(plan=plan, code="kikaku-shinko")
    response = secretariat.patch(
        reverse("initiative-detail", args=[no_89.pk]),
        {"departments": [{"department": kikaku.pk, "is_lead": True, UNKNOWN: "x"}]},
        format="json",
    )
    assert response.status_code == 400
    assert [(e["attr"], e["code"]) for e in response.json()["errors"]] == [
        (f"departments.0.{UNKNOWN}", "unknown_field")
    ]


def test_unknown_and_invalid_fields_are_named_together(secretariat, draft):
    response = secretariat.patch(
        url(draft), {"plan_text": 5, UNKNOWN: "x"}, format="json", **if_match(draft)
    )
    assert response.status_code == 400
    assert sorted(error_attrs(response)) == sorted(["plan_text", UNKNOWN])


def test_a_rating_is_cleared_with_json_null(secretariat, draft):
    draft.rating = "B"
    draft.save()
    response = secretariat.patch(url(draft), {"rating": None}, format="json", **if_match(draft))
    assert response.status_code == 200, response.json()
    draft.refresh_from_db()
    assert draft.rating is None


def test_the_sheet_import_still_takes_multipart_and_refuses_json(secretariat, r7):
    response = secretariat.post(
        reverse("progress-import"), {"plan": PLAN_CODE, "fiscal_year": "R7"}, format="json"
    )
    assert response.status_code == 415


def test_the_schema_documents_json_request_bodies_only():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            body = operation.get("requestBody") if isinstance(operation, dict) else None
            if body is None:
                continue
            expected = (
                ["multipart/form-data"]
                if path.endswith(("/imports/progress/", "/opinions/import/"))
                else ["application/json"]
            )
            assert list(body["content"]) == expected, (method, path)


# Reads: every GET of the schema (the live one; tests/test_schema.py keeps the committed
# openapi/schema.yaml equal to it).

SCHEMA = SchemaGenerator().get_schema(request=None, public=True)
READS = sorted(path for path, operations in SCHEMA["paths"].items() if "get" in operations)
# What a read needs to answer at all.
REQUIRED = {"plan": PLAN_CODE, "fiscal_year": "R6", "to_year": "R6"}
# Reads that are no generic views (no filter_queryset): dxapi.strict.StrictQueryMixin still
# has to be put in their bases (evaluations/api/aggregate_views.py AggregateView,
# evaluations/api/exchange_views.py template and export views, dxapi/history_api.py).


def query_parameters(path: str) -> list[str]:
    parameters = SCHEMA["paths"][path]["get"].get("parameters", [])
    return [p["name"] for p in parameters if p["in"] == "query"]


def concrete(path: str, plan) -> str:
    """``path`` with its path parameters filled in with records of the shipped plan."""
    models = {
        "departments": Department,
        "evaluations": Evaluation,
        "initiatives": Initiative,
        "kpi-actuals": KPIActual,
        "kpi-targets": KPITarget,
        "jobs": Job,
        "kpis": KPI,
        "pillars": Pillar,
        "policy-areas": PolicyArea,
        "rounds": Round,
    }
    if "{id}" in path:
        resource = path.split("/")[3]
        if resource == "jobs":
            finished_export_job(plan)
        if resource in ("webhooks", "webhook-deliveries"):
            r6 = Round.objects.get(plan=plan, fiscal_year=2024)
            ids = webhook_objects(plan, r6.evaluations.first())
            name = "webhook" if resource == "webhooks" else "webhook-delivery"
            return path.replace("{id}", str(ids[name]))
        if resource in ("opinions", "opinion-analyses"):
            ids = opinion_objects(plan, "")
            name = "opinion" if resource == "opinions" else "opinion-analysis"
            return path.replace("{id}", str(ids[name]))
    if "{receipt}" in path:
        return path.replace("{receipt}", opinion_objects(plan, "")["opinion-receipt"])
        pk = plan.pk if resource == "plans" else models[resource].objects.order_by("pk")[0].pk
        path = path.replace("{id}", str(pk))
    return path.replace("{code}", plan.code).replace("{table}", next(iter(TABLES)))


def required_for(path: str) -> dict[str, str]:
    return {name: REQUIRED[name] for name in query_parameters(path) if name in REQUIRED}


def strict_read(path: str):
    marks = []
    return pytest.param(path, marks=marks, id=path)


@pytest.mark.parametrize("path", [strict_read(path) for path in READS])
def test_an_unknown_query_parameter_is_400_naming_it(secretariat, r7, plan, path):
    response = secretariat.get(concrete(path, plan), {**required_for(path), UNKNOWN: "red"})
    assert response.status_code == 400, response.content[:300]
    assert [(e["attr"], e["code"]) for e in response.json()["errors"]] == [
        (UNKNOWN, "unknown_parameter")
    ]


DOCUMENTED = [(path, name) for path in READS for name in query_parameters(path)]
VALUES = {"plan": PLAN_CODE, "fiscal_year": "R6", "to_year": "R6", "from_year": "R5"}


@pytest.mark.parametrize(("path", "name"), DOCUMENTED, ids=[f"{p} {n}" for p, n in DOCUMENTED])
def test_every_documented_query_parameter_is_taken(secretariat, r7, plan, path, name):
    value = {"format": "json", "pagination": "page", "ordering": "-id"}.get(
        name, VALUES.get(name, "1")
    )
    response = secretariat.get(concrete(path, plan), {**required_for(path), name: value})
    if response.status_code >= 400 and response["Content-Type"].startswith("application/json"):
        codes = [error.get("code") for error in response.json().get("errors", [])]
        assert "unknown_parameter" not in codes, response.content[:300]


def test_kpis_with_an_unknown_filter_are_refused_not_all_returned(api):
    response = api.get("/api/v1/kpis/", {UNKNOWN: "red"})
    assert response.status_code == 400
    assert error_attrs(response) == [UNKNOWN]


def test_search_is_unknown_where_a_list_does_not_search(api):
    response = api.get(reverse("pillar-list"), {"search": "x"})
    assert (response.status_code, error_attrs(response)) == (400, ["search"])
    assert api.get(reverse("initiative-list"), {"search": "x"}).status_code == 200


def test_a_detail_refuses_list_parameters(api, plan):
    response = api.get(reverse("plan-detail", args=[plan.pk]), {"page": "1"})
    assert (response.status_code, error_attrs(response)) == (400, ["page"])
