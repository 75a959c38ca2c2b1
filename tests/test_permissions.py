"""Who may do what: one permission matrix walked by one parametrized test, a completeness
check against the router, and object-level attacks (other departments, filters, aggregates,
bad API keys, structure writes).

Every refused or missing credential (anonymous write; expired, revoked, malformed, tampered or
empty key) is 401 with ``WWW-Authenticate: Api-Key``: the first authentication class is
``initiatives.authentication.ApiKeyAuthentication``, whose challenge DRF sends.

The plan's structure (plans, departments, pillars, policy areas, initiatives, KPIs, KPI
targets) is changed by the plan's secretariat only (``initiatives.services``): API keys and
department members get 403, creating or deleting a plan needs a superuser, and deleting
something still referenced is 409 with nothing deleted.
"""

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from evaluations.api.urls import router as cycle_router
from evaluations.models import (
    AnalysisState,
    Evaluation,
    EvaluationStatus,
    Event,
    NotificationKind,
    NotificationPreference,
    Opinion,
    OpinionAnalysis,
    Round,
    WebhookDelivery,
    WebhookSubscription,
)
from initiatives.api.urls import router as structure_router
from initiatives.models import (
    KPI,
    ApiKey,
    Department,
    KPITarget,
    Pillar,
    Plan,
    PolicyArea,
)
from tests.conftest import PLAN_CODE, error_attrs, initiative
from tests.helpers import PLAN_MODELS, finished_export_job, if_match, key_client, open_r7

# The API routes of both apps.
REGISTRY = [*structure_router.registry, *cycle_router.registry]
ROUTE_URLS = [*structure_router.urls, *cycle_router.urls]

ROLES = (
    "anonymous",
    "viewer",
    "editor",
    "other_editor",
    "secretariat",
    "read_key",
    "rw_key",
    "bound_key",
    "secretariat_key",
)


def every(status: int) -> dict[str, int]:
    return dict.fromkeys(ROLES, status)


def roles(default: int, **overrides: int) -> dict[str, int]:
    """Each role gets ``default`` unless overridden; a secretariat key gets what the
    secretariat user gets (a key of a role may do what a user of that role may)."""
    assert set(overrides) <= set(ROLES)
    if "secretariat" in overrides:
        overrides.setdefault("secretariat_key", overrides["secretariat"])
    return every(default) | overrides


def structure(secretariat: int) -> dict[str, int]:
    """A structure write: anonymous 401, the plan's secretariat (user or key)
    ``secretariat``, everyone else 403."""
    return roles(403, anonymous=401, secretariat=secretariat)


def precondition(status: int) -> dict[str, int]:
    """An editor's versioned write whose ``If-Match`` is missing or wrong: anonymous 401
    (authentication comes first), 404 for those who cannot see the record, 403 for a
    department viewer (permission comes before the precondition) and ``status`` for everyone
    else who may write it."""
    return roles(status, anonymous=401, viewer=403, other_editor=404, read_key=404)


def review_precondition(status: int) -> dict[str, int]:
    """A review action (secretariat only) whose ``If-Match`` is missing or wrong."""
    return roles(403, anonymous=401, secretariat=status, other_editor=404, read_key=404)


# (URL name, method, case) -> {role: expected status}. The object of the detail routes is the
# R7 (open round) draft evaluation of No. 89 (企画振興部), its KPI actual and that KPI, its R7
# round, the plan, No. 89 (No. 1 for DELETE), its policy area, pillar 1, the KPI's FY2024
# target and an unused department created for the test. ``case`` tells apart two requests to
# the same route and method.
MATRIX: dict[tuple[str, str, str], dict[str, int]] = {
    ("evaluation-list", "GET", ""): every(200),
    ("evaluation-detail", "GET", ""): roles(200, anonymous=404, read_key=404, other_editor=404),
    ("evaluation-detail", "PATCH", ""): roles(
        200, anonymous=401, viewer=403, other_editor=404, read_key=404
    ),
    ("evaluation-detail", "PATCH", "If-Match *"): roles(
        200, anonymous=401, viewer=403, other_editor=404, read_key=404
    ),
    # Visibility (404), then permission (403), then If-Match (428 / 412).
    ("evaluation-detail", "PATCH", "no If-Match"): precondition(428),
    ("evaluation-detail", "PATCH", "stale If-Match"): precondition(412),
    ("evaluation-detail", "PATCH", "If-Match of another record"): precondition(412),
    ("evaluation-detail", "DELETE", ""): roles(405, anonymous=401),
    ("evaluation-submit", "POST", ""): roles(
        200, anonymous=401, viewer=403, other_editor=404, read_key=404
    ),
    ("evaluation-submit", "POST", "no If-Match"): precondition(428),
    ("evaluation-submit", "POST", "stale If-Match"): precondition(412),
    ("evaluation-approve", "POST", ""): roles(
        403, anonymous=401, secretariat=200, other_editor=404, read_key=404
    ),
    ("evaluation-approve", "POST", "no If-Match"): review_precondition(428),
    ("evaluation-approve", "POST", "stale If-Match"): review_precondition(412),
    ("evaluation-return-for-changes", "POST", ""): roles(
        403, anonymous=401, secretariat=200, other_editor=404, read_key=404
    ),
    ("evaluation-return-for-changes", "POST", "no If-Match"): review_precondition(428),
    ("evaluation-return-for-changes", "POST", "stale If-Match"): review_precondition(412),
    ("evaluation-reopen", "POST", ""): roles(
        403, anonymous=401, secretariat=200, other_editor=404, read_key=404
    ),
    ("evaluation-reopen", "POST", "no If-Match"): review_precondition(428),
    ("evaluation-reopen", "POST", "stale If-Match"): review_precondition(412),
    # A job the department editor started (an export): its own, and its plan's secretariat's.
    ("job-list", "GET", ""): roles(200, anonymous=401),
    ("job-detail", "GET", ""): roles(
        404, anonymous=401, editor=200, secretariat=200, secretariat_key=200
    ),
    ("job-detail", "DELETE", ""): roles(405, anonymous=401),
    ("job-file", "GET", ""): roles(404, anonymous=401, editor=200, secretariat=200),
    # The event feed (each sees the events of what it may see), and the plan's webhooks: the
    # secretariat's alone (others see none: 404; may not create one: 403).
    ("event-list", "GET", ""): every(200),
    ("webhook-list", "GET", ""): roles(200, anonymous=401),
    ("webhook-list", "POST", ""): roles(403, anonymous=401, secretariat=201),
    ("webhook-detail", "GET", ""): roles(404, anonymous=401, secretariat=200),
    ("webhook-detail", "PATCH", ""): roles(404, anonymous=401, secretariat=200),
    ("webhook-detail", "DELETE", ""): roles(404, anonymous=401, secretariat=204),
    ("webhook-rotate-secret", "POST", ""): roles(404, anonymous=401, secretariat=200),
    ("webhook-delivery-list", "GET", ""): roles(200, anonymous=401),
    ("webhook-delivery-detail", "GET", ""): roles(404, anonymous=401, secretariat=200),
    ("webhook-delivery-redeliver", "POST", ""): roles(404, anonymous=401, secretariat=202),
    # The caller's own notification preferences: users only, no API key.
    ("me-notifications", "GET", ""): roles(
        200, anonymous=401, read_key=403, rw_key=403, bound_key=403, secretariat_key=403
    ),
    ("me-notifications", "PUT", ""): roles(
        200, anonymous=401, read_key=403, rw_key=403, bound_key=403, secretariat_key=403
    ),
    # Citizens' opinions: anyone sends one but API keys; the secretariat reads and moderates
    # them all; a department reads those about its initiatives (the object is about No. 89).
    ("opinion-list", "GET", ""): roles(200, anonymous=401),
    ("opinion-list", "POST", ""): roles(
        201, read_key=403, rw_key=403, bound_key=403, secretariat_key=403
    ),
    ("opinion-detail", "GET", ""): roles(200, anonymous=401, other_editor=404, read_key=404),
    ("opinion-detail", "PATCH", ""): roles(
        403, anonymous=401, secretariat=200, other_editor=404, read_key=404
    ),
    ("opinion-detail", "PATCH", "no If-Match"): roles(
        403, anonymous=401, secretariat=428, other_editor=404, read_key=404
    ),
    ("opinion-detail", "DELETE", ""): roles(405, anonymous=401),
    ("opinion-import-template", "GET", ""): roles(200, anonymous=401),
    ("opinion-history", "GET", ""): roles(200, anonymous=401, other_editor=404, read_key=404),
    # What became of an opinion: for whoever holds its receipt number.
    ("opinion-receipt-detail", "GET", ""): every(200),
    # Analyses: run, published and withdrawn by the secretariat; an unpublished one is its
    # alone (404 for others); a published one is everyone's to read.
    ("opinion-analysis-list", "GET", ""): every(200),
    ("opinion-analysis-list", "POST", ""): roles(403, anonymous=401, secretariat=202),
    ("opinion-analysis-detail", "GET", ""): roles(404, secretariat=200),
    ("opinion-analysis-result", "GET", ""): roles(404, secretariat=200),
    ("opinion-analysis-page", "GET", ""): roles(404, secretariat=200),
    ("opinion-analysis-result", "GET", "published"): every(200),
    ("opinion-analysis-publish", "POST", ""): roles(404, anonymous=401, secretariat=200),
    ("opinion-analysis-unpublish", "POST", "published"): roles(403, anonymous=401, secretariat=200),
    ("round-list", "GET", ""): every(200),
    ("round-list", "POST", ""): roles(403, anonymous=401, secretariat=201),
    ("round-detail", "GET", ""): roles(200, anonymous=404, read_key=404),
    # Its due dates: the plan's secretariat. Its dashboard: the same (404 where not visible).
    ("round-detail", "PATCH", ""): roles(403, anonymous=401, secretariat=200, read_key=404),
    ("round-dashboard", "GET", ""): roles(403, anonymous=404, secretariat=200, read_key=404),
    ("round-close", "POST", ""): roles(403, secretariat=200, anonymous=401, read_key=404),
    ("round-publish", "POST", ""): roles(403, anonymous=401, secretariat=409, read_key=404),
    # An open round cannot be reopened: 409 naming its state.
    ("round-reopen", "POST", ""): roles(403, anonymous=401, secretariat=409, read_key=404),
    ("kpi-actual-list", "GET", ""): every(200),
    ("kpi-actual-list", "POST", ""): roles(
        201, anonymous=401, viewer=403, other_editor=404, read_key=404
    ),
    ("kpi-actual-detail", "GET", ""): roles(200, anonymous=404, read_key=404, other_editor=404),
    ("kpi-actual-detail", "PATCH", ""): roles(
        200, anonymous=401, viewer=403, other_editor=404, read_key=404
    ),
    ("kpi-actual-detail", "PATCH", "no If-Match"): precondition(428),
    ("kpi-actual-detail", "PATCH", "stale If-Match"): precondition(412),
    ("kpi-actual-detail", "PATCH", "If-Match of another record"): precondition(412),
    ("kpi-actual-detail", "DELETE", ""): roles(
        204, anonymous=401, viewer=403, other_editor=404, read_key=404
    ),
    ("kpi-actual-detail", "DELETE", "If-Match *"): roles(
        204, anonymous=401, viewer=403, other_editor=404, read_key=404
    ),
    ("kpi-actual-detail", "DELETE", "no If-Match"): precondition(428),
    ("kpi-actual-detail", "DELETE", "stale If-Match"): precondition(412),
    # Structure. Creating a plan needs a superuser; so does deleting one.
    ("plan-list", "GET", ""): every(200),
    ("plan-list", "POST", ""): structure(403),
    ("plan-detail", "GET", ""): every(200),
    ("plan-detail", "PUT", ""): structure(200),
    ("plan-detail", "PATCH", ""): structure(200),
    ("plan-detail", "DELETE", ""): structure(403),
    ("department-list", "GET", ""): every(200),
    ("department-list", "POST", ""): structure(201),
    ("department-detail", "GET", ""): every(200),
    ("department-detail", "PUT", ""): structure(200),
    ("department-detail", "PATCH", ""): structure(200),
    ("department-detail", "DELETE", "unused"): structure(204),
    ("pillar-list", "GET", ""): every(200),
    ("pillar-list", "POST", ""): structure(201),
    ("pillar-detail", "GET", ""): every(200),
    ("pillar-detail", "PUT", ""): structure(200),
    ("pillar-detail", "PATCH", ""): structure(200),
    ("pillar-detail", "DELETE", "with policy areas"): structure(409),
    ("policy-area-list", "GET", ""): every(200),
    ("policy-area-list", "POST", ""): structure(201),
    ("policy-area-detail", "GET", ""): every(200),
    ("policy-area-detail", "PUT", ""): structure(200),
    ("policy-area-detail", "PATCH", ""): structure(200),
    ("policy-area-detail", "DELETE", "with initiatives"): structure(409),
    ("initiative-list", "GET", ""): every(200),
    ("initiative-list", "POST", ""): structure(201),
    ("initiative-detail", "GET", ""): every(200),
    ("initiative-detail", "PUT", ""): structure(200),
    ("initiative-detail", "PATCH", "title"): structure(200),
    ("initiative-detail", "PATCH", "departments"): structure(200),
    ("initiative-detail", "DELETE", "No. 1, with evaluations"): structure(409),
    ("kpi-list", "GET", ""): every(200),
    ("kpi-list", "POST", ""): structure(201),
    ("kpi-detail", "GET", ""): every(200),
    ("kpi-detail", "PUT", ""): structure(200),
    ("kpi-detail", "PATCH", ""): structure(200),
    ("kpi-detail", "DELETE", "with actuals"): structure(409),
    ("kpi-target-list", "GET", ""): every(200),
    ("kpi-target-list", "POST", "new fiscal year"): structure(201),
    ("kpi-target-detail", "GET", ""): every(200),
    ("kpi-target-detail", "PUT", ""): structure(200),
    ("kpi-target-detail", "PATCH", ""): structure(200),
    ("kpi-target-detail", "DELETE", ""): structure(204),
}

# Every table a matrix request may write to: a refused write must leave them all as they
# were, an accepted one must change at least one of them.
WRITABLE = (
    *PLAN_MODELS,
    NotificationPreference,
    WebhookSubscription,
    WebhookDelivery,
    Opinion,
    OpinionAnalysis,
)


def snapshot() -> dict[str, list[dict]]:
    return {model.__name__: list(model.objects.order_by("pk").values()) for model in WRITABLE}


@pytest.fixture
def clients(plan, viewer, editor, other_editor, secretariat, key_clients) -> dict[str, APIClient]:
    return {
        "anonymous": APIClient(),
        "viewer": viewer,
        "editor": editor,
        "other_editor": other_editor,
        "secretariat": secretariat,
        **key_clients,
    }


@pytest.fixture
def r7(plan, clients) -> Round:
    """R7 opened through the API by the secretariat (the plan is extended to R8)."""
    return open_r7(clients["secretariat"], plan, end_year=2026)


@pytest.fixture
def unused_department(plan) -> Department:
    """A department nothing refers to (every shipped one is responsible for initiatives)."""
    return Department.objects.create(plan=plan, code="unused", name="未使用部局", order=98)


def basename_of(name: str) -> str:
    return max((b for _, _, b in REGISTRY if name.startswith(b + "-")), key=len)


def editors_job(plan):
    """A finished export job that the department editor (kikaku-editor) started."""
    return finished_export_job(plan, requested_by=User.objects.get(username="kikaku-editor"))


def webhook_objects(plan, draft) -> dict[str, int]:
    """A webhook of the plan and a delivery of it, sent already."""
    subscription = WebhookSubscription.objects.create(
        plan=plan, url="https://93.184.215.14/hook", secret_salt="matrix"
    )
    event = Event.objects.create(kind="round.opened", plan=plan, round=draft.round)
    delivery = WebhookDelivery.objects.create(
        subscription=subscription, event=event, webhook_id="msg_matrix", state="succeeded"
    )
    return {"webhook": subscription.pk, "webhook-delivery": delivery.pk}


def opinion_objects(plan, case: str) -> dict[str, int]:
    """An opinion about No. 89 (企画振興部's), and a finished analysis (published if the
    ``case`` says so)."""
    opinion = Opinion.objects.create(
        plan=plan,
        body="マトリクスの意見です。",
        original_body="マトリクスの意見です。",
        initiative=initiative(89),
        body_digest="matrix",
    )
    analysis = OpinionAnalysis.objects.create(
        plan=plan,
        title="matrix",
        state=AnalysisState.SUCCEEDED,
        is_published=case == "published",
    )
    return {
        "opinion": opinion.pk,
        "opinion-analysis": analysis.pk,
        "opinion-receipt": str(opinion.receipt),
    }


def request_for(name: str, method: str, case: str, *, plan, draft, actual, unused_department):
    """The URL and body of a matrix row, after putting the object in the state it needs."""
    if name.startswith("evaluation-"):
        draft.rating = "B"
        if name == "evaluation-reopen":
            draft.status = EvaluationStatus.APPROVED
        elif name in ("evaluation-approve", "evaluation-return-for-changes"):
            draft.status = EvaluationStatus.SUBMITTED
        draft.save()
    no_89 = initiative(89)
    kpi = actual.kpi
    target = KPITarget.objects.get(kpi=kpi, fiscal_year=2024)
    pillar = Pillar.objects.get(plan=plan, order=1)
    area = no_89.policy_area
    kikaku = Department.objects.get(plan=plan, code="kikaku-shinko")
    somu = Department.objects.get(plan=plan, code="somu")
    objects = {
        "evaluation": draft.pk,
        "round": draft.round_id,
        "kpi-actual": actual.pk,
        "plan": plan.pk,
        "department": unused_department.pk,
        "pillar": pillar.pk,
        "policy-area": area.pk,
        "initiative": initiative(1).pk if method == "DELETE" else no_89.pk,
        "kpi": kpi.pk,
        "kpi-target": target.pk,
        "job": editors_job(plan).pk if name.startswith("job-") else None,
        **(webhook_objects(plan, draft) if name.startswith("webhook-") else {}),
        **(opinion_objects(plan, case) if name.startswith("opinion-") else {}),
        "me": None,  # the caller's own: no id in the URL
    }
    if name.endswith(("-list", "-import-template")) or objects[basename_of(name)] is None:
        url = reverse(name)
    else:
        url = reverse(name, args=[objects[basename_of(name)]])
    bodies = {
        ("evaluation-detail", "PATCH"): {"progress_text": "matrix"},
        ("evaluation-return-for-changes", "POST"): {"comment": "matrix"},
        ("evaluation-reopen", "POST"): {"reason": "matrix"},
        ("round-list", "POST"): {"plan": plan.pk, "fiscal_year": "R8"},
        ("round-detail", "PATCH"): {"review_due_date": "2025-07-31"},
        ("kpi-actual-list", "POST"): {"evaluation": draft.pk, "kpi": kpi.pk, "value": "3"},
        ("kpi-actual-detail", "PATCH"): {"value": "4"},
        ("webhook-list", "POST"): {"plan": plan.pk, "url": "https://93.184.215.14/hook"},
        ("webhook-detail", "PATCH"): {"description": "matrix"},
        ("opinion-list", "POST"): {"plan": plan.code, "body": "光回線をもっと早く整備してほしい。"},
        ("opinion-detail", "PATCH"): {"status": "published"},
        ("opinion-analysis-list", "POST"): {"plan": plan.code, "seed": 1},
        ("plan-list", "POST"): {
            "code": "new-plan",
            "organisation": "秋田県",
            "name": "新計画",
            "start_year": 2027,
            "end_year": 2030,
        },
        ("plan-detail", "PUT"): {
            "code": plan.code,
            "organisation": plan.organisation,
            "name": plan.name + "（改定）",
            "start_year": plan.start_year,
            "end_year": plan.end_year,
            "description": "matrix",
        },
        ("plan-detail", "PATCH"): {"description": "matrix"},
        ("department-list", "POST"): {
            "plan": plan.pk,
            "code": "new-dept",
            "name": "新部局",
            "order": 99,
        },
        ("department-detail", "PUT"): {
            "plan": plan.pk,
            "code": "unused-renamed",
            "name": "改称部局",
            "order": 97,
        },
        ("department-detail", "PATCH"): {"name": "改称部局"},
        ("pillar-list", "POST"): {"plan": plan.pk, "order": 5, "name": "新分類", "theme": "新"},
        ("pillar-detail", "PUT"): {
            "plan": plan.pk,
            "order": pillar.order,
            "name": pillar.name,
            "theme": pillar.theme + "（改）",
        },
        ("pillar-detail", "PATCH"): {"theme": "matrix"},
        ("policy-area-list", "POST"): {"pillar": pillar.pk, "number": 99, "name": "新施策"},
        ("policy-area-detail", "PUT"): {
            "pillar": area.pillar_id,
            "number": area.number,
            "name": area.name + "（改）",
        },
        ("policy-area-detail", "PATCH"): {"name": "matrix"},
        ("initiative-list", "POST"): {
            "plan": plan.pk,
            "policy_area": area.pk,
            "number": 999,
            "title": "新取組",
            "is_major": False,
            "departments": [{"department": kikaku.pk, "is_lead": True}],
        },
        ("initiative-detail", "PUT"): {
            "plan": plan.pk,
            "policy_area": area.pk,
            "number": 89,
            "title": no_89.title + "（改）",
            "is_major": not no_89.is_major,
            "relists": no_89.relists_id,
        },
        ("initiative-detail", "PATCH", "title"): {"title": "matrix"},
        ("initiative-detail", "PATCH", "departments"): {
            "departments": [
                {"department": kikaku.pk, "is_lead": True},
                {"department": somu.pk, "is_lead": False},
            ]
        },
        ("kpi-list", "POST"): {"initiative": no_89.pk, "order": 2, "name": "新指標", "unit": "件"},
        ("kpi-detail", "PUT"): {
            "initiative": no_89.pk,
            "order": kpi.order,
            "name": kpi.name + "（改）",
            "unit": kpi.unit,
            "is_cumulative": kpi.is_cumulative,
            "direction": kpi.direction,
        },
        ("kpi-detail", "PATCH"): {"name": "matrix"},
        ("kpi-target-list", "POST"): {"kpi": kpi.pk, "fiscal_year": 2025, "value": "2000"},
        ("kpi-target-detail", "PUT"): {
            "kpi": kpi.pk,
            "fiscal_year": 2024,
            "value": "1900",
            "text": "",
        },
        ("kpi-target-detail", "PATCH"): {"value": "1850"},
        ("me-notifications", "PUT"): dict.fromkeys(NotificationKind.values, False),
    }
    if name == "kpi-actual-list" and method == "POST":
        actual.delete()
    if method == "GET":
        return url, None
    return url, bodies.get((name, method, case), bodies.get((name, method), {}))


# The writes of versioned records: they need ``If-Match`` with the record's ETag.
VERSIONED = {
    ("evaluation-detail", "PATCH"),
    ("evaluation-submit", "POST"),
    ("evaluation-approve", "POST"),
    ("evaluation-return-for-changes", "POST"),
    ("evaluation-reopen", "POST"),
    ("kpi-actual-detail", "PATCH"),
    ("kpi-actual-detail", "DELETE"),
    ("opinion-detail", "PATCH"),
}


def headers_for(name: str, method: str, case: str, *, draft, actual) -> dict[str, str]:
    """The ``If-Match`` of a matrix row: the record's current ETag unless ``case`` asks for
    none, ``*``, a stale one (the record moves on a version after it is taken) or the ETag
    of another record."""
    if (name, method) not in VERSIONED or case == "no If-Match":
        return {}
    if case == "If-Match *":
        return {"HTTP_IF_MATCH": "*"}
    if name.startswith("opinion-"):
        opinion = Opinion.objects.get()
        return {"HTTP_IF_MATCH": f'"opinion-{opinion.pk}-v{opinion.version}"'}
    record = actual if name.startswith("kpi-actual") else draft
    headers = if_match(record)
    if case == "stale If-Match":
        type(record).objects.filter(pk=record.pk).update(version=F("version") + 1)
    elif case == "If-Match of another record":
        other = type(record).objects.exclude(pk=record.pk).first()
        headers = if_match(other)
    return headers


CASES = [
    pytest.param(
        name,
        method,
        case,
        role,
        status,
        id=f"{method} {name}{f' ({case})' if case else ''} as {role}",
    )
    for (name, method, case), expected in MATRIX.items()
    for role, status in expected.items()
]


@pytest.mark.parametrize(("name", "method", "case", "role", "expected"), CASES)
def test_permission_matrix(
    clients, plan, draft, actual, unused_department, name, method, case, role, expected
):
    url, body = request_for(
        name,
        method,
        case,
        plan=plan,
        draft=draft,
        actual=actual,
        unused_department=unused_department,
    )
    headers = headers_for(name, method, case, draft=draft, actual=actual)
    client = clients[role]
    before = snapshot()
    if method == "GET":
        response = client.get(url)
    else:
        response = getattr(client, method.lower())(url, body, format="json", **headers)
    assert response.status_code == expected, response.content[:300]
    if expected == 401:
        assert response["WWW-Authenticate"] == "Api-Key"
    if expected in (412, 428):
        code = {412: "precondition_failed", 428: "precondition_required"}[expected]
        assert [error["code"] for error in response.json()["errors"]] == [code]
    if method == "GET":
        return
    # A refused write changes nothing; an accepted one changes something.
    if expected < 300:
        assert snapshot() != before
    else:
        assert snapshot() == before


def test_matrix_covers_every_role_and_every_router_route():
    assert all(set(expected) == set(ROLES) for expected in MATRIX.values())
    named = {name for name, _, _ in MATRIX}
    basenames = {basename for _, _, basename in REGISTRY}
    assert "kpi-target" in basenames
    for basename in basenames:
        assert any(basename_of(name) == basename for name in named), basename
    # The matrix names only real routes, and every write method the structure routes have.
    route_names = {url.name for url in ROUTE_URLS if url.name}
    assert named <= route_names
    for basename in ("plan", "department", "pillar", "policy-area", "initiative", "kpi"):
        rows = {(name, method) for name, method, _ in MATRIX}
        assert (basename + "-list", "POST") in rows, basename
        for method in ("GET", "PUT", "PATCH", "DELETE"):
            assert (basename + "-detail", method) in rows, (basename, method)
    rows = {(name, method) for name, method, _ in MATRIX}
    for method in ("GET", "POST"):
        assert ("kpi-target-list", method) in rows
    for method in ("GET", "PUT", "PATCH", "DELETE"):
        assert ("kpi-target-detail", method) in rows


def test_matrix_writes_change_what_they_say(clients, r7, draft):
    """A refused write leaves the evaluation as it was; an accepted one changes it."""
    before = (draft.version, draft.progress_text)
    for role, status in (
        ("anonymous", 401),
        ("viewer", 403),
        ("other_editor", 404),
        ("read_key", 404),
    ):
        response = clients[role].patch(
            reverse("evaluation-detail", args=[draft.pk]),
            {"progress_text": role},
            format="json",
            **if_match(draft),
        )
        assert response.status_code == status
    draft.refresh_from_db()
    assert (draft.version, draft.progress_text) == before
    for role in ("editor", "secretariat", "rw_key", "bound_key"):
        response = clients[role].patch(
            reverse("evaluation-detail", args=[draft.pk]),
            {"progress_text": role},
            format="json",
            **if_match(draft),
        )
        assert response.status_code == 200
        draft.refresh_from_db()
        assert draft.progress_text == role


def test_other_department_editor_cannot_touch_no_89(clients, r7, draft):
    attacker = clients["other_editor"]
    before = Evaluation.objects.filter(pk=draft.pk).values().get()
    evaluation_url = reverse("evaluation-detail", args=[draft.pk])
    # 404 with or without a valid If-Match: the record is not there for it.
    for headers in ({}, if_match(draft)):
        response = attacker.patch(evaluation_url, {"rating": "A"}, format="json", **headers)
        assert response.status_code == 404
        response = attacker.put(evaluation_url, {"rating": "A"}, format="json", **headers)
        assert response.status_code == 404
        response = attacker.post(reverse("evaluation-submit", args=[draft.pk]), **headers)
        assert response.status_code == 404
    assert Evaluation.objects.filter(pk=draft.pk).values().get() == before
    # Its own department's draft is editable.
    own = Evaluation.objects.get(round=r7, initiative__number=50)
    response = attacker.patch(
        reverse("evaluation-detail", args=[own.pk]), {"rating": "A"}, format="json", **if_match(own)
    )
    assert response.status_code == 200
    # It sees its own R7 drafts and not No. 89's.
    response = attacker.get(reverse("evaluation-list"), {"fiscal_year": "R7", "page_size": 200})
    assert 89 not in [item["initiative"]["number"] for item in response.json()["results"]]
    assert 50 in [item["initiative"]["number"] for item in response.json()["results"]]


def test_bound_key_is_limited_to_its_department(clients, r7):
    no_50 = Evaluation.objects.get(round=r7, initiative__number=50)
    response = clients["bound_key"].patch(
        reverse("evaluation-detail", args=[no_50.pk]),
        {"rating": "A"},
        format="json",
        **if_match(no_50),
    )
    assert response.status_code == 404
    no_50.refresh_from_db()
    assert no_50.rating is None
    response = clients["rw_key"].patch(
        reverse("evaluation-detail", args=[no_50.pk]),
        {"rating": "A"},
        format="json",
        **if_match(no_50),
    )
    assert response.status_code == 200


@pytest.mark.parametrize("role", ["anonymous", "read_key"])
def test_unpublished_round_is_invisible_through_filters_and_aggregates(clients, r7, draft, role):
    Evaluation.objects.filter(round=r7).update(rating="A")
    client = clients[role]
    response = client.get(reverse("evaluation-list"), {"fiscal_year": "R7"})
    assert response.status_code == 200
    assert response.json()["count"] == 0
    response = client.get(reverse("evaluation-list"), {"status": "draft"})
    assert response.json()["count"] == 0
    response = client.get(reverse("round-list"), {"fiscal_year": "R7"})
    assert response.json()["count"] == 0
    response = client.get(reverse("aggregate-ratings"), {"plan": PLAN_CODE, "fiscal_year": "R7"})
    assert response.status_code == 200
    assert response.json()["overall"]["total"] == 0
    assert response.json()["overall"]["a"] == 0
    response = client.get(
        reverse("aggregate-ratings"),
        {"plan": PLAN_CODE, "fiscal_year": "R7", "group_by": "department"},
    )
    assert all(group["total"] == 0 for group in response.json()["groups"])
    response = client.get(reverse("initiative-list"), {"fiscal_year": "R7", "rating": "A"})
    assert response.json()["count"] == 0
    # Published rounds remain visible.
    assert client.get(reverse("evaluation-list"), {"fiscal_year": "R6"}).json()["count"] == 91


def test_secretariat_sees_the_unpublished_round_in_aggregates(clients, r7):
    Evaluation.objects.filter(round=r7).update(rating="A")
    response = clients["secretariat"].get(
        reverse("aggregate-ratings"), {"plan": PLAN_CODE, "fiscal_year": "R7"}
    )
    assert response.json()["overall"]["total"] == 91


@pytest.fixture
def bad_keys(plan) -> dict[str, str]:
    _, expired = ApiKey.objects.create_key(
        name="expired",
        plan=plan,
        role="editor",
        expiry_date=timezone.now() - timedelta(days=1),
    )
    revoked_obj, revoked = ApiKey.objects.create_key(name="revoked", plan=plan, role="editor")
    revoked_obj.revoked = True
    revoked_obj.save()
    _, good = ApiKey.objects.create_key(name="good", plan=plan, role="editor")
    return {
        "expired": expired,
        "revoked": revoked,
        "malformed": "not-a-key",
        "tampered": good[:-1] + ("x" if good[-1] != "x" else "y"),
        "empty": "",
    }


@pytest.mark.parametrize("kind", ["expired", "revoked", "malformed", "tampered", "empty"])
def test_bad_api_keys_are_refused_with_401(bad_keys, r7, draft, kind):
    client = key_client(bad_keys[kind])
    # Refused even where anonymous reads are allowed, with the API key challenge.
    for url in (reverse("evaluation-list"), reverse("plan-list"), reverse("kpi-target-list")):
        response = client.get(url)
        assert response.status_code == 401
        assert response["WWW-Authenticate"] == "Api-Key"
    response = client.patch(
        reverse("evaluation-detail", args=[draft.pk]),
        {"rating": "A"},
        format="json",
        **if_match(draft),
    )
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Api-Key"
    draft.refresh_from_db()
    assert draft.rating is None
    response = client.post(
        reverse("department-list"),
        {"plan": draft.round.plan_id, "code": "new-dept", "name": "新部局", "order": 99},
        format="json",
    )
    assert response.status_code == 401
    assert not Department.objects.filter(code="new-dept").exists()


def test_a_key_of_another_plan_sees_nothing_of_this_plan(plan, r7, draft):
    from initiatives.models import Plan

    other = Plan.objects.create(
        code="other", organisation="x", name="x", start_year=2023, end_year=2026
    )
    _, key = ApiKey.objects.create_key(name="other", plan=other, role="editor")
    client = key_client(key)
    assert client.get(reverse("evaluation-list")).json()["count"] == 0
    response = client.patch(
        reverse("evaluation-detail", args=[draft.pk]),
        {"rating": "A"},
        format="json",
        **if_match(draft),
    )
    assert response.status_code == 404


def test_anonymous_writes_are_401_with_the_api_key_challenge(api, draft):
    evaluation_url = reverse("evaluation-detail", args=[draft.pk])
    for method, url, headers in (
        ("patch", evaluation_url, if_match(draft)),
        # Authentication comes before the If-Match check: 401, not 428 or 412.
        ("patch", evaluation_url, {}),
        ("patch", evaluation_url, {"HTTP_IF_MATCH": '"evaluation-0-v1"'}),
        ("post", reverse("evaluation-submit", args=[draft.pk]), {}),
        ("post", reverse("department-list"), {}),
        ("delete", reverse("kpi-target-detail", args=[KPITarget.objects.first().pk]), {}),
    ):
        response = getattr(api, method)(url, {}, format="json", **headers)
        assert response.status_code == 401
        assert response["WWW-Authenticate"] == "Api-Key"
    # Reads stay public.
    assert api.get(reverse("kpi-target-list")).status_code == 200


def test_secretariat_writes_are_saved(clients, plan):
    secretariat = clients["secretariat"]
    response = secretariat.post(
        reverse("department-list"),
        {"plan": plan.pk, "code": "new-dept", "name": "新部局", "order": 99},
        format="json",
    )
    assert response.status_code == 201, response.json()
    department = Department.objects.get(plan=plan, code="new-dept")
    assert (department.name, department.order, response.json()["id"]) == (
        "新部局",
        99,
        department.pk,
    )

    kpi = KPI.objects.get(initiative=initiative(89))
    response = secretariat.post(
        reverse("kpi-target-list"),
        {"kpi": kpi.pk, "fiscal_year": 2025, "value": "2000"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    target = KPITarget.objects.get(kpi=kpi, fiscal_year=2025)
    assert target.value == 2000

    no_89 = initiative(89)
    url = reverse("initiative-detail", args=[no_89.pk])
    response = secretariat.patch(url, {"title": "新しい取組名"}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["title"] == "新しい取組名"
    no_89.refresh_from_db()
    assert no_89.title == "新しい取組名"

    response = secretariat.patch(
        url, {"departments": [{"department": department.pk, "is_lead": True}]}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert list(no_89.responsibilities.values_list("department__code", "is_lead")) == [
        ("new-dept", True)
    ]

    response = secretariat.delete(reverse("kpi-target-detail", args=[target.pk]))
    assert response.status_code == 204
    assert not KPITarget.objects.filter(pk=target.pk).exists()


@pytest.mark.parametrize("role", ["viewer", "editor", "read_key", "rw_key", "bound_key"])
def test_keys_and_department_members_cannot_change_structure(clients, plan, role):
    client = clients[role]
    before = snapshot()
    no_89 = initiative(89)
    kpi = KPI.objects.get(initiative=no_89)
    requests = [
        ("post", reverse("department-list"), {"plan": plan.pk, "code": "x", "name": "x"}),
        ("post", reverse("kpi-target-list"), {"kpi": kpi.pk, "fiscal_year": 2025, "value": 1}),
        ("patch", reverse("initiative-detail", args=[no_89.pk]), {"title": "x"}),
        ("patch", reverse("plan-detail", args=[plan.pk]), {"name": "x"}),
        ("delete", reverse("kpi-target-detail", args=[kpi.targets.get().pk]), None),
    ]
    for method, url, body in requests:
        response = getattr(client, method)(url, body, format="json")
        assert response.status_code == 403, (method, url, response.content[:200])
    assert snapshot() == before


@pytest.mark.parametrize(
    ("basename", "obj"),
    [
        ("department", lambda: Department.objects.get(plan__code=PLAN_CODE, code="kikaku-shinko")),
        ("pillar", lambda: Pillar.objects.get(plan__code=PLAN_CODE, order=1)),
        ("policy-area", lambda: initiative(89).policy_area),
        ("initiative", lambda: initiative(1)),
        ("kpi", lambda: KPI.objects.get(initiative=initiative(89))),
    ],
    ids=["department", "pillar", "policy-area", "initiative", "kpi"],
)
def test_deleting_what_is_still_referenced_is_409_and_deletes_nothing(clients, plan, basename, obj):
    target = obj()
    before = snapshot()
    response = clients["secretariat"].delete(reverse(basename + "-detail", args=[target.pk]))
    assert response.status_code == 409, response.content[:300]
    assert response.json()["errors"][0]["code"] == "conflict"
    assert snapshot() == before
    assert type(target).objects.filter(pk=target.pk).exists()


def test_plans_are_created_and_deleted_by_superusers_only(clients, plan, staff_api):
    body = {
        "code": "new-plan",
        "organisation": "秋田県",
        "name": "新計画",
        "start_year": 2027,
        "end_year": 2030,
    }
    assert clients["secretariat"].post(reverse("plan-list"), body, format="json").status_code == 403
    assert not Plan.objects.filter(code="new-plan").exists()
    response = staff_api.post(reverse("plan-list"), body, format="json")
    assert response.status_code == 201, response.json()
    new_plan = Plan.objects.get(code="new-plan")
    # The secretariat of the shipped plan is not the new plan's secretariat.
    response = clients["secretariat"].patch(
        reverse("plan-detail", args=[new_plan.pk]), {"name": "x"}, format="json"
    )
    assert response.status_code == 403
    assert clients["secretariat"].delete(reverse("plan-detail", args=[plan.pk])).status_code == 403
    assert Plan.objects.filter(pk=plan.pk).exists()
    # A superuser deletes an empty plan, not one still in use.
    assert staff_api.delete(reverse("plan-detail", args=[new_plan.pk])).status_code == 204
    assert not Plan.objects.filter(pk=new_plan.pk).exists()
    before = snapshot()
    assert staff_api.delete(reverse("plan-detail", args=[plan.pk])).status_code == 409
    assert snapshot() == before


def test_initiative_policy_area_of_another_plan_is_400(clients, plan):
    other = Plan.objects.create(
        code="other", organisation="x", name="x", start_year=2023, end_year=2026
    )
    pillar = Pillar.objects.create(plan=other, order=1, name="他分類", theme="x")
    foreign_area = PolicyArea.objects.create(pillar=pillar, number=1, name="他施策")
    no_89 = initiative(89)
    before = snapshot()
    response = clients["secretariat"].patch(
        reverse("initiative-detail", args=[no_89.pk]),
        {"policy_area": foreign_area.pk},
        format="json",
    )
    assert response.status_code == 400, response.content[:300]
    assert "policy_area" in error_attrs(response)
    response = clients["secretariat"].post(
        reverse("initiative-list"),
        {"plan": plan.pk, "policy_area": foreign_area.pk, "number": 999, "title": "x"},
        format="json",
    )
    assert response.status_code == 400, response.content[:300]
    assert "policy_area" in error_attrs(response)
    assert snapshot() == before


def test_two_lead_departments_is_400(clients, plan):
    no_89 = initiative(89)
    kikaku, somu = (
        Department.objects.get(plan=plan, code=code) for code in ("kikaku-shinko", "somu")
    )
    before = snapshot()
    response = clients["secretariat"].patch(
        reverse("initiative-detail", args=[no_89.pk]),
        {
            "title": "変更されないはず",
            "departments": [
                {"department": kikaku.pk, "is_lead": True},
                {"department": somu.pk, "is_lead": True},
            ],
        },
        format="json",
    )
    assert response.status_code == 400, response.content[:300]
    assert "departments" in error_attrs(response)
    # Nothing was saved, not even the title sent alongside.
    assert snapshot() == before
