"""Publication day: the public's reads through nginx, from dxapi directly, and from a peer.

    .venv/bin/python benchmarks/publication_day.py                       # 300 plans, 3 runs of 10 s
    .venv/bin/python benchmarks/publication_day.py --duration 3 --runs 1 # a quick proof

One PostgreSQL database (``--database``, default ``h_proxy_bench``; created, migrated and
filled by ``generate_scale_data`` like ``benchmarks/run.py``; plans that exist are kept), then
three servers on it:

- dxapi: gunicorn, 3 gthread workers, DEBUG off, Redis cache (db ``--redis-db``, flushed at the
  start), throttles raised, the default Cache-Control (max-age 10 s, stale-while-revalidate 30 s);
- nginx in front of dxapi: ``deploy/nginx/run-local.sh`` (``deploy/nginx/dxapi.conf``);
- the peer: ``benchmarks/peer/app.py`` (Starlette + asyncpg, the SQL on every request), uvicorn
  with 3 workers; ``benchmarks/peer/compare.py`` first proves it answers the same JSON.

Each read is measured with ``wrk`` (keep-alive; the same threads and connections for every
target), the targets of a read alternated within each run (their order rotated from run to
run), ``--runs`` times; the medians are compared with the goals. Prints a table and writes
``benchmarks/results/<timestamp>-publication-day.json`` (git-ignored).
"""

import argparse
import datetime
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.peer.compare import differences  # noqa: E402
from benchmarks.run import (  # noqa: E402
    GUNICORN,
    PG,
    PYTHON,
    RESULTS,
    START_YEAR,
    Client,
    log,
    manage,
    prepare_database,
    vacuum_analyze,
)

UVICORN = str(ROOT / ".venv" / "bin" / "uvicorn")
RUN_LOCAL = ROOT / "deploy" / "nginx" / "run-local.sh"
YEARS = 10

# The goals: (name, what is divided by what, at least).
GOALS = [
    ("proxy ratings >= 2x peer", ("ratings", "proxy"), ("ratings", "peer"), 2.0),
    (
        "proxy ratings by department >= 2x peer",
        ("ratings_by_department", "proxy"),
        ("ratings_by_department", "peer"),
        2.0,
    ),
    ("proxy initiative list >= 2x peer", ("initiatives", "proxy"), ("initiatives", "peer"), 2.0),
    (
        "dxapi cached ratings >= 0.8x its /health/live",
        ("ratings", "dxapi"),
        ("health", "dxapi"),
        0.8,
    ),
    (
        "dxapi initiative list >= 0.4x its /health/live",
        ("initiatives", "dxapi"),
        ("health", "dxapi"),
        0.4,
    ),
    ("dxapi evaluation list >= 5x 25 req/s", ("evaluations", "dxapi"), 25.0, 5.0),
    ("dxapi yearly report >= 5x 17 req/s", ("report", "dxapi"), 17.0, 5.0),
]


# --- servers ------------------------------------------------------------------------------


def start(name: str, command: list[str], env: dict, port: int, log_path: Path):
    """Start a server in its own process group and wait for its /health/live."""
    handle = log_path.open("w")
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=handle,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{name} exited; see {log_path}")
        try:
            if Client(port).get("/health/live")[0] == 200:
                log(f"{name} on 127.0.0.1:{port} (pid {process.pid})")
                return process
        except OSError:
            pass
        time.sleep(0.2)
    stop(process)
    raise SystemExit(f"{name} did not come up; see {log_path}")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def flush_redis(db: int) -> None:
    import redis

    redis.Redis(host="127.0.0.1", port=6379, db=db).flushdb()


# --- wrk ----------------------------------------------------------------------------------

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(number) * _UNITS[unit]


def wrk(port: int, path: str, seconds: int, threads: int, connections: int) -> dict:
    """One wrk run (keep-alive); req/s, p50/p99 latency and the requests that failed."""
    url = f"http://127.0.0.1:{port}{path}"
    command = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s"]
    completed = subprocess.run(
        [*command, "--latency", url], capture_output=True, text=True, timeout=seconds + 60
    )
    output = completed.stdout
    if completed.returncode or "Requests/sec" not in output:
        raise SystemExit(f"wrk {url} failed:\n{output}{completed.stderr}")
    requests = int(re.search(r"(\d+) requests in", output).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "requests": requests,
        "p50_ms": _ms(re.search(r"^\s*50%\s+(\S+)", output, re.M).group(1)),
        "p99_ms": _ms(re.search(r"^\s*99%\s+(\S+)", output, re.M).group(1)),
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "socket_errors": sum(map(int, socket_errors.groups())) if socket_errors else 0,
    }


# --- the measurement ----------------------------------------------------------------------


def reads(plan: str, year: int) -> dict[str, tuple[str, list[str]]]:
    """Each read: its path and the targets it is measured on."""
    ratings = {"plan": plan, "fiscal_year": year}
    everywhere = ["proxy", "dxapi", "peer"]
    return {
        "health": ("/health/live", ["dxapi", "peer"]),
        "ratings": ("/api/v1/aggregates/ratings/?" + urlencode(ratings), everywhere),
        "ratings_by_department": (
            "/api/v1/aggregates/ratings/?" + urlencode({**ratings, "group_by": "department"}),
            everywhere,
        ),
        "initiatives": (
            "/api/v1/initiatives/?" + urlencode({"plan": plan, "page_size": 50}),
            everywhere,
        ),
        "evaluations": ("/api/v1/evaluations/?" + urlencode(ratings), ["dxapi"]),
        "report": ("/api/v1/reports/yearly/?" + urlencode(ratings), ["dxapi"]),
    }


def check_proxy_caches(port: int, path: str) -> str:
    """The X-Cache-Status of a second read through the proxy (HIT when it caches)."""
    import http.client

    statuses = []
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    for _ in range(2):
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        statuses.append(response.getheader("X-Cache-Status", ""))
    connection.close()
    return statuses[-1]


def measure(
    ports: dict[str, int], plan: str, year: int, arguments: argparse.Namespace
) -> dict[str, dict[str, list[dict]]]:
    """``{read: {target: [one wrk result per run]}}``, targets alternated within a run."""
    table = reads(plan, year)
    results: dict[str, dict[str, list[dict]]] = {
        name: {target: [] for target in targets} for name, (_, targets) in table.items()
    }
    for path, targets in table.values():  # warm-up: connections, caches
        for target in targets:
            wrk(ports[target], path, 1, arguments.threads, arguments.connections)
    for run in range(arguments.runs):
        for name, (path, targets) in table.items():
            shift = run % len(targets)
            for target in targets[shift:] + targets[:shift]:
                seconds, threads = arguments.duration, arguments.threads
                result = wrk(ports[target], path, seconds, threads, arguments.connections)
                results[name][target].append(result)
                log(
                    f"run {run + 1}/{arguments.runs} {name:22s} {target:5s} "
                    f"{result['rps']:9.1f} req/s  p50 {result['p50_ms']:.1f} ms"
                    + (f"  non-2xx {result['non_2xx']}" if result["non_2xx"] else "")
                )
    return results


def summarise(results: dict[str, dict[str, list[dict]]]) -> dict:
    summary: dict = {}
    for name, targets in results.items():
        summary[name] = {}
        for target, runs in targets.items():
            rates = [run["rps"] for run in runs]
            summary[name][target] = {
                "rps_median": statistics.median(rates),
                "rps_min": min(rates),
                "rps_max": max(rates),
                "rps_runs": rates,
                "p50_ms_median": statistics.median(run["p50_ms"] for run in runs),
                "p99_ms_median": statistics.median(run["p99_ms"] for run in runs),
                "errors": sum(run["non_2xx"] + run["socket_errors"] for run in runs),
            }
    return summary


def goals(summary: dict) -> list[dict]:
    verdicts = []
    for name, (read, target), baseline, least in GOALS:
        value = summary[read][target]["rps_median"]
        if isinstance(baseline, tuple):
            base = summary[baseline[0]][baseline[1]]["rps_median"]
            against = f"{baseline[0]} {baseline[1]}"
        else:
            base, against = baseline, f"{baseline:g} req/s"
        ratio = value / base if base else float("inf")
        verdicts.append(
            {
                "goal": name,
                "rps": value,
                "against": against,
                "against_rps": base,
                "ratio": ratio,
                "at_least": least,
                "met": ratio >= least,
            }
        )
    return verdicts


def render(report: dict) -> str:
    lines = [
        f"publication day, {report['plans']} plans, plan {report['plan']} FY{report['year']}; "
        f"wrk -t{report['wrk']['threads']} -c{report['wrk']['connections']} "
        f"-d{report['wrk']['duration']}s x {report['wrk']['runs']} runs; "
        f"{report['machine']['cpus']} CPUs",
        f"peer answers the same JSON as dxapi: {report['same_json']}"
        + (f" ({report['json_differences']})" if report["json_differences"] else ""),
        f"proxy caches (X-Cache-Status of a repeated read): {report['proxy_cache_status']}",
        "",
        f"{'read':24s} {'target':6s} {'req/s median':>12s} {'[min-max]':>20s} "
        f"{'p50 ms':>8s} {'p99 ms':>8s} {'errors':>6s}",
    ]
    for name, targets in report["summary"].items():
        for target, entry in targets.items():
            spread = f"[{entry['rps_min']:.1f}-{entry['rps_max']:.1f}]"
            lines.append(
                f"{name:24s} {target:6s} {entry['rps_median']:12.1f} {spread:>20s} "
                f"{entry['p50_ms_median']:8.1f} {entry['p99_ms_median']:8.1f} "
                f"{entry['errors']:6d}"
            )
    lines += ["", "goals:"]
    for verdict in report["goals"]:
        mark = "met" if verdict["met"] else "MISSED"
        lines.append(
            f"  {verdict['goal']:48s} {verdict['rps']:9.1f} / {verdict['against_rps']:9.1f} "
            f"({verdict['against']}) = {verdict['ratio']:6.2f}x  {mark}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plans", type=int, default=300)
    parser.add_argument("--database", default="h_proxy_bench")
    parser.add_argument("--fresh", action="store_true", help="drop and recreate the database")
    parser.add_argument("--redis-db", type=int, default=8)
    parser.add_argument("--duration", type=int, default=10, help="seconds of each wrk run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn and uvicorn workers")
    parser.add_argument("--gunicorn-threads", type=int, default=4)
    parser.add_argument("--nginx-workers", default="auto")
    parser.add_argument("--port", type=int, default=8770, help="dxapi; peer +1, proxy +2")
    arguments = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install -y wrk)")
    if not (shutil.which("nginx") or Path("/usr/sbin/nginx").exists()):
        raise SystemExit("nginx is not installed (apt-get install -y nginx-light)")
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%dT%H%M%S")
    dsn = f"postgresql://{PG['user']}@{PG['host']}:{PG['port']}/{arguments.database}"
    env = {
        **os.environ,
        "DATABASE_URL": dsn.replace("postgresql://", "postgres://"),
        "SECRET_KEY": "benchmark-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        "DEBUG": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "REDIS_URL": f"redis://127.0.0.1:6379/{arguments.redis_db}",
        "SECURE_SSL_REDIRECT": "0",  # plain HTTP on 127.0.0.1; TLS would end at nginx
        "THROTTLE_ANON": "100000000/minute",
        "THROTTLE_USER": "100000000/minute",
        "THROTTLE_API_KEY": "100000000/minute",
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "WARNING"),
        "DJANGO_SETTINGS_MODULE": "dxapi.settings",
        "PYTHONPATH": str(ROOT),
    }

    prepare_database(arguments.database, arguments.fresh)
    manage(env, "migrate", "-v0")
    log(f"generating {arguments.plans} plans x 100 initiatives x {YEARS} years (kept if there)")
    started = time.perf_counter()
    generated = manage(
        env,
        "generate_scale_data",
        "--plans",
        str(arguments.plans),
        "--initiatives-per-plan",
        "100",
        "--years",
        str(YEARS),
        "--kpis-per-initiative",
        "2",
        "--start-year",
        str(START_YEAR),
    )
    generate_seconds = time.perf_counter() - started
    log(generated.strip().splitlines()[-1] if generated.strip() else "generated")
    vacuum_analyze(dsn)
    flush_redis(arguments.redis_db)

    width = max(4, len(str(arguments.plans)))
    plan = f"scale-{arguments.plans // 2:0{width}d}"
    year = START_YEAR + YEARS - 1
    ports = {"dxapi": arguments.port, "peer": arguments.port + 1, "proxy": arguments.port + 2}
    gunicorn = [
        GUNICORN, "dxapi.wsgi:application",
        "--bind", f"127.0.0.1:{ports['dxapi']}",
        "--workers", str(arguments.workers),
        "--worker-class", "gthread",
        "--threads", str(arguments.gunicorn_threads),
        "--keep-alive", "75",  # longer than nginx keeps idle upstream connections (60 s)
        "--timeout", "120",
    ]  # fmt: skip
    uvicorn = [
        UVICORN, "benchmarks.peer.app:app",
        "--host", "127.0.0.1", "--port", str(ports["peer"]),
        "--workers", str(arguments.workers),
        "--loop", "uvloop", "--http", "httptools",
        "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    nginx = [
        "bash", str(RUN_LOCAL),
        "--port", str(ports["proxy"]),
        "--upstream", f"127.0.0.1:{ports['dxapi']}",
        "--prefix", str(RESULTS / f"{stamp}-nginx"),
        "--workers", arguments.nginx_workers,
    ]  # fmt: skip
    logs = RESULTS / f"{stamp}-publication-day"
    servers = []
    try:
        servers.append(start("dxapi", gunicorn, env, ports["dxapi"], Path(f"{logs}-gunicorn.log")))
        peer_env = {**env, "DATABASE_URL": dsn}
        servers.append(start("peer", uvicorn, peer_env, ports["peer"], Path(f"{logs}-peer.log")))
        servers.append(start("nginx", nginx, env, ports["proxy"], Path(f"{logs}-nginx.log")))
        found = differences(ports["dxapi"], ports["peer"], plan, year)
        log("peer: same JSON as dxapi" if not found else f"peer differs: {found}")
        cache_status = check_proxy_caches(ports["proxy"], reads(plan, year)["ratings"][0])
        log(f"proxy: a repeated read is {cache_status or 'not cached'}")
        results = measure(ports, plan, year, arguments)
    finally:
        for server in reversed(servers):
            stop(server)

    summary = summarise(results)
    report = {
        "started": stamp,
        "finished": datetime.datetime.now().strftime("%Y%m%dT%H%M%S"),
        "plans": arguments.plans,
        "plan": plan,
        "year": year,
        "generate_seconds": generate_seconds,
        "machine": {
            "cpus": os.cpu_count(),
            "load_average": os.getloadavg(),
            "gunicorn": f"{arguments.workers} gthread workers x {arguments.gunicorn_threads}",
            "peer": f"uvicorn, {arguments.workers} workers",
            "nginx_workers": arguments.nginx_workers,
        },
        "wrk": {
            "threads": arguments.threads,
            "connections": arguments.connections,
            "duration": arguments.duration,
            "runs": arguments.runs,
        },
        "paths": {name: path for name, (path, _) in reads(plan, year).items()},
        "same_json": not found,
        "json_differences": found,
        "proxy_cache_status": cache_status,
        "summary": summary,
        "goals": goals(summary),
        "runs": results,
        "python": PYTHON,
    }
    output = RESULTS / f"{stamp}-publication-day.json"
    output.write_text(json.dumps(report, ensure_ascii=False, indent=2))
    print(render(report))
    log(f"wrote {output}")


if __name__ == "__main__":
    main()
