"""Generate synthetic plans for performance work, fast.

    python manage.py generate_scale_data --plans 1765 --initiatives-per-plan 100 \
        --years 10 --kpis-per-initiative 2

Each plan (code ``<prefix>-0001`` …) gets departments, pillars, policy areas, initiatives
(each with a lead department, every third one a second department), KPIs with a numeric
target per fiscal year, one published round per fiscal year, an approved evaluation per
initiative and round with a rating (about A 20 %, B 67 %, C 10 %, ``-`` 3 %) and a KPI actual
per KPI and evaluation. The plan's period runs one year past the generated rounds so that a
round can still be opened (the load test does).

Plans whose code exists already are skipped, so a second run with the same arguments adds
nothing, and a run with more ``--plans`` adds only the missing ones.

On PostgreSQL rows are written with ``COPY … FROM STDIN`` (psycopg 3 ``cursor.copy()``),
with primary keys allocated up front under a table lock and the identity sequences moved
past them; on other databases (SQLite in the tests) with ``bulk_create`` in batches. Change
history is not written for synthetic data. Everything is one transaction.
"""

import datetime
import time
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, models, transaction
from django.utils import timezone

from evaluations.models import Evaluation, EvaluationStatus, KPIActual, Round, RoundStatus
from initiatives.fiscal_years import MAX_FISCAL_YEAR, MIN_FISCAL_YEAR
from initiatives.models import (
    KPI,
    Department,
    Initiative,
    InitiativeDepartment,
    KPITarget,
    Pillar,
    Plan,
    PolicyArea,
)

DEPARTMENTS = 10
PILLARS = 4
AREAS_PER_PILLAR = 5
BATCH_SIZE = 5000
PILLAR_NAMES = ["行政", "産業", "暮らし", "環境基盤"]
# 100 buckets: 20 A, 67 B, 10 C, 3 "-".
RATING_BUCKETS = ["A"] * 20 + ["B"] * 67 + ["C"] * 10 + ["-"] * 3


def _mix(*numbers: int) -> int:
    """A cheap deterministic hash of small integers (reproducible data, no RNG state)."""
    value = 2166136261
    for number in numbers:
        value = ((value ^ number) * 16777619) & 0xFFFFFFFF
    return value


class _Table:
    """Writes rows of one model: the given columns, every other concrete column filled with
    its field default (computed once)."""

    def __init__(self, model: type[models.Model], columns: Sequence[str]) -> None:
        self.model = model
        self.columns = list(columns)
        now = timezone.now()
        rest = []
        for field in model._meta.concrete_fields:
            if field.attname in self.columns or field.primary_key:
                continue
            if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
                value = now
            elif field.has_default():
                value = field.get_default()
            elif field.null:
                value = None
            elif isinstance(field, models.CharField | models.TextField):
                value = ""
            else:
                raise CommandError(f"No value for {model.__name__}.{field.attname}")
            rest.append((field.attname, value))
        self.all_columns = self.columns + [name for name, _ in rest]
        self.tail = tuple(value for _, value in rest)

    def write(self, rows: Iterable[tuple]) -> int:
        if connection.vendor == "postgresql":
            return self._copy(rows)
        return self._bulk_create(rows)

    def _copy(self, rows: Iterable[tuple]) -> int:
        table = connection.ops.quote_name(self.model._meta.db_table)
        columns = ", ".join(connection.ops.quote_name(c) for c in self.all_columns)
        count = 0
        tail = self.tail
        with connection.cursor() as cursor:
            raw = cursor.cursor  # the psycopg 3 cursor under Django's wrapper
            with raw.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row + tail)
                    count += 1
        return count

    def _bulk_create(self, rows: Iterable[tuple]) -> int:
        count = 0
        batch: list[models.Model] = []
        names = self.all_columns
        for row in rows:
            batch.append(self.model(**dict(zip(names, row + self.tail, strict=True))))
            if len(batch) >= BATCH_SIZE:
                self.model.objects.bulk_create(batch)
                count += len(batch)
                batch = []
        if batch:
            self.model.objects.bulk_create(batch)
            count += len(batch)
        return count


def _next_id(model: type[models.Model]) -> int:
    """The first free primary key, past both the rows and the identity sequence."""
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}")
        highest = cursor.fetchone()[0]
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [model._meta.db_table])
            sequence = cursor.fetchone()[0]
            cursor.execute(f"SELECT last_value, is_called FROM {sequence}")
            last_value, is_called = cursor.fetchone()
            if is_called:
                highest = max(highest, last_value)
    return highest + 1


def _move_sequence(model: type[models.Model]) -> None:
    if connection.vendor != "postgresql":
        return
    table = model._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
            f"(SELECT COALESCE(MAX(id), 1) FROM {connection.ops.quote_name(table)}))"
        )


class Command(BaseCommand):
    help = "Generate synthetic plans (structure, KPIs, published rounds, evaluations, actuals)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--plans", type=int, default=10)
        parser.add_argument("--initiatives-per-plan", type=int, default=100)
        parser.add_argument("--years", type=int, default=10)
        parser.add_argument("--kpis-per-initiative", type=int, default=2)
        parser.add_argument("--start-year", type=int, default=2015)
        parser.add_argument("--prefix", default="scale", help="Plan codes are <prefix>-0001 …")

    def handle(self, *args, **options) -> None:
        plans = options["plans"]
        per_plan = options["initiatives_per_plan"]
        years = options["years"]
        kpis = options["kpis_per_initiative"]
        start_year = options["start_year"]
        prefix = options["prefix"]
        if plans < 1 or per_plan < 1 or years < 1 or kpis < 0:
            raise CommandError("--plans, --initiatives-per-plan and --years must be positive.")
        if per_plan > 32767:
            raise CommandError("--initiatives-per-plan is at most 32767 (initiative numbers).")
        if start_year < MIN_FISCAL_YEAR or start_year + years > MAX_FISCAL_YEAR:
            raise CommandError("The fiscal years fall outside the allowed range.")
        width = max(4, len(str(plans)))
        codes = [f"{prefix}-{n:0{width}d}" for n in range(1, plans + 1)]
        started = time.perf_counter()
        with transaction.atomic():
            if connection.vendor == "postgresql":
                tables = [
                    m._meta.db_table
                    for m in (
                        Plan,
                        Department,
                        Pillar,
                        PolicyArea,
                        Initiative,
                        KPI,
                        Round,
                        Evaluation,
                    )
                ]
                with connection.cursor() as cursor:
                    cursor.execute(f"LOCK TABLE {', '.join(tables)} IN SHARE ROW EXCLUSIVE MODE")
            existing = set(Plan.objects.filter(code__in=codes).values_list("code", flat=True))
            missing = [code for code in codes if code not in existing]
            if existing:
                self.stdout.write(f"Skipping {len(existing)} existing plan(s).")
            if not missing:
                self.stdout.write("Nothing to generate.")
                return
            counts = self._generate(missing, per_plan, years, kpis, start_year)
        seconds = time.perf_counter() - started
        summary = ", ".join(f"{name} {count}" for name, count in counts.items())
        self.stdout.write(f"Generated in {seconds:.1f}s: {summary}")

    def _generate(
        self, codes: list[str], per_plan: int, years: int, kpis: int, start_year: int
    ) -> dict[str, int]:
        n_plans = len(codes)
        n_areas = PILLARS * AREAS_PER_PILLAR
        end_year = start_year + years  # one spare year for opening a round
        fiscal_years = range(start_year, start_year + years)
        now = timezone.now()
        base = {
            model: _next_id(model)
            for model in (Plan, Department, Pillar, PolicyArea, Initiative, KPI, Round, Evaluation)
        }
        plan0, dept0, pillar0, area0 = (base[m] for m in (Plan, Department, Pillar, PolicyArea))
        init0, kpi0, round0, eval0 = (base[m] for m in (Initiative, KPI, Round, Evaluation))
        counts: dict[str, int] = {}

        def timed(name: str, table: _Table, rows: Iterator[tuple]) -> None:
            started = time.perf_counter()
            counts[name] = table.write(rows)
            self.stdout.write(
                f"  {name}: {counts[name]} rows in {time.perf_counter() - started:.1f}s"
            )

        timed(
            "plans",
            _Table(Plan, ["id", "code", "organisation", "name", "start_year", "end_year"]),
            (
                (
                    plan0 + p,
                    code,
                    f"性能試験団体{p + 1:04d}",
                    f"{code} DX推進計画",
                    start_year,
                    end_year,
                )
                for p, code in enumerate(codes)
            ),
        )
        timed(
            "departments",
            _Table(Department, ["id", "plan_id", "code", "name", "order"]),
            (
                (
                    dept0 + p * DEPARTMENTS + d,
                    plan0 + p,
                    f"dept-{d + 1:02d}",
                    f"部局{d + 1:02d}",
                    d + 1,
                )
                for p in range(n_plans)
                for d in range(DEPARTMENTS)
            ),
        )
        timed(
            "pillars",
            _Table(Pillar, ["id", "plan_id", "order", "name", "theme"]),
            (
                (pillar0 + p * PILLARS + k, plan0 + p, k + 1, PILLAR_NAMES[k], "性能試験")
                for p in range(n_plans)
                for k in range(PILLARS)
            ),
        )
        timed(
            "policy_areas",
            _Table(PolicyArea, ["id", "pillar_id", "number", "name"]),
            (
                (
                    area0 + p * n_areas + a,
                    pillar0 + p * PILLARS + a // AREAS_PER_PILLAR,
                    a % AREAS_PER_PILLAR + 1,
                    f"施策{a + 1:02d}",
                )
                for p in range(n_plans)
                for a in range(n_areas)
            ),
        )

        def initiative_id(p: int, i: int) -> int:
            return init0 + p * per_plan + i

        timed(
            "initiatives",
            _Table(Initiative, ["id", "plan_id", "policy_area_id", "number", "title", "is_major"]),
            (
                (
                    initiative_id(p, i),
                    plan0 + p,
                    area0 + p * n_areas + i % n_areas,
                    i + 1,
                    f"取組{i + 1}：デジタル化の推進",
                    i % 4 == 0,
                )
                for p in range(n_plans)
                for i in range(per_plan)
            ),
        )

        def responsibilities() -> Iterator[tuple]:
            for p in range(n_plans):
                for i in range(per_plan):
                    lead = i % DEPARTMENTS
                    yield (initiative_id(p, i), dept0 + p * DEPARTMENTS + lead, True)
                    if i % 3 == 0:
                        other = (lead + 1) % DEPARTMENTS
                        yield (initiative_id(p, i), dept0 + p * DEPARTMENTS + other, False)

        timed(
            "initiative_departments",
            _Table(InitiativeDepartment, ["initiative_id", "department_id", "is_lead"]),
            responsibilities(),
        )

        def kpi_id(p: int, i: int, k: int) -> int:
            return kpi0 + (p * per_plan + i) * kpis + k

        timed(
            "kpis",
            _Table(KPI, ["id", "initiative_id", "order", "name", "unit", "direction"]),
            (
                (
                    kpi_id(p, i, k),
                    initiative_id(p, i),
                    k + 1,
                    f"指標{k + 1}",
                    "件",
                    "lower" if (i + k) % 10 == 9 else "higher",
                )
                for p in range(n_plans)
                for i in range(per_plan)
                for k in range(kpis)
            ),
        )

        def target(i: int, k: int, y: int) -> Decimal:
            return Decimal(100 + (i * 7 + k * 13) % 400 + 10 * (y - start_year))

        timed(
            "kpi_targets",
            _Table(KPITarget, ["kpi_id", "fiscal_year", "value"]),
            (
                (kpi_id(p, i, k), y, target(i, k, y))
                for p in range(n_plans)
                for i in range(per_plan)
                for k in range(kpis)
                for y in fiscal_years
            ),
        )
        published = now - datetime.timedelta(days=30)
        timed(
            "rounds",
            _Table(
                Round,
                [
                    "id",
                    "plan_id",
                    "fiscal_year",
                    "status",
                    "opened_at",
                    "closed_at",
                    "published_at",
                ],
            ),
            (
                (
                    round0 + p * years + y,
                    plan0 + p,
                    fiscal_year,
                    RoundStatus.PUBLISHED,
                    published,
                    published,
                    published,
                )
                for p in range(n_plans)
                for y, fiscal_year in enumerate(fiscal_years)
            ),
        )

        def evaluation_id(p: int, y: int, i: int) -> int:
            # Ordered as round opening creates them: a round's evaluations together.
            return eval0 + (p * years + y) * per_plan + i

        ratings = [_mix(i, y) % 100 for i in range(per_plan) for y in range(years)]
        timed(
            "evaluations",
            _Table(
                Evaluation,
                [
                    "id",
                    "round_id",
                    "initiative_id",
                    "rating",
                    "status",
                    "progress_text",
                    "approved_at",
                ],
            ),
            (
                (
                    evaluation_id(p, y, i),
                    round0 + p * years + y,
                    initiative_id(p, i),
                    RATING_BUCKETS[(ratings[i * years + y] + p) % 100],
                    EvaluationStatus.APPROVED,
                    "計画どおり進捗",
                    published,
                )
                for p in range(n_plans)
                for y in range(years)
                for i in range(per_plan)
            ),
        )

        def actuals() -> Iterator[tuple]:
            for p in range(n_plans):
                for y, fiscal_year in enumerate(fiscal_years):
                    as_of = datetime.date(fiscal_year + 1, 3, 31)
                    for i in range(per_plan):
                        evaluation = evaluation_id(p, y, i)
                        for k in range(kpis):
                            share = 70 + (_mix(p, i, k, y) % 50)  # 70 %–119 % of target
                            value = target(i, k, fiscal_year) * share / 100
                            yield (evaluation, kpi_id(p, i, k), value, as_of)

        timed(
            "kpi_actuals",
            _Table(KPIActual, ["evaluation_id", "kpi_id", "value", "as_of"]),
            actuals(),
        )
        for model in (
            Plan,
            Department,
            Pillar,
            PolicyArea,
            Initiative,
            KPI,
            Round,
            Evaluation,
            InitiativeDepartment,
            KPITarget,
            KPIActual,
        ):
            _move_sequence(model)
        return counts
