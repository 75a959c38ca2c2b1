"""Time a 100,000-row progress import.

    DJANGO_SETTINGS_MODULE=dxapi.test_settings \
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/dxapi_bench \
    .venv/bin/python benchmarks/import_benchmark.py [--rows 100000] [--output result.json] \
        [--importer path/to/importer.py]

Creates the database if missing and migrates it, builds a synthetic plan (bulk) with
initiatives of four KPIs each (one evaluation row + four KPI rows per initiative), opens a
round, writes a CSV of that many rows and times ``read_sheet`` + ``progress_import`` three
times with different values (the first run creates the KPI actuals, the next ones update
every row) and prints the timings and their median as JSON.

On PostgreSQL the tables an import writes are vacuumed and analysed after the plan is built,
so that each invocation starts from the same state even where autovacuum is off or behind
(the previous invocation's plan is deleted, and every run leaves dead rows behind).
``--importer`` times the ``progress_import`` of another copy of ``importer.py`` (a version
before a change, say), for side-by-side comparisons: alternate the two, compare medians.
"""

import argparse
import csv
import importlib.util
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import django

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dxapi.test_settings")

PLAN_CODE = "import-benchmark"
FISCAL_YEAR = 2025
KPIS_PER_INITIATIVE = 4
AREAS = 20


def ensure_database() -> None:
    """Create the PostgreSQL database named by DATABASE_URL when it does not exist."""
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


def build_plan(initiative_count: int):
    from evaluations import services
    from evaluations.models import Evaluation, KPIActual, Round
    from initiatives.access import Actor
    from initiatives.models import (
        KPI,
        Department,
        Initiative,
        InitiativeDepartment,
        Pillar,
        Plan,
        PolicyArea,
    )

    plan = Plan.objects.filter(code=PLAN_CODE).first()
    if plan is not None:
        # Raw deletes: the collector of QuerySet.delete() is slow for 100k rows.
        for queryset in (
            KPIActual.objects.filter(evaluation__round__plan=plan),
            Evaluation.objects.filter(round__plan=plan),
            Round.objects.filter(plan=plan),
            KPI.objects.filter(initiative__plan=plan),
            InitiativeDepartment.objects.filter(initiative__plan=plan),
            Initiative.objects.filter(plan=plan),
        ):
            queryset._raw_delete(queryset.db)
        PolicyArea.objects.filter(pillar__plan=plan).delete()
        Pillar.objects.filter(plan=plan).delete()
        Department.objects.filter(plan=plan).delete()
        plan.delete()
    plan = Plan.objects.create(
        code=PLAN_CODE,
        organisation="ベンチマーク県",
        name="取込み性能計画",
        start_year=2024,
        end_year=2026,
    )
    department = Department.objects.create(plan=plan, code="bench", name="性能部", order=1)
    pillar = Pillar.objects.create(plan=plan, order=1, name="性能", theme="ベンチマーク")
    areas = PolicyArea.objects.bulk_create(
        PolicyArea(pillar=pillar, number=n, name=f"施策{n}") for n in range(1, AREAS + 1)
    )
    initiatives = Initiative.objects.bulk_create(
        (
            Initiative(plan=plan, policy_area=areas[n % AREAS], number=n, title=f"取組{n}")
            for n in range(1, initiative_count + 1)
        ),
        batch_size=2000,
    )
    InitiativeDepartment.objects.bulk_create(
        (
            InitiativeDepartment(initiative=i, department=department, is_lead=True)
            for i in initiatives
        ),
        batch_size=2000,
    )
    KPI.objects.bulk_create(
        (
            KPI(initiative=i, order=order, name=f"指標{order}", unit="件")
            for i in initiatives
            for order in range(1, KPIS_PER_INITIATIVE + 1)
        ),
        batch_size=2000,
    )
    services.round_open(actor=Actor(is_superuser=True), plan=plan, fiscal_year=FISCAL_YEAR)
    return plan


def vacuum() -> None:
    """VACUUM ANALYZE the tables an import reads and writes (PostgreSQL only)."""
    from django.db import connection

    from evaluations.models import Evaluation, KPIActual
    from initiatives.models import KPI, Initiative

    if connection.vendor != "postgresql":
        return
    models = (KPIActual, Evaluation, KPI, Initiative)
    tables = [model._meta.db_table for model in models]
    tables += [model.history.model._meta.db_table for model in (KPIActual, Evaluation)]
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {', '.join(map(connection.ops.quote_name, tables))}")


def load_progress_import(path: Path | None):
    """``progress_import`` of the importer at ``path``, or the project's own."""
    if path is None:
        from evaluations.exchange.importer import progress_import

        return progress_import
    spec = importlib.util.spec_from_file_location("importer_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.progress_import


def write_csv(path: Path, initiative_count: int, run: int) -> int:
    from evaluations.exchange.columns import COLUMNS

    keys = [column.key for column in COLUMNS]
    rows = 0
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([column.header for column in COLUMNS])
        for number in range(1, initiative_count + 1):
            record = {
                "initiative_number": number,
                "rating": "ABC"[(number + run) % 3],
                "progress_text": f"進捗 {run}",
                "next_actions": "継続",
            }
            writer.writerow([record.get(key, "") for key in keys])
            rows += 1
            for order in range(1, KPIS_PER_INITIATIVE + 1):
                record = {
                    "initiative_number": number,
                    "kpi_order": order,
                    "value": f"{number * order + run}.5",
                    "as_of": "R8.3時点",
                }
                writer.writerow([record.get(key, "") for key in keys])
                rows += 1
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--output", type=Path)
    parser.add_argument("--importer", type=Path, help="another copy of importer.py to time")
    arguments = parser.parse_args()
    ensure_database()
    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from evaluations.exchange.sheets import read_sheet
    from initiatives.access import Actor

    call_command("migrate", verbosity=0)
    progress_import = load_progress_import(arguments.importer)
    initiative_count = arguments.rows // (KPIS_PER_INITIATIVE + 1)
    started = time.perf_counter()
    plan = build_plan(initiative_count)
    vacuum()
    setup_seconds = time.perf_counter() - started
    runs = []
    with tempfile.TemporaryDirectory() as directory:
        for run in range(3):
            path = Path(directory) / f"run{run}.csv"
            rows = write_csv(path, initiative_count, run)
            started = time.perf_counter()
            result = progress_import(
                actor=Actor(is_superuser=True),
                plan=plan,
                fiscal_year=FISCAL_YEAR,
                sheet=read_sheet(path.read_bytes(), path.name),
            )
            seconds = time.perf_counter() - started
            runs.append({"seconds": round(seconds, 3), **result.as_dict()["summary"]})
            print(f"run {run + 1}: {rows} rows in {seconds:.2f}s", file=sys.stderr)
    report = {
        "database": settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1],
        "importer": str(arguments.importer or "evaluations/exchange/importer.py"),
        "rows": rows,
        "initiatives": initiative_count,
        "kpis": initiative_count * KPIS_PER_INITIATIVE,
        "setup_seconds": round(setup_seconds, 3),
        "runs": runs,
        "median_seconds": statistics.median(run["seconds"] for run in runs),
    }
    text = json.dumps(report, ensure_ascii=False, indent=2)
    print(text)
    if arguments.output:
        arguments.output.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
