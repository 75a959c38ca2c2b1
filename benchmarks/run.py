"""Performance benchmarks of dxapi at the scale of every Japanese prefecture and municipality.

    .venv/bin/python benchmarks/run.py                 # full: 1,765 plans x 100 x 10, 2 KPIs
    .venv/bin/python benchmarks/run.py --scale small   # 50 plans: a quick run

One command: creates (or reuses) a dedicated PostgreSQL database, migrates it, generates the
data (``generate_scale_data``, timed; plans that exist are skipped, ``--fresh`` starts over),
starts the service under gunicorn (DEBUG off) against it and measures P1-P4, the EXPLAIN
ANALYZE plans and the load test (``benchmarks/load_test.py``, locust). Prints a summary and
writes everything to ``benchmarks/results/<timestamp>.json`` (and the plans to ``.txt``).
See ``benchmarks/README.md``.
"""

import argparse
import datetime
import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT))
PYTHON = str(ROOT / ".venv" / "bin" / "python")
GUNICORN = str(ROOT / ".venv" / "bin" / "gunicorn")
LOCUST = str(ROOT / ".venv" / "bin" / "locust")
PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}

SCALES = {
    # plans, initiatives per plan, years, KPIs per initiative, initiatives of the export plan
    "full": (1765, 100, 10, 2, 25_000),
    "medium": (500, 100, 10, 2, 25_000),
    "small": (50, 100, 10, 2, 2_500),
}
START_YEAR = 2015
EXPORT_KPIS = 4  # the export plan: initiatives x 10 years x 4 KPIs actuals (25,000 -> 1M)


def log(message: str) -> None:
    print(f"[{datetime.datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def summary(values: list[float]) -> dict:
    ordered = sorted(values)
    return {
        "median": statistics.median(ordered),
        "min": ordered[0],
        "max": ordered[-1],
        "runs": [round(v, 6) for v in values],
    }


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


# --- database ---------------------------------------------------------------------------


def prepare_database(name: str, fresh: bool) -> None:
    import psycopg

    with psycopg.connect(dbname="postgres", autocommit=True, **PG) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [name]
        ).fetchone()
        if exists and fresh:
            log(f"dropping database {name}")
            connection.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            exists = None
        if not exists:
            log(f"creating database {name}")
            connection.execute(f'CREATE DATABASE "{name}"')


def manage(env: dict, *args: str) -> str:
    result = subprocess.run(
        [PYTHON, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if result.returncode:
        sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit(f"manage.py {' '.join(args)} failed")
    return result.stdout


def vacuum_analyze(dsn: str) -> float:
    import psycopg

    started = time.perf_counter()
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE")
    return time.perf_counter() - started


# --- HTTP client ------------------------------------------------------------------------


class Client:
    """A keep-alive HTTP/1.1 client for 127.0.0.1 (one connection, one thread)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)

    def get(self, path: str, headers: dict | None = None) -> tuple[int, bytes]:
        for attempt in range(2):
            try:
                self.connection.request("GET", path, headers=headers or {})
                response = self.connection.getresponse()
                body = response.read()
                if response.getheader("Connection", "").lower() == "close":
                    self.connection.close()
                return response.status, body
            except (http.client.HTTPException, ConnectionError):
                self.connection.close()
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
                if attempt:
                    raise
        raise AssertionError


def timed_requests(port: int, path: str, count: int) -> list[float]:
    """Sequential latencies (seconds) of ``count`` GETs of ``path``; any non-200 aborts."""
    client = Client(port)
    latencies = []
    for _ in range(count):
        started = time.perf_counter()
        status, body = client.get(path)
        latencies.append(time.perf_counter() - started)
        if status != 200:
            raise SystemExit(f"GET {path}: {status} {body[:300]!r}")
    return latencies


def throughput(port: int, path: str, total: int, threads: int, max_seconds: float) -> dict:
    """A bounded closed loop: ``threads`` keep-alive clients share ``total`` GETs of ``path``
    (stopping early after ``max_seconds``); requests per second and latencies."""
    lock = threading.Lock()
    remaining = [total]
    latencies: list[float] = []
    errors = [0]
    deadline = time.perf_counter() + max_seconds

    def worker() -> None:
        client = Client(port)
        mine = []
        while time.perf_counter() < deadline:
            with lock:
                if remaining[0] <= 0:
                    break
                remaining[0] -= 1
            started = time.perf_counter()
            status, _ = client.get(path)
            mine.append(time.perf_counter() - started)
            if status != 200:
                with lock:
                    errors[0] += 1
        with lock:
            latencies.extend(mine)

    started = time.perf_counter()
    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    elapsed = time.perf_counter() - started
    return {
        "requests": len(latencies),
        "errors": errors[0],
        "seconds": elapsed,
        "rps": len(latencies) / elapsed,
        "p50_ms": percentile(latencies, 0.5) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
    }


# --- gunicorn ---------------------------------------------------------------------------


def start_gunicorn(env: dict, port: int, workers: int, threads: int, log_path: Path):
    command = [
        GUNICORN,
        "dxapi.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        "gthread",
        "--threads",
        str(threads),
        "--timeout",
        "600",
        "--keep-alive",
        "30",
    ]
    handle = log_path.open("w")
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=handle,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    for _ in range(200):
        try:
            status, _ = Client(port).get("/health/live")
            if status == 200:
                return process
        except OSError:
            pass
        if process.poll() is not None:
            raise SystemExit(f"gunicorn exited; see {log_path}")
        time.sleep(0.1)
    raise SystemExit("gunicorn did not come up")


def worker_pids(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [int(pid) for pid in children]


def proc_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


# --- the measurements -------------------------------------------------------------------


def p1_aggregates(port: int, dsn: str, plan_code: str, year: int, runs: int) -> dict:
    import psycopg
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from evaluations import aggregates
    from evaluations.policy import evaluations_visible_to
    from initiatives.access import ANONYMOUS
    from initiatives.models import Plan

    plan = Plan.objects.get(code=plan_code)
    path = "/api/v1/aggregates/ratings/?" + urlencode({"plan": plan_code, "fiscal_year": year})
    raw_one = (
        "SELECT e.rating, count(*) FROM evaluations_evaluation e "
        "JOIN evaluations_round r ON r.id = e.round_id "
        "WHERE r.plan_id = %s AND r.fiscal_year = %s AND r.status = 'published' "
        "GROUP BY e.rating"
    )
    raw_all = (
        "SELECT r.plan_id, e.rating, count(*) FROM evaluations_evaluation e "
        "JOIN evaluations_round r ON r.id = e.round_id "
        "WHERE r.fiscal_year = %s AND r.status = 'published' "
        "GROUP BY r.plan_id, e.rating"
    )
    with CaptureQueriesContext(connection) as captured:
        aggregates.rating_counts(evaluations_visible_to(ANONYMOUS), plan=plan, fiscal_year=year)
    orm_sql = captured.captured_queries[-1]["sql"]

    def in_process() -> None:
        aggregates.rating_counts(evaluations_visible_to(ANONYMOUS), plan=plan, fiscal_year=year)

    per_run = 200
    api, raw, orm, inproc, raw_all_runs = [], [], [], [], []
    timed_requests(port, path, 30)  # warm-up: connections, caches
    with psycopg.connect(dsn) as pg:
        pg.autocommit = True
        for _ in range(10):
            pg.execute(raw_one, [plan.pk, year]).fetchall()
            pg.execute(orm_sql).fetchall()
        for _ in range(runs):
            api.append(statistics.median(timed_requests(port, path, per_run)))
            samples = []
            for _ in range(per_run):
                started = time.perf_counter()
                pg.execute(raw_one, [plan.pk, year]).fetchall()
                samples.append(time.perf_counter() - started)
            raw.append(statistics.median(samples))
            samples = []
            for _ in range(per_run):
                started = time.perf_counter()
                pg.execute(orm_sql).fetchall()
                samples.append(time.perf_counter() - started)
            orm.append(statistics.median(samples))
            samples = []
            for _ in range(per_run):
                started = time.perf_counter()
                in_process()
                samples.append(time.perf_counter() - started)
            inproc.append(statistics.median(samples))
            samples = []
            for _ in range(5):
                started = time.perf_counter()
                rows = pg.execute(raw_all, [year]).fetchall()
                samples.append(time.perf_counter() - started)
            raw_all_runs.append(statistics.median(samples))
        total = pg.execute(
            "SELECT count(*) FROM evaluations_evaluation e JOIN evaluations_round r "
            "ON r.id = e.round_id WHERE r.fiscal_year = %s",
            [year],
        ).fetchone()[0]
    result = {
        "path": path,
        "api_http_seconds": summary(api),
        "in_process_rating_counts_seconds": summary(inproc),
        "orm_sql_via_psycopg_seconds": summary(orm),
        "raw_sql_plan_year_seconds": summary(raw),
        "raw_sql_all_plans_year_seconds": summary(raw_all_runs),
        "all_plans_groups": len(rows),
        "all_plans_evaluations_in_year": total,
        "orm_sql": orm_sql,
        "raw_sql_plan_year": raw_one,
        "raw_sql_all_plans": raw_all,
    }
    raw_median = result["raw_sql_plan_year_seconds"]["median"]
    result["ratio_api_http_vs_raw_sql"] = result["api_http_seconds"]["median"] / raw_median
    result["ratio_orm_sql_vs_raw_sql"] = (
        result["orm_sql_via_psycopg_seconds"]["median"] / raw_median
    )
    result["ratio_in_process_vs_raw_sql"] = (
        result["in_process_rating_counts_seconds"]["median"] / raw_median
    )
    result["ratio_api_one_plan_vs_raw_all_plans"] = (
        result["api_http_seconds"]["median"] / result["raw_sql_all_plans_year_seconds"]["median"]
    )
    result["goal"] = "<= 1.5x"
    return result


def query_counts(plan_code: str) -> dict:
    from django.db import connection
    from django.test import Client as DjangoClient
    from django.test.utils import CaptureQueriesContext

    client = DjangoClient()
    counts = {}
    for name, base in (("api", "/api/v1/initiatives/"), ("bare", "/bench/bare/initiatives/")):
        for size in (10, 100):
            with CaptureQueriesContext(connection) as captured:
                response = client.get(base, {"plan": plan_code, "page_size": size})
            assert response.status_code == 200, response.content[:300]
            counts[f"{name}_page_size_{size}"] = len(captured.captured_queries)
    return counts


def same_json(port: int, plan_code: str) -> bool:
    query = urlencode({"plan": plan_code, "page_size": 50, "page": 2})
    _, api = Client(port).get(f"/api/v1/initiatives/?{query}")
    _, bare = Client(port).get(f"/bench/bare/initiatives/?{query}")
    api, bare = json.loads(api), json.loads(bare)
    for body in (api, bare):  # the links differ only in the path of the view
        for link in ("next", "previous"):
            if body[link]:
                body[link] = body[link].split("?", 1)[1]
    return api == bare


def p2_list(port: int, plan_codes: list[str], runs: int, threads: int) -> dict:
    query = lambda code: urlencode({"plan": code, "page_size": 50})  # noqa: E731
    api_path = f"/api/v1/initiatives/?{query(plan_codes[0])}"
    bare_path = f"/bench/bare/initiatives/?{query(plan_codes[0])}"
    timed_requests(port, api_path, 20)
    timed_requests(port, bare_path, 20)
    api_runs, bare_runs = [], []
    for _ in range(runs):  # alternated, so that drift hits both alike
        api_runs.append(throughput(port, api_path, 300, threads, 15))
        bare_runs.append(throughput(port, bare_path, 300, threads, 15))
    api_rps = summary([run["rps"] for run in api_runs])
    bare_rps = summary([run["rps"] for run in bare_runs])
    return {
        "api_path": api_path,
        "bare_path": bare_path,
        "threads": threads,
        "same_json": same_json(port, plan_codes[0]),
        "api_rps": api_rps,
        "bare_rps": bare_rps,
        "api_p50_ms": summary([run["p50_ms"] for run in api_runs]),
        "bare_p50_ms": summary([run["p50_ms"] for run in bare_runs]),
        "errors": sum(run["errors"] for run in api_runs + bare_runs),
        "ratio_api_vs_bare_throughput": api_rps["median"] / bare_rps["median"],
        "goal": ">= 0.7x",
        "queries_per_request": query_counts(plan_codes[0]),
    }


def cursor_pages(port: int, dsn: str, runs: int) -> dict:
    """The whole public list of evaluations (no filter), first and deep pages of 50: page
    numbers (COUNT(*) and a sort of every visible row) against cursor pages (an id range)."""
    import base64

    import psycopg

    with psycopg.connect(dsn) as pg:
        total, deep_id = pg.execute(
            "SELECT count(*), percentile_disc(0.9) WITHIN GROUP (ORDER BY e.id) "
            "FROM evaluations_evaluation e JOIN evaluations_round r ON r.id = e.round_id "
            "WHERE r.status = 'published'"
        ).fetchone()
    deep_page = max(1, int(total * 0.9) // 50)
    deep_cursor = base64.b64encode(urlencode({"p": deep_id}).encode()).decode()
    paths = {
        "page_first": "/api/v1/evaluations/?page_size=50",
        "cursor_first": "/api/v1/evaluations/?page_size=50&pagination=cursor",
        "page_deep": f"/api/v1/evaluations/?page_size=50&page={deep_page}",
        "cursor_deep": f"/api/v1/evaluations/?page_size=50&{urlencode({'cursor': deep_cursor})}",
    }
    timed = {name: [] for name in paths}
    for _ in range(runs):
        for name, path in paths.items():
            timed[name].append(statistics.median(timed_requests(port, path, 5)))
    result = {"rows": total, "paths": paths}
    result.update({f"{name}_seconds": summary(values) for name, values in timed.items()})
    return result


def p3_import(env: dict, rows: int) -> dict:
    output = RESULTS / f"import-{os.getpid()}.json"
    started = time.perf_counter()
    subprocess.run(
        [PYTHON, "benchmarks/import_benchmark.py", "--rows", str(rows), "--output", str(output)],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "dxapi.test_settings"},
        check=True,
    )
    result = json.loads(output.read_text())
    output.unlink()
    result["wall_seconds_including_setup"] = time.perf_counter() - started
    result["seconds"] = summary([run["seconds"] for run in result["runs"]])
    result["goal"] = "<= 15 s, one transaction"
    return result


def p4_export(port: int, master: int, plan_code: str, runs: int) -> dict:
    path = f"/api/v1/exports/plans/{plan_code}/tables/kpi_actuals/"
    results = []
    for _ in range(runs):
        pids = worker_pids(master)
        before = {}
        for pid in pids:
            Path(f"/proc/{pid}/clear_refs").write_text("5")  # reset the peak RSS (VmHWM)
            before[pid] = proc_kb(pid, "VmRSS")
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        started = time.perf_counter()
        connection.request("GET", path)
        response = connection.getresponse()
        first_byte = time.perf_counter() - started
        size = lines = 0
        while chunk := response.read(1 << 16):
            size += len(chunk)
            lines += chunk.count(b"\n")
        seconds = time.perf_counter() - started
        connection.close()
        growth = {pid: proc_kb(pid, "VmHWM") - before[pid] for pid in pids}
        served_by = max(growth, key=growth.get)
        results.append(
            {
                "status": response.status,
                "rows": lines - 1,
                "bytes": size,
                "seconds": seconds,
                "first_byte_seconds": first_byte,
                "rows_per_second": (lines - 1) / seconds,
                "worker_rss_before_mb": before[served_by] / 1024,
                "worker_peak_growth_mb": growth[served_by] / 1024,
            }
        )
    return {
        "path": path,
        "runs": results,
        "peak_growth_mb": summary([r["worker_peak_growth_mb"] for r in results]),
        "seconds": summary([r["seconds"] for r in results]),
        "goal": "< 50 MB peak growth of the gunicorn worker",
    }


def explain(dsn: str, plan_code: str, year: int) -> dict:
    """EXPLAIN (ANALYZE, BUFFERS) of every query of the aggregate and list requests."""
    import psycopg
    from django.db import connection
    from django.test import Client as DjangoClient
    from django.test.utils import CaptureQueriesContext

    client = DjangoClient()
    requests = {
        "aggregate_ratings": (
            "/api/v1/aggregates/ratings/",
            {"plan": plan_code, "fiscal_year": year},
        ),
        "initiative_list": ("/api/v1/initiatives/", {"plan": plan_code, "page_size": 50}),
    }
    plans: dict[str, list] = {}
    with psycopg.connect(dsn, autocommit=True) as pg:
        for name, (path, params) in requests.items():
            client.get(path, params)  # warm
            with CaptureQueriesContext(connection) as captured:
                assert client.get(path, params).status_code == 200
            plans[name] = []
            for query in captured.captured_queries:
                sql = query["sql"]
                if not sql.lstrip().upper().startswith("SELECT"):
                    continue
                rows = pg.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql).fetchall()
                plans[name].append({"sql": sql, "plan": "\n".join(r[0] for r in rows)})
        raw_all = (
            "SELECT r.plan_id, e.rating, count(*) FROM evaluations_evaluation e "
            "JOIN evaluations_round r ON r.id = e.round_id "
            f"WHERE r.fiscal_year = {int(year)} AND r.status = 'published' "
            "GROUP BY r.plan_id, e.rating"
        )
        rows = pg.execute("EXPLAIN (ANALYZE, BUFFERS) " + raw_all).fetchall()
        plans["raw_all_plans_group_by"] = [{"sql": raw_all, "plan": "\n".join(r[0] for r in rows)}]
    return plans


def load_test_setup(plan_codes: list[str], open_year: int, path: Path) -> dict:
    """Open a round on the first plan (as the secretariat would) and give every department
    a read-write API key: the department editors of the load test."""
    from evaluations import services
    from evaluations.models import Evaluation, Round
    from initiatives.access import Actor
    from initiatives.models import ApiKey, Department, InitiativeDepartment, Plan

    plan = Plan.objects.get(code=plan_codes[0])
    round_ = Round.objects.filter(plan=plan, fiscal_year=open_year).first()
    if round_ is None:
        round_ = services.round_open(
            actor=Actor(is_superuser=True), plan=plan, fiscal_year=open_year
        )
    keys = {}
    ApiKey.objects.filter(plan=plan, name__startswith="loadtest-").delete()
    for department in Department.objects.filter(plan=plan):
        _, key = ApiKey.objects.create_key(
            name=f"loadtest-{department.code}",
            plan=plan,
            department=department,
            role="editor",
        )
        keys[department.pk] = key
    leads = dict(
        InitiativeDepartment.objects.filter(initiative__plan=plan, is_lead=True).values_list(
            "initiative_id", "department_id"
        )
    )
    evaluations = [
        {"id": e.pk, "key": keys[leads[e.initiative_id]]}
        for e in Evaluation.objects.filter(round=round_).order_by("initiative__number")
    ]
    setup = {
        "plans": plan_codes,
        "years": list(range(START_YEAR, open_year)),
        "evaluations": evaluations,
    }
    path.write_text(json.dumps(setup))
    return {
        "round_id": round_.pk,
        "fiscal_year": open_year,
        "evaluations": len(evaluations),
        "api_keys": len(keys),
    }


def load_test(port: int, setup_path: Path, seconds: int, users: int, stamp: str) -> dict:
    output = RESULTS / f"{stamp}-locust.json"
    env = {
        **os.environ,
        "LOADTEST_SETUP": str(setup_path),
        "LOADTEST_OUTPUT": str(output),
        "LOADTEST_USERS": str(users),
    }
    command = [
        LOCUST,
        "-f",
        str(ROOT / "benchmarks" / "load_test.py"),
        "--headless",
        "-u",
        str(users),
        "-r",
        str(users),
        "-t",
        f"{seconds}s",
        "--host",
        f"http://127.0.0.1:{port}",
        "--only-summary",
        "--stop-timeout",
        "10",
    ]
    completed = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    (RESULTS / f"{stamp}-locust.log").write_text(completed.stdout + completed.stderr)
    if not output.exists():
        sys.stderr.write(completed.stdout[-3000:] + completed.stderr[-3000:])
        raise SystemExit("the load test wrote no result")
    return json.loads(output.read_text())


# --- main -------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="full")
    parser.add_argument("--plans", type=int, help="override the scale's number of plans")
    parser.add_argument("--database", default="dxapi_scale")
    parser.add_argument("--fresh", action="store_true", help="drop and recreate the database")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--threads", type=int, default=4, help="gthread threads per worker")
    parser.add_argument("--runs", type=int, default=3, help="repetitions of each measurement")
    parser.add_argument("--client-threads", type=int, default=4)
    parser.add_argument("--import-rows", type=int, default=100_000)
    parser.add_argument("--load-seconds", type=int, default=60)
    parser.add_argument("--load-users", type=int, default=32)
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=["p1", "p2", "p3", "p4", "cursor", "explain", "load"],
    )
    arguments = parser.parse_args()
    plans, per_plan, years, kpis, export_initiatives = SCALES[arguments.scale]
    plans = arguments.plans or plans
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%dT%H%M%S")

    dsn = f"postgresql://postgres@127.0.0.1:5432/{arguments.database}"
    env = {
        **os.environ,
        "DATABASE_URL": dsn.replace("postgresql://", "postgres://"),
        "SECRET_KEY": "benchmark-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        "DEBUG": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        "REDIS_URL": "redis://127.0.0.1:6379/5",
        "SECURE_SSL_REDIRECT": "0",  # plain HTTP on 127.0.0.1 (no TLS proxy in front)
        "THROTTLE_ANON": "1000000/minute",
        "THROTTLE_USER": "1000000/minute",
        "THROTTLE_API_KEY": "1000000/minute",
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "WARNING"),
        "DJANGO_SETTINGS_MODULE": "benchmarks.bench_settings",
        "PYTHONPATH": str(ROOT),
    }
    report: dict = {
        "started": stamp,
        "scale": {
            "name": arguments.scale,
            "plans": plans,
            "initiatives_per_plan": per_plan,
            "years": years,
            "kpis_per_initiative": kpis,
            "export_plan": {
                "initiatives": export_initiatives,
                "years": years,
                "kpis_per_initiative": EXPORT_KPIS,
            },
        },
        "machine": {
            "cpus": os.cpu_count(),
            "gunicorn_workers": arguments.workers,
            "gunicorn_threads": arguments.threads,
        },
    }

    prepare_database(arguments.database, arguments.fresh)
    started = time.perf_counter()
    manage(env, "migrate", "-v0")
    report["migrate_seconds"] = time.perf_counter() - started
    log(f"generating {plans} x {per_plan} x {years} years x {kpis} KPIs")
    started = time.perf_counter()
    generated = manage(
        env,
        "generate_scale_data",
        "--plans",
        str(plans),
        "--initiatives-per-plan",
        str(per_plan),
        "--years",
        str(years),
        "--kpis-per-initiative",
        str(kpis),
        "--start-year",
        str(START_YEAR),
    )
    report["generate_seconds"] = time.perf_counter() - started
    report["generate_output"] = generated
    log(generated.strip())
    started = time.perf_counter()
    generated = manage(
        env,
        "generate_scale_data",
        "--prefix",
        "export",
        "--plans",
        "1",
        "--initiatives-per-plan",
        str(export_initiatives),
        "--years",
        str(years),
        "--kpis-per-initiative",
        str(EXPORT_KPIS),
        "--start-year",
        str(START_YEAR),
    )
    report["generate_export_plan_seconds"] = time.perf_counter() - started
    log(generated.strip())
    report["vacuum_analyze_seconds"] = vacuum_analyze(dsn)

    import psycopg

    with psycopg.connect(dsn) as pg:
        report["database_rows"] = {
            table: pg.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in (
                "initiatives_plan",
                "initiatives_initiative",
                "initiatives_kpi",
                "initiatives_kpitarget",
                "evaluations_evaluation",
                "evaluations_kpiactual",
            )
        }
        report["database_size"] = pg.execute(
            "SELECT pg_size_pretty(pg_database_size(current_database()))"
        ).fetchone()[0]
    log(f"rows: {report['database_rows']}")

    os.environ.update(env)
    import django

    django.setup()
    width = max(4, len(str(plans)))
    plan_codes = [f"scale-{n:0{width}d}" for n in range(1, plans + 1)]
    middle = plan_codes[len(plan_codes) // 2]
    year = START_YEAR + years - 1
    setup_path = RESULTS / f"{stamp}-loadtest-setup.json"
    report["load_test_setup"] = load_test_setup(plan_codes, START_YEAR + years, setup_path)

    log_path = RESULTS / f"{stamp}-gunicorn.log"
    server = start_gunicorn(env, arguments.port, arguments.workers, arguments.threads, log_path)
    try:
        if "p1" not in arguments.skip:
            log("P1 aggregates")
            report["p1_aggregates"] = p1_aggregates(
                arguments.port, dsn, middle, year, arguments.runs
            )
        if "p2" not in arguments.skip:
            log("P2 initiative list")
            report["p2_initiative_list"] = p2_list(
                arguments.port, [middle], arguments.runs, arguments.client_threads
            )
        if "cursor" not in arguments.skip:
            log("page numbers and cursor pages of the public evaluation list")
            report["cursor_pages"] = cursor_pages(arguments.port, dsn, arguments.runs)
        if "explain" not in arguments.skip:
            log("EXPLAIN ANALYZE")
            report["explain"] = explain(dsn, middle, year)
        if "p4" not in arguments.skip:
            log("P4 export")
            report["p4_export"] = p4_export(arguments.port, server.pid, "export-0001", 2)
        if "load" not in arguments.skip:
            log("load test")
            report["load_test"] = load_test(
                arguments.port, setup_path, arguments.load_seconds, arguments.load_users, stamp
            )
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    if "p3" not in arguments.skip:
        log("P3 import")
        report["p3_import"] = p3_import(env, arguments.import_rows)

    report["finished"] = datetime.datetime.now().strftime("%Y%m%dT%H%M%S")
    output = RESULTS / f"{stamp}.json"
    output.write_text(json.dumps(report, ensure_ascii=False, indent=2, default=str))
    if "explain" in report:
        text = []
        for name, queries in report["explain"].items():
            for query in queries:
                text += [f"-- {name}", query["sql"], query["plan"], ""]
        (RESULTS / f"{stamp}-explain.txt").write_text("\n".join(text))
    print(render(report))
    log(f"wrote {output}")


def render(report: dict) -> str:
    lines = [
        f"scale: {report['scale']}",
        f"rows: {report.get('database_rows')}",
        f"generation: {report['generate_seconds']:.1f}s (+ export plan "
        f"{report['generate_export_plan_seconds']:.1f}s, VACUUM ANALYZE "
        f"{report['vacuum_analyze_seconds']:.1f}s)",
    ]
    ms = lambda s: f"{s['median'] * 1000:.2f} ms [{s['min'] * 1000:.2f}-{s['max'] * 1000:.2f}]"  # noqa: E731
    if p1 := report.get("p1_aggregates"):
        lines += [
            "P1 aggregates/ratings (median of run medians [min-max]):",
            f"  API over HTTP          {ms(p1['api_http_seconds'])}",
            f"  rating_counts() in-proc {ms(p1['in_process_rating_counts_seconds'])}",
            f"  ORM's SQL via psycopg  {ms(p1['orm_sql_via_psycopg_seconds'])}",
            f"  raw GROUP BY plan-year {ms(p1['raw_sql_plan_year_seconds'])}",
            f"  raw GROUP BY all plans {ms(p1['raw_sql_all_plans_year_seconds'])}",
            f"  ratio API/raw {p1['ratio_api_http_vs_raw_sql']:.2f}x, ORM SQL/raw "
            f"{p1['ratio_orm_sql_vs_raw_sql']:.2f}x, API one plan / raw all plans "
            f"{p1['ratio_api_one_plan_vs_raw_all_plans']:.2f}x (goal <= 1.5x)",
        ]
    if p2 := report.get("p2_initiative_list"):
        lines += [
            f"P2 initiative list, {p2['threads']} client threads (req/s median [min-max]):",
            f"  API  {p2['api_rps']['median']:.1f} [{p2['api_rps']['min']:.1f}-"
            f"{p2['api_rps']['max']:.1f}]  p50 {p2['api_p50_ms']['median']:.1f} ms",
            f"  bare {p2['bare_rps']['median']:.1f} [{p2['bare_rps']['min']:.1f}-"
            f"{p2['bare_rps']['max']:.1f}]  p50 {p2['bare_p50_ms']['median']:.1f} ms",
            f"  ratio {p2['ratio_api_vs_bare_throughput']:.2f}x (goal >= 0.7x); same JSON: "
            f"{p2['same_json']}; errors {p2['errors']}",
            f"  queries per request: {p2['queries_per_request']}",
        ]
    if pages := report.get("cursor_pages"):
        lines += [
            f"Public evaluation list ({pages['rows']} rows), pages of 50 (median [min-max]):",
            f"  first page: page number {ms(pages['page_first_seconds'])}, "
            f"cursor {ms(pages['cursor_first_seconds'])}",
            f"  at 90%:     page number {ms(pages['page_deep_seconds'])}, "
            f"cursor {ms(pages['cursor_deep_seconds'])}",
        ]
    if p3 := report.get("p3_import"):
        lines.append(
            f"P3 import of {p3['rows']} rows: median {p3['seconds']['median']:.2f}s "
            f"[{p3['seconds']['min']:.2f}-{p3['seconds']['max']:.2f}] (goal <= 15 s)"
        )
    if p4 := report.get("p4_export"):
        run = p4["runs"][-1]
        lines.append(
            f"P4 export of {run['rows']} rows ({run['bytes'] / 1e6:.0f} MB) in "
            f"{p4['seconds']['median']:.1f}s: worker peak RSS growth "
            f"{p4['peak_growth_mb']['median']:.1f} MB [{p4['peak_growth_mb']['min']:.1f}-"
            f"{p4['peak_growth_mb']['max']:.1f}] (goal < 50 MB)"
        )
    if load := report.get("load_test"):
        total = load["total"]
        lines.append(
            f"load test {load['users']} users {load['seconds']}s: {total['requests']} requests, "
            f"{total['rps']:.1f} req/s, errors {total['failures']}, p50 {total['p50_ms']} ms, "
            f"p99 {total['p99_ms']} ms"
        )
        for name, entry in load["endpoints"].items():
            lines.append(
                f"  {name:38s} {entry['requests']:6d} req  errors {entry['failures']}  "
                f"p50 {entry['p50_ms']} ms  p99 {entry['p99_ms']} ms"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
