"""Jobs (``dxapi.jobs``, ``evaluations.jobs``): large imports and export files run after their
request, in process (the default: inline here, in a thread in one test) or by a Celery worker
on the broker (PostgreSQL and Redis only); their progress, result, failure, retries, who sees
them, and their expiry."""

import datetime
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import OperationalError, connection, transaction
from django.urls import reverse
from django.utils import timezone

import dxapi.jobs
from dxapi.celery import app as celery_app
from dxapi.jobs import TransientError, run_here
from evaluations import jobs as evaluation_jobs
from evaluations.exchange import importer
from evaluations.models import Job, JobKind, JobState, KPIActual
from evaluations.tasks import delete_expired_jobs
from initiatives.models import KPI, DepartmentMembership, Plan
from tests.conftest import PLAN_CODE
from tests.helpers import TEST_REDIS_URL, redis_available
from tests.helpers import progress_csv as csv_file
from tests.helpers import sheet_row as row

IMPORT_URL = "/api/v1/imports/progress/"
BROKER_URL = TEST_REDIS_URL


@pytest.fixture
def inline(settings, tmp_path, monkeypatch) -> list[float]:
    """Jobs in process, run in the committing thread; small thresholds; the waits before
    retries recorded instead of slept."""
    settings.CELERY_BROKER_URL = ""
    settings.JOBS_IN_PROCESS_THREADS = 0
    settings.IMPORT_JOB_MIN_ROWS = 3
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.JOB_MAX_RETRIES = 3
    settings.JOB_RETRY_BACKOFF_SECONDS = 5
    waits: list[float] = []
    monkeypatch.setattr(dxapi.jobs, "sleep", waits.append)
    return waits


def kpi_rows(count: int = 3) -> list[list[str]]:
    """KPI actual rows: the first KPI of No. 89 and of other initiatives."""
    others = KPI.objects.filter(initiative__plan__code=PLAN_CODE, order=1).exclude(
        initiative__number=89
    )
    numbers = [
        89,
        *others.order_by("initiative__number").values_list("initiative__number", flat=True),
    ]
    return [
        row(initiative_number=n, kpi_order=1, value=str(100 + i), as_of="2026-03-31")
        for i, n in enumerate(numbers[:count])
    ]


def upload(client, rows, **extra):
    data = {"file": csv_file(rows), "plan": PLAN_CODE, "fiscal_year": "R7", **extra}
    return client.post(IMPORT_URL, data, format="multipart")


def run_jobs(django_capture_on_commit_callbacks, send):
    """``send()``, then the jobs it queued, as if its transaction had committed."""
    with django_capture_on_commit_callbacks(execute=True):
        response = send()
    return response


def job_of(response) -> Job:
    return Job.objects.get(pk=response.json()["id"])


# --- In process -------------------------------------------------------------------------------


def test_a_large_import_is_a_job_whose_result_is_the_synchronous_answer(
    r7, secretariat, settings, inline, django_capture_on_commit_callbacks
) -> None:
    rows = kpi_rows(4)
    settings.IMPORT_JOB_MIN_ROWS = 1000
    savepoint = transaction.savepoint()
    synchronous = upload(secretariat, rows, report_rows="true")
    assert synchronous.status_code == 200, synchronous.json()
    transaction.savepoint_rollback(savepoint)
    assert not KPIActual.objects.filter(evaluation__round=r7).exists()

    settings.IMPORT_JOB_MIN_ROWS = 3
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        accepted = upload(secretariat, rows, report_rows="true")
    assert accepted.status_code == 202, accepted.json()
    body = accepted.json()
    assert body["state"] == JobState.QUEUED and body["kind"] == JobKind.PROGRESS_IMPORT
    assert accepted["Location"] == body["url"]
    assert body["url"].endswith(reverse("job-detail", args=[body["id"]]))
    assert not KPIActual.objects.filter(evaluation__round=r7).exists()  # not run yet

    for callback in callbacks:
        callback()
    job = secretariat.get(accepted["Location"]).json()
    assert job["state"] == JobState.SUCCEEDED, job
    assert job["result"] == synchronous.json()
    assert job["error"] is None and job["attempts"] == 1
    assert job["progress"] == {"stage": "writing", "done": 4, "total": 4}
    assert KPIActual.objects.filter(evaluation__round=r7).count() == 4
    assert job["started_at"] and job["finished_at"]
    assert not Job.objects.get(pk=job["id"]).input_file  # the sheet is not kept


def test_a_small_import_stays_synchronous(r7, secretariat, inline) -> None:
    response = upload(secretariat, kpi_rows(2))
    assert response.status_code == 200
    assert response.json()["summary"]["kpi_actuals"]["created"] == 2
    assert not Job.objects.exists()


def test_a_large_file_by_its_bytes_is_a_job(
    r7, secretariat, settings, inline, django_capture_on_commit_callbacks
) -> None:
    settings.IMPORT_JOB_MIN_BYTES = 100
    response = run_jobs(
        django_capture_on_commit_callbacks, lambda: upload(secretariat, kpi_rows(1))
    )
    assert response.status_code == 202
    assert job_of(response).state == JobState.SUCCEEDED


def test_a_refused_file_fails_the_job_with_the_synchronous_error_body(
    r7, editor, settings, inline, django_capture_on_commit_callbacks
) -> None:
    rows = [*kpi_rows(2), row(initiative_number=89, kpi_order=1, value="千")]
    settings.IMPORT_JOB_MIN_ROWS = 1000
    refused = upload(editor, rows)
    assert refused.status_code == 400
    settings.IMPORT_JOB_MIN_ROWS = 3
    response = run_jobs(django_capture_on_commit_callbacks, lambda: upload(editor, rows))
    assert response.status_code == 202
    job = editor.get(response["Location"]).json()
    assert job["state"] == JobState.FAILED
    assert job["error"] == refused.json()
    assert job["result"] is None


def test_a_dry_run_job_writes_nothing(
    r7, secretariat, inline, django_capture_on_commit_callbacks
) -> None:
    send = lambda: upload(secretariat, kpi_rows(3), dry_run="true")  # noqa: E731
    job = job_of(run_jobs(django_capture_on_commit_callbacks, send))
    assert job.state == JobState.SUCCEEDED
    assert job.result["dry_run"] is True and job.result["summary"]["kpi_actuals"]["created"] == 3
    assert not KPIActual.objects.filter(evaluation__round=r7).exists()


def test_the_rules_are_asked_again_when_the_job_runs(
    r7, editor, editor_user, inline, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = upload(editor, kpi_rows(3)[:1] * 3)
    assert response.status_code == 202
    DepartmentMembership.objects.filter(user=editor_user).delete()  # no longer an editor
    for callback in callbacks:
        callback()
    job = job_of(response)
    assert job.state == JobState.FAILED
    assert job.error["errors"][0]["code"] == "permission_denied"
    assert not KPIActual.objects.filter(evaluation__round=r7).exists()


def test_who_may_not_import_is_refused_before_a_job_is_made(r7, viewer, inline) -> None:
    assert upload(viewer, kpi_rows(3)).status_code == 403
    assert not Job.objects.exists()


def test_the_progress_is_seen_while_the_job_runs(
    r7, secretariat, inline, monkeypatch, django_capture_on_commit_callbacks
) -> None:
    monkeypatch.setattr(importer, "PROGRESS_EVERY", 2)
    seen = []
    report = evaluation_jobs._Progress.__call__

    def observed(self, stage, done, total):
        report(self, stage, done, total)
        job = secretariat.get(reverse("job-detail", args=[self.job.pk])).json()
        seen.append((job["state"], job["progress"]))

    monkeypatch.setattr(evaluation_jobs._Progress, "__call__", observed)
    job = job_of(
        run_jobs(django_capture_on_commit_callbacks, lambda: upload(secretariat, kpi_rows(5)))
    )
    assert job.state == JobState.SUCCEEDED, job.error
    running = JobState.RUNNING
    assert seen == [
        (running, {"stage": "validating", "done": 0, "total": 5}),
        (running, {"stage": "validating", "done": 2, "total": 5}),
        (running, {"stage": "validating", "done": 4, "total": 5}),
        (running, {"stage": "writing", "done": 5, "total": 5}),
    ]


# --- Export files ----------------------------------------------------------------------------


def export_job(client, table: str | None = "kpi_actuals"):
    if table is None:
        return client.post(reverse("plan-export-document-job", args=[PLAN_CODE]))
    return client.post(reverse("plan-export-table-job", args=[PLAN_CODE, table]))


def streamed(client, table: str) -> bytes:
    response = client.get(reverse("plan-export-table", args=[PLAN_CODE, table]))
    return b"".join(response.streaming_content)


@pytest.mark.parametrize("who", ["secretariat", "read_key"])
def test_an_export_job_makes_the_streamed_export_as_a_file(
    request, who, r7, actual, inline, django_capture_on_commit_callbacks, key_clients
) -> None:
    client = key_clients[who] if who == "read_key" else request.getfixturevalue(who)
    response = run_jobs(django_capture_on_commit_callbacks, lambda: export_job(client))
    assert response.status_code == 202, response.json()
    job = client.get(response["Location"]).json()
    assert job["state"] == JobState.SUCCEEDED, job
    assert job["file"].endswith(reverse("job-file", args=[job["id"]]))
    download = client.get(job["file"])
    assert download.status_code == 200
    assert download["Content-Disposition"].endswith(f'"{PLAN_CODE}-kpi_actuals.csv"')
    content = b"".join(download.streaming_content)
    assert content == streamed(client, "kpi_actuals")
    assert job["result"]["size"] == len(content)
    # The secretariat sees R7's draft actual; the reader the published rounds only.
    assert (b"\r\n2025," in content) == (who == "secretariat")


def test_a_plan_document_export_job(staff_api, inline, django_capture_on_commit_callbacks) -> None:
    response = run_jobs(django_capture_on_commit_callbacks, lambda: export_job(staff_api, None))
    job = staff_api.get(response["Location"]).json()
    download = staff_api.get(job["file"])
    assert download["Content-Type"].startswith("application/json")
    document = b"".join(download.streaming_content)
    assert document.startswith(b'{"format":')


def test_export_jobs_need_a_caller_a_known_table_and_no_body(api, secretariat, inline) -> None:
    assert export_job(api).status_code in (401, 403)
    assert export_job(secretariat, "nonsense").status_code == 404
    body = secretariat.post(
        reverse("plan-export-table-job", args=[PLAN_CODE, "kpis"]), {"x": 1}, format="json"
    )
    assert body.status_code == 400
    assert not Job.objects.exists()


def test_no_file_before_the_job_succeeded(
    secretariat, inline, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=False):
        response = export_job(secretariat)
    assert response.json()["file"] is None
    assert secretariat.get(reverse("job-file", args=[response.json()["id"]])).status_code == 404


# --- Who sees a job ---------------------------------------------------------------------------


def test_a_job_is_seen_by_its_caller_and_the_plans_secretariat_only(
    r7, editor, secretariat, other_editor, viewer, api, key_clients, inline,
    django_capture_on_commit_callbacks,
) -> None:  # fmt: skip
    response = run_jobs(django_capture_on_commit_callbacks, lambda: upload(editor, kpi_rows(3)))
    job_url = response["Location"]
    file_url = reverse("job-file", args=[response.json()["id"]])
    assert editor.get(job_url).status_code == 200
    assert secretariat.get(job_url).status_code == 200
    assert key_clients["secretariat_key"].get(job_url).status_code == 200
    for client in (other_editor, viewer, key_clients["read_key"], key_clients["bound_key"]):
        assert client.get(job_url).status_code == 404
        assert client.get(file_url).status_code == 404
    assert api.get(job_url).status_code in (401, 403)

    listed = lambda client: [job["id"] for job in client.get("/api/v1/jobs/").json()["results"]]  # noqa: E731
    assert listed(editor) == [response.json()["id"]]
    assert listed(secretariat) == [response.json()["id"]]
    assert listed(other_editor) == []


def test_a_keys_job_is_its_keys_and_not_its_plans_other_keys(
    r7, key_clients, editor, inline, django_capture_on_commit_callbacks
) -> None:
    bound = key_clients["bound_key"]
    response = run_jobs(django_capture_on_commit_callbacks, lambda: export_job(bound))
    assert response.status_code == 202
    job = bound.get(response["Location"]).json()
    assert job["api_key"] and job["requested_by"] is None
    assert key_clients["rw_key"].get(response["Location"]).status_code == 404
    assert editor.get(response["Location"]).status_code == 404


def test_the_jobs_admin_list_follows_the_same_rule(
    r7, editor, client, secretariat_user, other_editor_user, inline,
    django_capture_on_commit_callbacks,
) -> None:  # fmt: skip
    response = run_jobs(django_capture_on_commit_callbacks, lambda: upload(editor, kpi_rows(3)))
    page = reverse("admin:evaluations_job_change", args=[response.json()["id"]])
    client.force_login(secretariat_user)
    assert client.get(reverse("admin:evaluations_job_changelist")).status_code == 200
    assert client.get(page).status_code == 200
    assert client.post(page, {}).status_code == 403  # read-only
    client.force_login(other_editor_user)
    assert client.get(reverse("admin:evaluations_job_changelist")).status_code == 403


# --- Failures and retries ----------------------------------------------------------------------


def failing_export(monkeypatch, failures: int, error: Exception) -> list[int]:
    """The export handler fails ``failures`` times with ``error``, then works."""
    calls: list[int] = []
    export = evaluation_jobs.HANDLERS[JobKind.TABLE_EXPORT]

    def handler(job, actor, progress):
        calls.append(job.pk)
        if len(calls) <= failures:
            raise error
        return export(job, actor, progress)

    monkeypatch.setitem(evaluation_jobs.HANDLERS, JobKind.TABLE_EXPORT, handler)
    return calls


def test_a_transient_failure_is_retried_with_backoff(
    secretariat, inline, monkeypatch, django_capture_on_commit_callbacks
) -> None:
    calls = failing_export(monkeypatch, 2, TransientError("database restarting"))
    job = job_of(run_jobs(django_capture_on_commit_callbacks, lambda: export_job(secretariat)))
    assert len(calls) == 3
    assert inline == [5, 10]  # seconds waited before each retry
    assert (job.state, job.attempts) == (JobState.SUCCEEDED, 3)
    assert job.result_file


def test_a_database_error_while_claiming_the_job_is_retried(
    secretariat, inline, monkeypatch, django_capture_on_commit_callbacks
) -> None:
    """SQLite's 'table is locked', or PostgreSQL restarting, as the job is claimed: it is
    claimed again after the backoff instead of staying queued for ever."""
    claim, failures = evaluation_jobs._claim, []

    def flaky_claim(task, job_id):
        if not failures:
            failures.append(job_id)
            raise OperationalError("database table is locked: evaluations_job")
        return claim(task, job_id)

    monkeypatch.setattr(evaluation_jobs, "_claim", flaky_claim)
    job = job_of(run_jobs(django_capture_on_commit_callbacks, lambda: export_job(secretariat)))
    assert failures == [job.pk] and inline == [5]
    assert (job.state, job.attempts) == (JobState.SUCCEEDED, 1)


def test_a_job_fails_once_its_retries_are_spent(
    secretariat, inline, monkeypatch, django_capture_on_commit_callbacks
) -> None:
    calls = failing_export(monkeypatch, 99, TransientError("down"))
    job = job_of(run_jobs(django_capture_on_commit_callbacks, lambda: export_job(secretariat)))
    assert len(calls) == 4 and inline == [5, 10, 20]
    assert (job.state, job.attempts) == (JobState.FAILED, 4)
    assert job.error["errors"][0]["code"] == "job_failed"
    assert job.error["type"] == "server_error"


def test_an_unexpected_error_fails_the_job_at_once(
    secretariat, inline, monkeypatch, django_capture_on_commit_callbacks
) -> None:
    calls = failing_export(monkeypatch, 1, KeyError("bug"))
    job = job_of(run_jobs(django_capture_on_commit_callbacks, lambda: export_job(secretariat)))
    assert len(calls) == 1 and inline == []
    assert job.state == JobState.FAILED and job.error["errors"][0]["code"] == "job_failed"
    body = secretariat.get(reverse("job-detail", args=[job.pk])).json()
    assert body["error"] == job.error


def test_a_job_runs_once_however_often_it_is_delivered(
    secretariat, inline, monkeypatch, django_capture_on_commit_callbacks
) -> None:
    calls = failing_export(monkeypatch, 0, TransientError())
    job = job_of(run_jobs(django_capture_on_commit_callbacks, lambda: export_job(secretariat)))
    run_here(delete_expired_jobs, ())  # another task meanwhile
    from evaluations.tasks import run_job

    run_here(run_job, (job.pk,))  # delivered again
    job.refresh_from_db()
    assert len(calls) == 1 and job.attempts == 1


# --- Expiry -------------------------------------------------------------------------------------


def test_expired_jobs_are_deleted_with_their_files(
    secretariat, inline, django_capture_on_commit_callbacks
) -> None:
    old = job_of(run_jobs(django_capture_on_commit_callbacks, lambda: export_job(secretariat)))
    new = job_of(run_jobs(django_capture_on_commit_callbacks, lambda: export_job(secretariat)))
    path = Path(old.result_file.path)
    assert path.exists()
    Job.objects.filter(pk=old.pk).update(expires_at=timezone.now() - datetime.timedelta(hours=1))
    assert delete_expired_jobs.run() == 1
    assert list(Job.objects.values_list("pk", flat=True)) == [new.pk]
    assert not path.exists() and Path(new.result_file.path).exists()


def test_in_process_the_periodic_tasks_run_when_due_with_the_jobs(
    secretariat, inline, django_capture_on_commit_callbacks
) -> None:
    first = job_of(run_jobs(django_capture_on_commit_callbacks, lambda: export_job(secretariat)))
    Job.objects.filter(pk=first.pk).update(expires_at=timezone.now())
    run_jobs(django_capture_on_commit_callbacks, lambda: export_job(secretariat))
    assert Job.objects.filter(pk=first.pk).exists()  # the cleanup ran with the first job only
    from django.core.cache import cache

    cache.delete("dxapi:jobs:periodic:delete-expired-jobs")  # its interval has passed
    run_jobs(django_capture_on_commit_callbacks, lambda: export_job(secretariat))
    assert not Job.objects.filter(pk=first.pk).exists()
    assert Job.objects.count() == 2


# --- In a background thread -------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_in_process_the_request_returns_before_its_job_ran(
    plan, secretariat, settings, tmp_path, monkeypatch
) -> None:
    settings.CELERY_BROKER_URL = ""
    settings.JOBS_IN_PROCESS_THREADS = 1
    settings.MEDIA_ROOT = str(tmp_path)
    started = __import__("threading").Event()
    export = evaluation_jobs.HANDLERS[JobKind.TABLE_EXPORT]

    def slow(job, actor, progress):
        started.wait(10)
        return export(job, actor, progress)

    monkeypatch.setitem(evaluation_jobs.HANDLERS, JobKind.TABLE_EXPORT, slow)
    response = export_job(secretariat)
    assert response.status_code == 202
    assert response.json()["state"] in (JobState.QUEUED, JobState.RUNNING)
    started.set()
    job = wait_for(response.json()["id"], timeout=20)
    assert job.state == JobState.SUCCEEDED and job.attempts == 1


def wait_for(job_id: int, timeout: float) -> Job:
    deadline = time.monotonic() + timeout
    while True:
        job = Job.objects.get(pk=job_id)
        if job.is_finished or time.monotonic() > deadline:
            return job
        time.sleep(0.1)


# --- On the broker, with a Celery worker -------------------------------------------------------


needs_broker = pytest.mark.skipif(
    connection.vendor != "postgresql" or not redis_available(),
    reason="a Celery worker needs the PostgreSQL database (shared) and Redis",
)


@pytest.fixture
def worker(settings, tmp_path):
    """A `celery worker` process on the test database, and this process sending to it."""
    import redis

    redis.Redis.from_url(BROKER_URL).flushdb()
    media = tmp_path / "media"
    settings.MEDIA_ROOT = str(media)
    settings.CELERY_BROKER_URL = BROKER_URL
    before = celery_app.conf.broker_url
    celery_app.conf.broker_url = BROKER_URL
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "dxapi.test_settings",
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": BROKER_URL,
        "MEDIA_ROOT": str(media),
        "JOB_RETRY_BACKOFF_SECONDS": "1",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "dxapi", "worker", "--pool=solo",
         "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel=WARNING",
         f"--hostname=jobs-test-{uuid.uuid4().hex[:8]}@%h"],
        cwd=django_settings.BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    yield process
    process.terminate()
    output = process.communicate(timeout=20)[0]
    celery_app.conf.broker_url = before
    celery_app.pool.force_close_all()
    print(output)


def database_url() -> str:
    db = connection.settings_dict
    user, host, port = db["USER"], db["HOST"] or "127.0.0.1", db["PORT"] or 5432
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


@needs_broker
@pytest.mark.django_db(transaction=True)
def test_on_the_broker_a_worker_runs_the_jobs(
    plan, secretariat_user, worker, settings, django_user_model
) -> None:
    from tests.helpers import client_for, open_r7

    settings.IMPORT_JOB_MIN_ROWS = 3
    secretariat = client_for(secretariat_user)
    r7 = open_r7(secretariat, Plan.objects.get(code=PLAN_CODE))
    imported = upload(secretariat, kpi_rows(4))
    exported = export_job(secretariat, "kpi_actuals")
    assert (imported.status_code, exported.status_code) == (202, 202)
    assert imported.json()["state"] == JobState.QUEUED
    jobs = [wait_for(response.json()["id"], timeout=45) for response in (imported, exported)]
    assert worker.poll() is None, "the worker stopped"
    assert [(job.state, job.attempts) for job in jobs] == [(JobState.SUCCEEDED, 1)] * 2, [
        (job.state, job.error) for job in jobs
    ]
    assert jobs[0].result["summary"]["kpi_actuals"]["created"] == 4
    assert KPIActual.objects.filter(evaluation__round=r7).count() == 4
    download = secretariat.get(reverse("job-file", args=[jobs[1].pk]))
    assert b"".join(download.streaming_content).count(b"\r\n2025,") == 4


def test_a_job_records_who_asked_in_the_history_it_writes(
    r7, key_clients, api_keys, inline, django_capture_on_commit_callbacks
) -> None:
    client = key_clients["secretariat_key"]
    request_id = "import-job-0001"
    data = {"file": csv_file(kpi_rows(3)), "plan": PLAN_CODE, "fiscal_year": "R7"}
    send = lambda: client.post(IMPORT_URL, data, format="multipart", HTTP_X_REQUEST_ID=request_id)  # noqa: E731
    job = job_of(run_jobs(django_capture_on_commit_callbacks, send))
    assert job.state == JobState.SUCCEEDED
    prefix = api_keys["secretariat_key"].partition(".")[0]
    history = KPIActual.history.filter(evaluation__round=r7)
    assert history.count() == 3
    assert set(history.values_list("api_key", "request_id", "history_user")) == {
        (prefix, request_id, None)
    }


def test_unknown_query_parameters_of_jobs_are_400(
    secretariat, inline, django_capture_on_commit_callbacks
) -> None:
    response = run_jobs(django_capture_on_commit_callbacks, lambda: export_job(secretariat))
    job_id = response.json()["id"]
    for path in (reverse("job-detail", args=[job_id]), reverse("job-file", args=[job_id])):
        refused = secretariat.get(path, {"colour": "red"})
        assert refused.status_code == 400, path
        assert refused.json()["errors"][0]["code"] == "unknown_parameter"
    assert secretariat.get("/api/v1/jobs/", {"state": "succeeded"}).json()["count"] == 1
    assert secretariat.get("/api/v1/jobs/", {"state": "failed"}).json()["count"] == 0
