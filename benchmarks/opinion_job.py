"""End to end: opinions in, the analysis job, the result read, on SQLite and PostgreSQL.

    .venv/bin/python -m benchmarks.opinion_job run [--sizes 1000,10000,100000] [--repeat 3]
        [--databases sqlite,postgres] [--output result.json]
    DATABASE_URL=sqlite:////tmp/h_bench.sqlite3 .venv/bin/python manage.py migrate
    DATABASE_URL=sqlite:////tmp/h_bench.sqlite3 \
        .venv/bin/python -m benchmarks.opinion_job one --size 10000 [--profile]

``run`` starts a fresh process per size and database, alternating SQLite (a file in /tmp) and
PostgreSQL (a database ``h_bench_<size>`` on 127.0.0.1, created, migrated and dropped), with
the 10,000 size repeated ``--repeat`` times for medians. Each process loads the shipped plan
(91 initiatives), then times three stages:

- intake: ``intake.opinions_import`` (masking, checks, bulk insert with history) of synthetic
  opinions (``benchmarks.opinion_analysis.synthetic_opinions``; one in five also carries a
  name, a phone number, an e-mail or a postal address to mask), in files of the CSV door's
  10,000 rows;
- the job: ``runs.analysis_request(queue=False)`` then ``runs.analysis_run`` (reading, the
  engine, storing clusters, placements and links);
- reading: ``analysis_result`` for the secretariat and for the public, each serialised with
  orjson and rendered as the page.

Each process prints one JSON line: wall time per stage, its peak RSS after each stage, the
rows written and the JSON sizes. See ``benchmarks/README.md`` ("End to end").
"""

import argparse
import cProfile
import datetime
import io
import json
import os
import pstats
import random
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PYTHON = str(ROOT / ".venv" / "bin" / "python")
PG_SERVER = "postgres://postgres@127.0.0.1:5432"
SQLITE_DIR = Path("/tmp")
TARGET_SECONDS = 600
CSV_FILE_ROWS = 10_000  # the CSV door's limit per file (opinion_csv.MAX_ROWS)
PERSONAL_SHARE = 0.2
PROFILE = False
PERSONAL_SENTENCES = (
    "私は佐藤花子です。",
    "連絡先は018-860-1234です。",
    "携帯090-1234-5678までご連絡ください。",
    "メールはhanako.sato@example.jpまでお願いします。",
    "住所は秋田市山王四丁目1番1号です。",
    "〒010-8570 秋田市山王4-1-1 鈴木一郎より。",
    "高橋さんから聞いた話です。",
)
MUNICIPALITIES = (
    "秋田市",
    "能代市",
    "横手市",
    "大館市",
    "男鹿市",
    "湯沢市",
    "鹿角市",
    "由利本荘市",
    "潟上市",
    "大仙市",
    "北秋田市",
    "にかほ市",
    "仙北市",
    "小坂町",
    "上小阿仁村",
)


def log(message: str) -> None:
    print(f"[{datetime.datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


# --- one size, in this process ----------------------------------------------------------


def opinion_drafts(size: int, seed: int, initiatives: list) -> list:
    """``size`` drafts: the scale benchmark's synthetic texts, a fifth with personal data in
    the clear (for the masking to find), attributes as a form tool exports them."""
    from benchmarks.opinion_analysis import load_evaluation_set, synthetic_opinions
    from evaluations.listening.intake import OpinionDraft
    from evaluations.models import AgeBand

    chooser = random.Random(seed + 1)
    ages = [*AgeBand.values, ""]
    towns = [*MUNICIPALITIES, ""]
    submitted = datetime.datetime(2026, 11, 1, 9, tzinfo=datetime.UTC)
    drafts = []
    for opinion in synthetic_opinions(load_evaluation_set(), size, seed):
        text = opinion.text
        if chooser.random() < PERSONAL_SHARE:
            text = chooser.choice(PERSONAL_SENTENCES) + text
        drafts.append(
            OpinionDraft(
                body=text,
                initiative=chooser.choice(initiatives) if chooser.random() < 0.1 else None,
                age_band=chooser.choice(ages),
                municipality=chooser.choice(towns),
                consent_to_publish=chooser.random() < 0.6,
                submitted_at=submitted + datetime.timedelta(seconds=opinion.id),
            )
        )
    return drafts


def in_files(drafts: list) -> Iterator[list]:
    for start in range(0, len(drafts), CSV_FILE_ROWS):
        yield drafts[start : start + CSV_FILE_ROWS]


PROFILE_LINES = 25


def timed(stages: dict[str, float], rss: dict[str, float], name: str, work: Callable) -> Any:
    """Run ``work``, keeping its wall time and the peak RSS after it; under ``--profile`` the
    stage runs in cProfile and its costliest functions (cumulative) go to standard error."""
    profiler = cProfile.Profile() if PROFILE else None
    started = time.perf_counter()
    value = profiler.runcall(work) if profiler else work()
    stages[name] = time.perf_counter() - started
    if profiler:
        output = io.StringIO()
        pstats.Stats(profiler, stream=output).sort_stats("cumulative").print_stats(PROFILE_LINES)
        log(f"profile of {name}:\n{output.getvalue()}")
    rss[name] = peak_rss_mb()
    log(f"{name}: {stages[name]:.2f}s, peak RSS {rss[name]:.0f} MB")
    return value


def table_rows() -> dict[str, int]:
    from evaluations.models import (
        Opinion,
        OpinionAnalysis,
        OpinionCluster,
        OpinionLink,
        OpinionPlacement,
    )

    models = {
        "opinions": Opinion,
        "opinion_history": Opinion.history.model,
        "analyses": OpinionAnalysis,
        "analysis_history": OpinionAnalysis.history.model,
        "clusters": OpinionCluster,
        "placements": OpinionPlacement,
        "links": OpinionLink,
    }
    return {name: model.objects.count() for name, model in models.items()}


def job_stages(ends: list[tuple[str, float]], started: float, finished: float) -> dict:
    """Seconds per stage of the job from the progress reports' times; what follows the last
    report is the storing of clusters, placements and links."""
    stages, previous = {}, started
    for stage, end in ends:
        stages[stage] = stages.get(stage, 0.0) + end - previous
        previous = end
    stages["store"] = finished - previous
    return stages


def run_one(args: argparse.Namespace) -> None:
    global PROFILE
    PROFILE = args.profile
    import django

    django.setup()
    import orjson
    from django.conf import settings
    from django.db import connection
    from django.template.loader import render_to_string

    from evaluations.listening import intake, runs
    from evaluations.listening.page import page_context
    from evaluations.listening.results import analysis_result
    from evaluations.models import Opinion, OpinionStatus
    from evaluations.plan_loader import SHIPPED_DOCUMENT, plan_document_load, read_document
    from initiatives.access import ANONYMOUS, Actor
    from initiatives.models import Initiative, Plan

    assert not settings.DEBUG, "DEBUG keeps every query in memory: run with DEBUG off"
    stages: dict[str, float] = {}
    rss: dict[str, float] = {"start": peak_rss_mb()}
    document = read_document(SHIPPED_DOCUMENT)
    plan_document_load(document=document)
    plan = Plan.objects.get(code=document["plan"]["code"])
    secretariat = Actor(secretariat_plan_ids=frozenset({plan.pk}))
    drafts = opinion_drafts(args.size, args.seed, list(Initiative.objects.filter(plan=plan)))
    rss["setup"] = peak_rss_mb()

    def intake_all(drafts: list = drafts) -> None:
        for batch in in_files(drafts):
            intake.opinions_import(actor=secretariat, plan=plan, drafts=batch)

    timed(stages, rss, "intake", intake_all)
    masked = Opinion.objects.filter(plan=plan).exclude(personal_data=[]).count()
    # Moderation (not timed): half published, one in a hundred hidden, as a secretariat would.
    Opinion.objects.filter(plan=plan, id__in=_every(plan, 2)).update(status=OpinionStatus.PUBLISHED)
    Opinion.objects.filter(plan=plan, id__in=_every(plan, 100, offset=1)).update(
        status=OpinionStatus.HIDDEN, hidden_reason="benchmark"
    )
    del drafts

    ends: list[tuple[str, float]] = []
    job_rss: dict[str, float] = {}

    def progress(stage: str, done: int, total: int | None) -> None:
        if total is None or done == total:
            ends.append((stage, time.perf_counter()))
            job_rss[stage] = peak_rss_mb()

    def job():
        analysis = runs.analysis_request(actor=secretariat, plan=plan, queue=False)
        started = time.perf_counter()
        analysis = runs.analysis_run(actor=secretariat, analysis_id=analysis.pk, progress=progress)
        return analysis, job_stages(ends, started, time.perf_counter())

    analysis, job_detail = timed(stages, rss, "job", job)
    reads: dict[str, Any] = {}
    for reader, actor in (("secretariat", secretariat), ("public", ANONYMOUS)):
        result = timed(
            stages, rss, f"result_{reader}", lambda a=actor: analysis_result(analysis, a)
        )
        body = timed(stages, rss, f"json_{reader}", lambda r=result: orjson.dumps(r, default=str))
        html = timed(
            stages,
            rss,
            f"page_{reader}",
            lambda r=result: render_to_string("evaluations/opinion_analysis.html", page_context(r)),
        )
        reads[reader] = {
            "arguments": len(result["arguments"]),
            "quoted": sum(1 for a in result["arguments"] if a["argument"] is not None),
            "json_bytes": len(body),
            "page_bytes": len(html.encode()),
        }
        del result, body, html
    report = {
        "database": connection.vendor,
        "size": args.size,
        "seed": args.seed,
        "masked_opinions": masked,
        "stages": stages,
        "job_stages": job_detail,
        "job_peak_rss_mb": job_rss,
        "peak_rss_mb": rss,
        "rows": table_rows(),
        "reads": reads,
        "clusters": {k: analysis.parameters.get(k) for k in ("n_fine", "n_coarse")},
        "load_average_after": load_average(),
    }
    print(json.dumps(report, ensure_ascii=False))


def _every(plan, step: int, offset: int = 0) -> list[int]:
    from evaluations.models import Opinion

    ids = Opinion.objects.filter(plan=plan).order_by("id").values_list("id", flat=True)
    return list(ids)[offset::step]


# --- the driver -------------------------------------------------------------------------


def _database_url(database: str, size: int) -> str:
    if database == "sqlite":
        return f"sqlite:///{SQLITE_DIR / f'h_bench_{size}.sqlite3'}"
    return f"{PG_SERVER}/h_bench_{size}"


def _postgres(statement: str) -> None:
    import psycopg

    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as connection:
        connection.execute(statement)


def _clear(database: str, size: int) -> None:
    if database == "sqlite":
        for suffix in ("", "-wal", "-shm", "-journal"):
            (SQLITE_DIR / f"h_bench_{size}.sqlite3{suffix}").unlink(missing_ok=True)
    else:
        _postgres(f'DROP DATABASE IF EXISTS "h_bench_{size}" WITH (FORCE)')


def _environment(database: str, size: int) -> dict[str, str]:
    env = {**os.environ, "DATABASE_URL": _database_url(database, size)}
    env.setdefault("DJANGO_SETTINGS_MODULE", "dxapi.test_settings")
    env["DEBUG"] = "0"
    env.pop("OPINION_LLM_BASE_URL", None)
    return env


def one_process(database: str, size: int, seed: int) -> dict:
    """Migrate a fresh database in its own process, then measure ``size`` in another."""
    _clear(database, size)
    if database == "postgres":
        _postgres(f'CREATE DATABASE "h_bench_{size}"')
    env = _environment(database, size)
    try:
        started = time.perf_counter()
        subprocess.run(
            [PYTHON, "manage.py", "migrate", "--verbosity", "0"], cwd=ROOT, env=env, check=True
        )
        migrate_seconds = time.perf_counter() - started
        load_before = load_average()
        command = [PYTHON, "-m", "benchmarks.opinion_job", "--seed", str(seed), "one"]
        command += ["--size", str(size)]
        output = subprocess.run(
            command, cwd=ROOT, env=env, check=True, stdout=subprocess.PIPE, text=True
        )
    finally:
        _clear(database, size)
    report = json.loads(output.stdout.strip().splitlines()[-1])
    report["requested"] = database
    report["migrate_seconds"] = migrate_seconds
    report["load_average_before"] = load_before
    return report


def schedule(sizes: list[int], repeat: int, databases: list[str]) -> list[tuple[str, int]]:
    """Each size on each database in turn (SQLite, PostgreSQL, ...), 10,000 ``repeat`` times."""
    runs = []
    for size in sizes:
        for _ in range(repeat if size == 10_000 else 1):
            runs += [(database, size) for database in databases]
    return runs


def medians(reports: list[dict]) -> dict[str, float]:
    """Median seconds per stage, and of the peak RSS, over repeated runs of one size."""
    values = {key: [r["stages"][key] for r in reports] for key in reports[0]["stages"]}
    values["peak_rss_mb"] = [max(r["peak_rss_mb"].values()) for r in reports]
    return {key: round(statistics.median(v), 2) for key, v in values.items()}


def row(report: dict) -> str:
    s, job = report["stages"], report["job_stages"]
    reading = s["result_public"] + s["json_public"] + s["page_public"]
    verdict = "ok" if s["job"] <= TARGET_SECONDS else "OVER"
    return (
        f"{report['database']:<10} {report['size']:>7} intake {s['intake']:7.1f}s"
        f"  job {s['job']:6.1f}s ({verdict}: read {job.get('reading', 0):.1f},"
        f" store {job['store']:.1f})"
        f"  result sec/pub {s['result_secretariat']:5.1f}/{s['result_public']:5.1f}s"
        f"  public read+json+page {reading:5.1f}s"
        f"  peak {max(report['peak_rss_mb'].values()):5.0f} MB"
        f"  load {report['load_average_before']}"
    )


def run_all(args: argparse.Namespace) -> None:
    sizes = [int(part) for part in args.sizes.split(",")]
    databases = args.databases.split(",")
    reports = []
    for database, size in schedule(sizes, args.repeat, databases):
        log(f"{database} {size} (load {load_average()})")
        report = one_process(database, size, args.seed)
        reports.append(report)
        print(row(report), flush=True)
        if args.output:
            args.output.write_text(json.dumps(reports, ensure_ascii=False, indent=2) + "\n")
    for database in databases:
        repeated = [r for r in reports if r["requested"] == database and r["size"] == 10_000]
        if len(repeated) > 1:
            print(f"{database} 10,000 medians of {len(repeated)}: {medians(repeated)}")


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dxapi.test_settings")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run")
    run.add_argument("--sizes", default="1000,10000,100000")
    run.add_argument("--repeat", type=int, default=3)
    run.add_argument("--databases", default="sqlite,postgres")
    run.add_argument("--output", type=Path)
    one = commands.add_parser("one")
    one.add_argument("--size", type=int, required=True)
    one.add_argument("--profile", action="store_true", help="cProfile each stage (slower)")
    args = parser.parse_args()
    {"run": run_all, "one": run_one}[args.command](args)


if __name__ == "__main__":
    main()
