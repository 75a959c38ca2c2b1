"""Deliver 10,000 webhook events to a local receiver that fails a share of them, and measure
throughput and the delay from each event to its successful delivery.

    DJANGO_SETTINGS_MODULE=dxapi.test_settings \
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/dxapi_bench \
    CELERY_BROKER_URL_FOR_BENCH=redis://127.0.0.1:6379/10 \
    .venv/bin/python benchmarks/webhooks.py [--events 10000] [--fail 0.05] [--repeat 3] \
        [--threads 8] [--output result.json]

Each run records the events in one transaction (as a large sheet import does: one bulk
insert) for one subscription, then waits until every delivery has succeeded. The receiver
runs in its own process and answers 500 to a random ``--fail`` share of the requests, so
that those deliveries are retried (``WEBHOOK_RETRY_BASE_SECONDS=1``: after 0.5–1 s).

Two modes, alternated ``--repeat`` times, medians reported:

- ``in_process``: no broker; the jobs run in this process in ``--threads`` threads
  (``JOBS_IN_PROCESS_THREADS``), retries timed by timers;
- ``worker`` (when Redis answers at ``CELERY_BROKER_URL_FOR_BENCH``): a `celery -A dxapi
  worker --beat --pool=threads --concurrency=<threads>` process; retries sent by the sweep
  of its beat (``WEBHOOK_SWEEP_SECONDS=1``).

Throughput is deliveries per second from the commit of the events to the last success; the
delay of a delivery is from its event's ``created_at`` to its ``delivered_at``.
"""

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dxapi.test_settings")
BROKER = os.environ.get("CELERY_BROKER_URL_FOR_BENCH", "redis://127.0.0.1:6379/10")
TUNING = {
    "WEBHOOK_ALLOW_PRIVATE_TARGETS": "1",
    "WEBHOOK_RETRY_BASE_SECONDS": "1",
    "WEBHOOK_RETRY_MAX_SECONDS": "5",
    "WEBHOOK_SWEEP_SECONDS": "1",
    "WEBHOOK_PAUSE_AFTER_FAILURES": "1000000",
    "EVENT_FEED_DELAY_SECONDS": "0",
}


def serve(port: int, fail: float) -> None:
    """The receiver: 200, or 500 for a random ``fail`` share of the requests."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["content-length"]))
            status = 500 if random.random() < fail else 200
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    server.serve_forever()


def ensure_database() -> None:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        return
    import dj_database_url
    import psycopg

    config = dj_database_url.parse(url)
    params = {
        "host": config["HOST"] or None,
        "port": config["PORT"] or None,
        "user": config["USER"] or None,
        "password": config["PASSWORD"] or None,
    }
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [config["NAME"]]
        ).fetchone()
        if not exists:
            connection.execute(f'CREATE DATABASE "{config["NAME"]}"')


def setup() -> None:
    os.environ.update(TUNING)
    ensure_database()
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from initiatives.models import Plan

    if not Plan.objects.filter(code="akita-dx").exists():
        call_command("load_plan", verbosity=0)


def reset(url: str) -> None:
    from evaluations.models import Event, WebhookSubscription
    from evaluations.webhooks import new_salt
    from initiatives.models import Plan

    WebhookSubscription.objects.all().delete()
    Event.objects.all().delete()
    WebhookSubscription.objects.create(
        plan=Plan.objects.get(code="akita-dx"), url=url, secret_salt=new_salt()
    )


def record_events(count: int) -> None:
    """``count`` KPI-actual events of the published R6 round, in one transaction."""
    from django.db import transaction

    from evaluations import events
    from evaluations.models import Evaluation, EventKind, Round

    round_ = Round.objects.select_related("plan").get(plan__code="akita-dx", fiscal_year=2024)
    evaluations = list(Evaluation.objects.filter(round=round_).select_related("initiative"))
    for evaluation in evaluations:
        evaluation.round = round_
    with transaction.atomic():
        events.record_many(
            events.build(
                EventKind.EVALUATION_UPDATED, evaluations[index % len(evaluations)], actor=None
            )
            for index in range(count)
        )


def wait_until_delivered(count: int, timeout: float) -> float:
    from evaluations.models import WebhookDelivery

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if WebhookDelivery.objects.filter(state="succeeded").count() >= count:
            return time.monotonic()
        time.sleep(0.2)
    raise SystemExit(f"not delivered in {timeout} s")


def delays(count: int) -> dict[str, float]:
    from evaluations.models import WebhookAttempt, WebhookDelivery

    rows = WebhookDelivery.objects.filter(state="succeeded").values_list(
        "delivered_at", "event__created_at", "attempts"
    )
    seconds = sorted((done - created).total_seconds() for done, created, _ in rows)
    retried = sum(1 for *_, attempts in rows if attempts > 1)
    return {
        "p50_delay_s": round(statistics.median(seconds), 3),
        "p99_delay_s": round(seconds[int(len(seconds) * 0.99) - 1], 3),
        "max_delay_s": round(seconds[-1], 3),
        "retried": retried,
        "attempts": WebhookAttempt.objects.count(),
    }


def run_in_process(count: int, threads: int, url: str) -> dict:
    from django.conf import settings

    import dxapi.jobs

    settings.CELERY_BROKER_URL = ""
    settings.JOBS_IN_PROCESS_THREADS = threads
    # In process, retries are timed by timers: the sweep is a backstop (and each periodic
    # run in process costs Celery's module import checks).
    settings.CELERY_BEAT_SCHEDULE["sweep-webhooks"]["schedule"] = 60.0
    dxapi.jobs._executor = None
    reset(url)
    started = time.monotonic()
    record_events(count)
    committed = time.monotonic()
    finished = wait_until_delivered(count, timeout=600)
    return {
        "mode": "in_process",
        "record_s": round(committed - started, 3),
        "deliver_s": round(finished - committed, 3),
        "per_second": round(count / (finished - committed), 1),
        **delays(count),
    }


def run_worker(count: int, threads: int, url: str, tmp: Path) -> dict:
    import redis
    from django.conf import settings

    from dxapi.celery import app

    redis.Redis.from_url(BROKER).flushdb()
    settings.CELERY_BROKER_URL = BROKER
    app.conf.broker_url = BROKER
    reset(url)
    env = {**os.environ, **TUNING, "CELERY_BROKER_URL": BROKER}
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "dxapi", "worker", "--beat",
         "--pool=threads", f"--concurrency={threads}", f"--schedule={tmp / 'beat'}",
         "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel=WARNING"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        time.sleep(3)  # the worker starts
        started = time.monotonic()
        record_events(count)
        committed = time.monotonic()
        finished = wait_until_delivered(count, timeout=600)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    return {
        "mode": "worker",
        "record_s": round(committed - started, 3),
        "deliver_s": round(finished - committed, 3),
        "per_second": round(count / (finished - committed), 1),
        **delays(count),
    }


def broker_up() -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(BROKER, socket_connect_timeout=1).ping())
    except Exception:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--fail", type=float, default=0.05)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--port", type=int, default=18765)
    parser.add_argument("--output")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.port, args.fail)
        return
    setup()
    import tempfile

    receiver = subprocess.Popen(
        [sys.executable, __file__, "--serve", f"--port={args.port}", f"--fail={args.fail}"]
    )
    url = f"http://127.0.0.1:{args.port}/hook"
    modes = ["in_process", *(["worker"] if broker_up() else [])]
    runs: list[dict] = []
    try:
        time.sleep(1)
        with tempfile.TemporaryDirectory() as tmp:
            for _ in range(args.repeat):
                for mode in modes:
                    if mode == "in_process":
                        result = run_in_process(args.events, args.threads, url)
                    else:
                        result = run_worker(args.events, args.threads, url, Path(tmp))
                    print(json.dumps(result), flush=True)
                    runs.append(result)
    finally:
        receiver.terminate()
    summary = {
        mode: {
            key: statistics.median(run[key] for run in runs if run["mode"] == mode)
            for key in ("deliver_s", "per_second", "p50_delay_s", "p99_delay_s", "max_delay_s")
        }
        for mode in modes
    }
    report = {"events": args.events, "fail": args.fail, "threads": args.threads, "runs": runs,
              "median": summary}  # fmt: skip
    print(json.dumps(report["median"], indent=2))
    if args.output:
        Path(args.output).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
