"""Several processes on one PostgreSQL database and one Redis, as in production: two web
processes (gunicorn, DEBUG off) and a Celery worker. A change made through one web process is
seen through the other, cached aggregates included, and a job queued through either is run
once, even when it is delivered twice."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from dxapi.celery import app as celery_app
from evaluations.models import Evaluation, Job, JobState, Round
from initiatives.models import ApiKey, ApiKeyRole
from tests.conftest import PLAN_CODE
from tests.helpers import TEST_REDIS_URL, redis_available

REDIS_URL = TEST_REDIS_URL


pytestmark = [
    pytest.mark.skipif(
        connection.vendor != "postgresql" or not redis_available(),
        reason="several processes share a PostgreSQL database and Redis (set DATABASE_URL)",
    ),
    pytest.mark.django_db(transaction=True),
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def database_url() -> str:
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    host, port = db["HOST"] or "127.0.0.1", db["PORT"] or 5432
    return f"postgres://{db['USER']}{password}@{host}:{port}/{db['NAME']}"


class Web:
    """A gunicorn process serving ``dxapi.wsgi``, called with an API key."""

    def __init__(self, port: int, key: str) -> None:
        self.base, self.key = f"http://127.0.0.1:{port}", key

    def call(self, method: str, path: str, body: dict | None = None, **headers: str):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Authorization", f"Api-Key {self.key}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        for name, value in headers.items():
            request.add_header(name.replace("_", "-"), value)
        try:
            with urllib.request.urlopen(request, timeout=20) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def ratings(self) -> dict:
        status, body = self.call(
            "GET", f"/api/v1/aggregates/ratings/?plan={PLAN_CODE}&fiscal_year=R6"
        )
        assert status == 200, body
        return body["overall"]


@pytest.fixture
def processes(plan, tmp_path: Path):
    """Web processes A and B and a worker, on the test database (committed data) and Redis
    db 6 (cache and broker); stopped, with their output shown, at the end."""
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "dxapi.settings",
        "DEBUG": "0",
        "SECRET_KEY": "multi-process-test-key-" + "x" * 40,
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "REDIS_URL": REDIS_URL,
        "CELERY_BROKER_URL": REDIS_URL,
        "DATABASE_URL": database_url(),
        "DATABASE_POOL_MAX_SIZE": "2",
        "MEDIA_ROOT": str(tmp_path / "media"),
        "LOG_LEVEL": "WARNING",
    }
    ports = [free_port(), free_port()]
    commands = [
        [sys.executable, "-m", "gunicorn", "dxapi.wsgi:application", "--workers", "1",
         "--bind", f"127.0.0.1:{port}"]
        for port in ports
    ] + [
        [sys.executable, "-m", "celery", "-A", "dxapi", "worker", "--pool=solo",
         "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel=WARNING"]
    ]  # fmt: skip
    logs = [tmp_path / f"process-{index}.log" for index in range(len(commands))]
    started = [
        subprocess.Popen(
            command,
            cwd=settings.BASE_DIR,
            env=env,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
        )
        for command, log in zip(commands, logs, strict=True)
    ]
    try:
        for port in ports:
            wait_until_up(port)
        yield ports
    finally:
        for process in started:
            process.terminate()
        for process in started:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        for log in logs:
            print(log.name, log.read_text()[-3000:])


def wait_until_up(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/live", timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_two_web_processes_and_a_worker_share_one_state(processes, plan) -> None:
    _, key = ApiKey.objects.create_key(name="multi", plan=plan, role=ApiKeyRole.SECRETARIAT)
    a, b = (Web(port, key) for port in processes)
    r6 = Round.objects.get(plan=plan, fiscal_year=2024)
    evaluation = (
        Evaluation.objects.filter(round=r6, rating="A").order_by("initiative__number").first()
    )

    # A change through A, with cached aggregates read through B before and after.
    before = b.ratings()
    assert b.ratings() == before  # now cached
    assert (before["a"], before["c"]) == (18, 5)
    steps = [
        ("POST", f"/api/v1/rounds/{r6.pk}/reopen/", {"reason": "訂正"}),
        ("POST", f"/api/v1/evaluations/{evaluation.pk}/reopen/", {"reason": "訂正"}),
        (
            "PATCH",
            f"/api/v1/evaluations/{evaluation.pk}/",
            {"rating": "C", "rating_reason": "訂正"},
        ),
        ("POST", f"/api/v1/evaluations/{evaluation.pk}/submit/", None),
        ("POST", f"/api/v1/evaluations/{evaluation.pk}/approve/", None),
        ("POST", f"/api/v1/rounds/{r6.pk}/close/", None),
        ("POST", f"/api/v1/rounds/{r6.pk}/publish/", None),
    ]
    for method, path, body in steps:
        status, answer = a.call(method, path, body, If_Match="*")
        assert status == 200, (path, answer)
    after = b.ratings()
    assert (after["a"], after["c"]) == (17, 6)
    assert a.ratings() == after

    # Jobs queued through both, and each delivered a second time: every job runs once.
    table = "/api/v1/exports/plans/akita-dx/tables/evaluations/jobs/"
    queued = [web.call("POST", table) for web in (a, b, a, b)]
    assert [status for status, _ in queued] == [202] * 4
    ids = [body["id"] for _, body in queued]
    from evaluations.tasks import run_job

    with celery_app.connection_for_write(REDIS_URL) as broker:
        for job_id in ids:
            run_job.apply_async(args=[job_id], connection=broker)
    wait_for_queue_drained()
    jobs = list(Job.objects.filter(pk__in=ids))
    assert [(job.state, job.attempts) for job in jobs] == [(JobState.SUCCEEDED, 1)] * 4, [
        (job.state, job.attempts, job.error) for job in jobs
    ]
    # A job made through A is read, and its file downloaded, through B.
    status, body = b.call("GET", f"/api/v1/jobs/{ids[0]}/")
    assert status == 200 and body["state"] == JobState.SUCCEEDED
    request = urllib.request.Request(body["file"].replace(a.base, b.base))
    request.add_header("Authorization", f"Api-Key {key}")
    with urllib.request.urlopen(request, timeout=20) as response:
        content = response.read()
    assert f"\r\n2024,{evaluation.initiative.number},".encode() in content


def wait_for_queue_drained(timeout: float = 40) -> None:
    """Until every job has ended and the broker holds no message, delivered or not."""
    import redis

    broker = redis.Redis.from_url(REDIS_URL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pending = Job.objects.exclude(state__in=[JobState.SUCCEEDED, JobState.FAILED]).exists()
        if not pending and not broker.llen("celery") and not broker.hlen("unacked"):
            return
        time.sleep(0.2)
    raise AssertionError("the jobs did not end in time")
