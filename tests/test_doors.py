"""Every door that reads or writes a plan's yearly data, asked by every role, in both round
states: aggregates, the report, the progress template, the sheet import, the plan export and
the change history, for users and for API keys of each role and of another plan. The answers
come from one policy (``evaluations/policy.py``)."""

import io

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from evaluations.models import Evaluation
from initiatives.models import ApiKey, ApiKeyRole, Plan
from tests.conftest import PLAN_CODE
from tests.helpers import client_for, key_client, progress_csv, sheet_row

ROLES = [
    "anonymous",
    "read_key",
    "viewer",
    "editor",
    "bound_key",
    "rw_key",
    "other_editor",
    "secretariat",
    "secretariat_key",
    "other_plan_key",
]
# Who works on the R7 drafts of 企画振興部 (No. 89): they read its drafts and its history.
MEMBERS_OF_89 = {"viewer", "editor", "bound_key", "rw_key", "secretariat", "secretariat_key"}
# Who works in the plan at all: department members see every round of it (a preview of the
# report), the public and readers only published rounds.
WORKS_IN_PLAN = MEMBERS_OF_89 | {"other_editor"}
EDITORS_OF_89 = {"editor", "bound_key", "rw_key", "secretariat", "secretariat_key"}
FORBIDDEN = (401, 403)


@pytest.fixture
def callers(
    plan, api_keys, viewer_user, editor_user, other_editor_user, secretariat_user
) -> dict[str, APIClient]:
    other = Plan.objects.create(
        code="other-dx", organisation="他県", name="他県DX計画", start_year=2024, end_year=2025
    )
    _, other_key = ApiKey.objects.create_key(name="other", plan=other, role=ApiKeyRole.SECRETARIAT)
    clients = {name: key_client(key) for name, key in api_keys.items()}
    clients.update(
        anonymous=APIClient(),
        viewer=client_for(viewer_user),
        editor=client_for(editor_user),
        other_editor=client_for(other_editor_user),
        secretariat=client_for(secretariat_user),
        other_plan_key=key_client(other_key),
    )
    return clients


@pytest.fixture
def r7_draft(callers, r7) -> Evaluation:
    return Evaluation.objects.get(round=r7, initiative__number=89)


def get(client: APIClient, name: str, **params):
    return client.get(reverse(name), params)


@pytest.mark.parametrize("role", ROLES)
def test_report(callers, r7_draft, role):
    client = callers[role]
    r6 = get(client, "report-yearly", plan=PLAN_CODE, fiscal_year="R6")
    r7 = get(client, "report-yearly", plan=PLAN_CODE, fiscal_year="R7")
    if role == "other_plan_key":
        assert (r6.status_code, r7.status_code) == (404, 404)
        return
    assert r6.status_code == 200
    assert r6.json()["summary"]["rated"] == 91
    assert r7.status_code == (200 if role in WORKS_IN_PLAN else 404)


@pytest.mark.parametrize("role", ROLES)
def test_rating_aggregates(callers, r7_draft, role):
    Evaluation.objects.filter(pk=r7_draft.pk).update(rating="A")
    response = get(callers[role], "aggregate-ratings", plan=PLAN_CODE, fiscal_year="R7")
    if role == "other_plan_key":
        assert response.status_code == 404
        return
    assert response.status_code == 200
    # The R7 draft's rating is counted for those who may see it, and for no one else.
    assert response.json()["overall"]["a"] == (1 if role in MEMBERS_OF_89 else 0)
    r6 = get(callers[role], "aggregate-ratings", plan=PLAN_CODE, fiscal_year="R6")
    assert r6.json()["overall"]["a"] == 18


@pytest.mark.parametrize("role", ROLES)
def test_progress_template(callers, r7_draft, role):
    response = get(
        callers[role],
        "progress-template",
        plan=PLAN_CODE,
        fiscal_year="R7",
        department="kikaku-shinko",
        file_format="csv",
    )
    if role in MEMBERS_OF_89:
        assert response.status_code == 200
        assert "89" in response.content.decode("utf-8-sig")
    elif role in ("read_key", "other_plan_key"):  # the R7 round is not theirs to see
        assert response.status_code == 404
    else:
        assert response.status_code in FORBIDDEN


def sheet(progress_text: str) -> io.BytesIO:
    return progress_csv([sheet_row(initiative_number=89, rating="C", progress_text=progress_text)])


@pytest.mark.parametrize("role", ROLES)
def test_sheet_import(callers, r7_draft, role):
    data = {"file": sheet(f"{role} の進捗"), "plan": PLAN_CODE, "fiscal_year": "R7"}
    response = callers[role].post(reverse("progress-import"), data, format="multipart")
    r7_draft.refresh_from_db()
    if role in EDITORS_OF_89:
        assert response.status_code == 200, response.json()
        assert r7_draft.progress_text == f"{role} の進捗"
        assert r7_draft.version == 2
        latest = r7_draft.history.order_by("-history_id").first()
        assert latest.history_change_reason == "import"
        return
    if role == "other_plan_key":
        assert response.status_code == 404
    elif role == "other_editor":  # may import, but not this department's row
        assert response.status_code == 400
        assert response.json()["errors"][0]["code"] == "permission_denied"
    else:
        assert response.status_code in FORBIDDEN
    assert (r7_draft.progress_text, r7_draft.version) == ("", 1)


@pytest.mark.parametrize("role", ROLES)
def test_plan_export(callers, r7_draft, role):
    Evaluation.objects.filter(pk=r7_draft.pk).update(progress_text="下書きの進捗")
    response = callers[role].get(
        reverse("plan-export-document", kwargs={"code": PLAN_CODE}), HTTP_ACCEPT="*/*"
    )
    if role == "other_plan_key":
        assert response.status_code == 404
        return
    assert response.status_code == 200
    body = b"".join(response.streaming_content).decode()
    assert ("下書きの進捗" in body) == (role in MEMBERS_OF_89)


@pytest.mark.parametrize("role", ROLES)
def test_evaluation_history(callers, r7_draft, role):
    response = callers[role].get(reverse("evaluation-history", args=[r7_draft.pk]))
    assert response.status_code == (200 if role in MEMBERS_OF_89 else 404)
    published = Evaluation.objects.get(round__fiscal_year=2024, initiative__number=89)
    response = callers[role].get(reverse("evaluation-history", args=[published.pk]))
    assert response.status_code == (404 if role == "other_plan_key" else 200)


# --- Citizens' opinions: the same rules through each door ----------------------------------


@pytest.fixture
def opinion_89(plan):
    from evaluations.listening.intake import body_digest
    from evaluations.models import Opinion
    from tests.conftest import initiative

    body = "光回線の整備をもっと早く進めてください。"
    return Opinion.objects.create(
        plan=plan,
        body=body,
        original_body=body,
        initiative=initiative(89),
        body_digest=body_digest(body),
    )


@pytest.mark.parametrize("role", ROLES)
def test_opinions_sent(callers, plan, role):
    from evaluations.models import Opinion

    response = callers[role].post(
        reverse("opinion-list"),
        {"plan": PLAN_CODE, "body": f"{role}からの意見です。よろしくお願いします。"},
        format="json",
    )
    people = role in {"anonymous", "viewer", "editor", "other_editor", "secretariat"}
    assert response.status_code == (201 if people else 403)
    assert Opinion.objects.count() == (1 if people else 0)


@pytest.mark.parametrize("role", ROLES)
def test_opinions_read(callers, opinion_89, role):
    response = callers[role].get(reverse("opinion-list"))
    if role == "anonymous":
        assert response.status_code in FORBIDDEN
        return
    assert response.status_code == 200
    ids = [item["id"] for item in response.json()["results"]]
    assert ids == ([opinion_89.pk] if role in MEMBERS_OF_89 else [])
    shows_original = role in {"secretariat", "secretariat_key"}
    assert all(("original_body" in item) == shows_original for item in response.json()["results"])


def opinions_csv() -> io.BytesIO:
    upload = io.BytesIO("意見,取組番号\n光回線の整備を早く進めてほしい。,89\n".encode())
    upload.name = "opinions.csv"
    return upload


@pytest.mark.parametrize("role", ROLES)
def test_opinions_imported(callers, plan, role):
    from evaluations.models import Opinion

    response = callers[role].post(
        reverse("opinion-import-csv"),
        {"plan": PLAN_CODE, "file": opinions_csv()},
        format="multipart",
    )
    if role in {"secretariat", "secretariat_key"}:
        assert response.status_code == 201
        assert Opinion.objects.get().initiative.number == 89
        return
    # Another plan's key does not see this plan at all: its name is refused as unknown.
    assert response.status_code == (400 if role == "other_plan_key" else 403) or (
        role == "anonymous" and response.status_code == 401
    )
    assert not Opinion.objects.exists()


@pytest.mark.parametrize("role", ROLES)
def test_opinion_analyses_run_and_read(callers, plan, role):
    from evaluations.models import AnalysisState, OpinionAnalysis

    analysis = OpinionAnalysis.objects.create(
        plan=plan, title="未公表の分析", state=AnalysisState.SUCCEEDED
    )
    secretariat = role in {"secretariat", "secretariat_key"}
    result = callers[role].get(reverse("opinion-analysis-result", args=[analysis.pk]))
    assert result.status_code == (200 if secretariat else 404)
    started = callers[role].post(
        reverse("opinion-analysis-list"), {"plan": PLAN_CODE}, format="json"
    )
    if secretariat:
        assert started.status_code == 202
    else:
        assert started.status_code in (*FORBIDDEN, 400)
        assert OpinionAnalysis.objects.count() == 1
    OpinionAnalysis.objects.filter(pk=analysis.pk).update(is_published=True)
    published = callers[role].get(reverse("opinion-analysis-result", args=[analysis.pk]))
    assert published.status_code == (404 if role == "other_plan_key" else 200)
