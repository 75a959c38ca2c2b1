"""Every write path leaves change history with who made the change and why: the API (users
and API keys), nested department writes, round transitions, the sheet import (API and
command) and the plan loader. (The admin's saves are checked in ``test_admin_doors``.)"""

import io
from collections.abc import Callable
from dataclasses import dataclass
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import models
from django.urls import reverse

from evaluations.models import Evaluation, EvaluationStatus, KPIActual, Round
from initiatives.models import KPI, ApiKey, Department, Initiative, InitiativeDepartment, Plan
from tests.conftest import PLAN_CODE
from tests.helpers import if_match, key_client, progress_csv, sheet_row, url

pytestmark = pytest.mark.django_db


@dataclass(frozen=True)
class Written:
    """The record a write changed, and what its newest history record must say."""

    record: models.Model
    reason: str
    by: str  # "user" (the secretariat or editor user), "key" (the API key), "none" (server)


@pytest.fixture
def world(plan, r7, draft, actual, secretariat, secretariat_user, editor, editor_user, api_keys):
    return {
        "plan": plan,
        "r7": r7,
        "draft": draft,
        "actual": actual,
        "secretariat": secretariat,
        "editor": editor,
        "users": {secretariat_user.pk, editor_user.pk},
        "bound_key": api_keys["bound_key"],
    }


def _patch_evaluation(w) -> Written:
    response = w["editor"].patch(
        url(w["draft"]), {"progress_text": "進捗"}, format="json", **if_match(w["draft"])
    )
    assert response.status_code == 200
    return Written(w["draft"], "update", "user")


def _patch_with_key(w) -> Written:
    client = key_client(w["bound_key"])
    response = client.patch(
        url(w["draft"]), {"next_actions": "次"}, format="json", **if_match(w["draft"])
    )
    assert response.status_code == 200
    return Written(w["draft"], "update", "key")


def _review(w) -> Written:
    draft = w["draft"]
    Evaluation.objects.filter(pk=draft.pk).update(status=EvaluationStatus.SUBMITTED)
    draft.refresh_from_db()
    response = w["secretariat"].post(
        url(draft, "return"), {"comment": "根拠を追記"}, format="json", **if_match(draft)
    )
    assert response.status_code == 200
    return Written(draft, "return: 根拠を追記", "user")


def _create_actual(w) -> Written:
    w["actual"].delete()
    kpi = KPI.objects.get(initiative__plan=w["plan"], initiative__number=89)
    response = w["editor"].post(
        reverse("kpi-actual-list"),
        {"evaluation": w["draft"].pk, "kpi": kpi.pk, "value": "100"},
        format="json",
    )
    assert response.status_code == 201
    return Written(KPIActual.objects.get(pk=response.json()["id"]), "create", "user")


def _update_actual(w) -> Written:
    actual = w["actual"]
    response = w["editor"].patch(
        reverse("kpi-actual-detail", args=[actual.pk]),
        {"value": "12"},
        format="json",
        **if_match(actual),
    )
    assert response.status_code == 200
    return Written(actual, "update", "user")


def _delete_actual(w) -> Written:
    actual = w["actual"]
    response = w["editor"].delete(
        reverse("kpi-actual-detail", args=[actual.pk]), **if_match(actual)
    )
    assert response.status_code == 204
    return Written(actual, "delete", "user")


def _close_round(w) -> Written:
    assert w["secretariat"].post(reverse("round-close", args=[w["r7"].pk])).status_code == 200
    return Written(w["r7"], "close", "user")


def _reopen_round(w) -> Written:
    r6 = Round.objects.get(plan=w["plan"], fiscal_year=2024)
    response = w["secretariat"].post(
        reverse("round-reopen", args=[r6.pk]), {"reason": "訂正"}, format="json"
    )
    assert response.status_code == 200
    return Written(r6, "reopen: 訂正", "user")


def _open_round(w) -> Written:
    """The R7 fixture opened the round through the API: the round and its drafts."""
    assert w["draft"].history.earliest("history_id").history_change_reason == "round opened"
    return Written(w["r7"], "open", "user")


def _structure_update(w) -> Written:
    department = Department.objects.get(plan=w["plan"], code="kensetsu")
    response = w["secretariat"].patch(
        reverse("department-detail", args=[department.pk]), {"order": 99}, format="json"
    )
    assert response.status_code == 200
    return Written(department, "update", "user")


def _nested_departments(w) -> Written:
    number3 = Initiative.objects.get(plan=w["plan"], number=3)
    kensetsu = Department.objects.get(plan=w["plan"], code="kensetsu")
    response = w["secretariat"].patch(
        reverse("initiative-detail", args=[number3.pk]),
        {"departments": [{"department": kensetsu.pk, "is_lead": True}]},
        format="json",
    )
    assert response.status_code == 200
    created = InitiativeDepartment.objects.get(initiative=number3)
    return Written(created, "departments replaced", "user")


def _sheet() -> io.BytesIO:
    return progress_csv([sheet_row(initiative_number=89, progress_text="シートの進捗")])


def _import_api(w) -> Written:
    data = {"file": _sheet(), "plan": PLAN_CODE, "fiscal_year": "R7"}
    response = w["editor"].post(reverse("progress-import"), data, format="multipart")
    assert response.status_code == 200, response.json()
    return Written(w["draft"], "import", "user")


def _import_command(w, tmp_path) -> Written:
    path = tmp_path / "progress.csv"
    path.write_bytes(_sheet().getvalue())
    call_command(
        "import_progress",
        str(path),
        "--plan",
        PLAN_CODE,
        "--fiscal-year",
        "R7",
        "--user",
        "kikaku-editor",
        stdout=StringIO(),
    )
    return Written(w["draft"], "import", "user")


def _load_plan(w) -> Written:
    Evaluation.objects.filter(round__fiscal_year=2024, initiative__number=45).update(rating="C")
    call_command("load_plan", stdout=StringIO())
    evaluation = Evaluation.objects.get(round__fiscal_year=2024, initiative__number=45)
    assert evaluation.rating == "A"
    return Written(evaluation, "load_plan", "none")


WRITES: dict[str, Callable] = {
    "API PATCH evaluation": _patch_evaluation,
    "API key PATCH evaluation": _patch_with_key,
    "API return": _review,
    "API create KPI actual": _create_actual,
    "API update KPI actual": _update_actual,
    "API delete KPI actual": _delete_actual,
    "API open round": _open_round,
    "API close round": _close_round,
    "API reopen published round": _reopen_round,
    "API structure update": _structure_update,
    "API nested departments": _nested_departments,
    "API sheet import": _import_api,
    "command import_progress": _import_command,
    "command load_plan": _load_plan,
}


@pytest.mark.parametrize("name", list(WRITES))
def test_each_write_path_leaves_history_with_actor_and_reason(world, name, tmp_path):
    write = WRITES[name]
    written = write(world, tmp_path) if name == "command import_progress" else write(world)
    record = written.record
    latest = type(record).history.filter(id=record.pk).order_by("-history_id").first()
    assert latest is not None, f"{name}: no history"
    assert latest.history_change_reason == written.reason
    if written.by == "user":
        assert latest.history_user_id in world["users"]
    elif written.by == "key":
        assert latest.history_user_id is None
        prefix = ApiKey.objects.get(name="bound").prefix
        assert latest.api_key == prefix
    else:
        assert latest.history_user_id is None


def test_plan_creation_is_recorded(staff_api):
    response = staff_api.post(
        reverse("plan-list"),
        {
            "code": "new",
            "organisation": "県",
            "name": "新計画",
            "start_year": 2025,
            "end_year": 2027,
        },
        format="json",
    )
    assert response.status_code == 201
    record = Plan.history.get(code="new")
    assert (record.history_type, record.history_change_reason) == ("+", "create")
