"""Plain helpers shared by the test modules: clients for users and API keys, department
members, the R7 round, evaluation URLs, ``If-Match`` headers and the model lists."""

import contextlib
import io
import os
import subprocess
import sys
from datetime import timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from evaluations.exchange.columns import COLUMNS
from evaluations.models import Evaluation, Job, JobKind, JobState, KPIActual, Round, RoundStatus
from initiatives.models import (
    KPI,
    ApiKey,
    Department,
    DepartmentMembership,
    Initiative,
    InitiativeDepartment,
    KPITarget,
    Pillar,
    Plan,
    PolicyArea,
    SecretariatMembership,
)

PLAN_CODE = "akita-dx"
R7 = 2025

# The plan's structure and its rounds, parents before children.
PLAN_MODELS = (
    Plan,
    Department,
    Pillar,
    PolicyArea,
    Initiative,
    InitiativeDepartment,
    KPI,
    KPITarget,
    Round,
    Evaluation,
    KPIActual,
)
# Who may read and write a plan.
ACCESS_MODELS = (DepartmentMembership, SecretariatMembership, ApiKey)


def run_manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``python manage.py *args`` in a subprocess with the environment ``env``."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def client_for(user) -> APIClient:
    """A client authenticated as ``user``."""
    client = APIClient()
    client.force_authenticate(user)
    return client


def key_client(key: str) -> APIClient:
    """A client sending the API key ``key``."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Api-Key " + key)
    return client


def member(django_user_model, username: str, department_code: str, role: str):
    """A new user who is a ``role`` of the shipped plan's department ``department_code``."""
    user = django_user_model.objects.create_user(username=username, password="unused")
    DepartmentMembership.objects.create(
        user=user,
        department=Department.objects.get(plan__code=PLAN_CODE, code=department_code),
        role=role,
    )
    return user


def open_r7(client: APIClient, plan: Plan, *, end_year: int = R7) -> Round:
    """R7 opened through the API by ``client`` (a secretariat), the plan first extended to
    ``end_year``."""
    plan.end_year = end_year
    plan.save(update_fields=["end_year"])
    response = client.post(
        reverse("round-list"), {"plan": plan.pk, "fiscal_year": "R7"}, format="json"
    )
    assert response.status_code == 201, response.json()
    assert response.json()["status"] == RoundStatus.OPEN
    return Round.objects.get(pk=response.json()["id"])


def url(evaluation: Evaluation, action: str | None = None) -> str:
    """The detail URL of ``evaluation``, or that of one of its workflow actions."""
    if action is None:
        return reverse("evaluation-detail", args=[evaluation.pk])
    name = {"return": "return-for-changes"}.get(action, action)
    return reverse(f"evaluation-{name}", args=[evaluation.pk])


def if_match(record) -> dict[str, str]:
    """The ``If-Match`` header naming the version of ``record`` now in the database, as the
    ETag of its detail response would."""
    model = type(record)
    kind = {Evaluation: "evaluation", KPIActual: "kpi-actual"}[model]
    version = model.objects.values_list("version", flat=True).get(pk=record.pk)
    return {"HTTP_IF_MATCH": f'"{kind}-{record.pk}-v{version}"'}


def detail(response) -> str:
    """The details of an error response's errors, joined."""
    return " ".join(error["detail"] for error in response.json()["errors"])


def sheet_row(**values: object) -> list[str]:
    """A progress-sheet row: the given cells by column key, the others blank."""
    return ["" if values.get(c.key) is None else str(values[c.key]) for c in COLUMNS]


def progress_csv(
    rows: list[list[str]], *, encoding: str = "utf-8-sig", name: str = "進捗.csv"
) -> io.BytesIO:
    """A progress sheet as a CSV upload (UTF-8 with BOM unless told otherwise)."""
    lines = [[column.header for column in COLUMNS], *rows]
    text = "\r\n".join(",".join(f'"{cell}"' for cell in line) for line in lines) + "\r\n"
    handle = io.BytesIO(text.encode(encoding))
    handle.name = name
    return handle


def finished_export_job(plan, requested_by=None) -> Job:
    """An export job of the plan that has made its file (a CSV of one row)."""
    job = Job.objects.create(
        kind=JobKind.TABLE_EXPORT,
        plan=plan,
        requested_by=requested_by,
        state=JobState.SUCCEEDED,
        expires_at=timezone.now() + timedelta(days=1),
    )
    job.result_file.save("departments.csv", ContentFile(b"id\n1\n"))
    return job


# A Redis database the tests may empty (the job queue's broker, the shared cache of several
# processes); the tests that need it are skipped where Redis does not answer.
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/6")


def redis_available() -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(TEST_REDIS_URL, socket_connect_timeout=1).ping())
    except Exception:
        return False


@contextlib.contextmanager
def as_one_request():
    """For a view or authentication class called without the middleware: the API key it names
    for logs and history is forgotten afterwards, as ``RequestIDMiddleware`` does."""
    from dxapi.middleware import current_api_key, set_current_api_key

    before = current_api_key()
    try:
        yield
    finally:
        set_current_api_key(before)
