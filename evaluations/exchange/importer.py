"""Import of a filled-in progress sheet: every row is validated before anything is written,
then all changes are written in one transaction with bulk queries.

The rules are the API's: who may import and edit which row, in which state (``policy``),
what an evaluation's fields and a KPI actual may be (``services.evaluation_changes_validate``,
``services.kpi_actual_validate``), and each changed record claims its next version
(``dxapi.versions.claim_versions``) with its history recorded. A blank 実績値 leaves the KPI's
actual as it is (an import never deletes); a present evaluation column sets the field,
blank included (blank 評価 = unknown). Columns absent from the sheet are left unchanged.
"""

import datetime
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, models, transaction
from django.utils import timezone

from dxapi.history import record_bulk_history
from dxapi.versions import claim_versions
from evaluations import aggregate_cache, policy, services
from evaluations.exchange.columns import (
    BY_KEY,
    BY_NAME,
    EVALUATION_KEYS,
    KPI_KEYS,
    REQUIRED,
    header_of,
)
from evaluations.exchange.sheets import Sheet
from evaluations.models import Evaluation, KPIActual, Rating, Round, RoundStatus
from evaluations.policy import evaluations_editable_by
from initiatives.access import Actor
from initiatives.fiscal_years import parse_as_of, short_label
from initiatives.models import KPI, Initiative, Plan

BATCH_SIZE = 2000
NOTE_MAX_LENGTH = KPIActual._meta.get_field("note").max_length
# DecimalField(max_digits=20, decimal_places=4)
MAX_DECIMAL_PLACES = 4
MAX_INTEGER_DIGITS = 16
EVALUATIONS = "evaluations"
KPI_ACTUALS = "kpi_actuals"
Progress = Callable[[str, int, int | None], None]


@dataclass(frozen=True)
class RowError:
    """One problem, located as the user sees it: sheet, row (header = 1) and column."""

    code: str
    detail: str
    key: str | None = None
    row: int | None = None
    sheet: str | None = None
    column: str | None = None

    def as_dict(self) -> dict[str, Any]:
        if self.row is not None:
            attr = f"rows[{self.row}].{self.key}" if self.key else f"rows[{self.row}]"
        else:
            attr = self.key
        return {
            "code": self.code,
            "detail": self.detail,
            "attr": attr,
            "row": self.row,
            "column": self.column,
            "sheet": self.sheet,
        }


class ImportValidationError(Exception):
    """The sheet has errors; nothing was written."""

    def __init__(self, errors: list[RowError]) -> None:
        super().__init__(f"{len(errors)} error(s) in the sheet")
        self.errors = errors

    def as_body(self) -> dict[str, Any]:
        return {"type": "validation_error", "errors": [e.as_dict() for e in self.errors]}


@dataclass
class RowResult:
    row: int
    kind: str
    initiative_number: int
    kpi_order: int | None
    outcome: str
    fields: list[str]

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


@dataclass
class ImportResult:
    plan: str
    fiscal_year: int
    sheet: str
    dry_run: bool
    rows: int = 0
    counts: dict[str, Counter] = field(
        default_factory=lambda: {EVALUATIONS: Counter(), KPI_ACTUALS: Counter()}
    )
    row_results: list[RowResult] | None = None

    def record(self, result: RowResult) -> None:
        self.counts[result.kind][result.outcome] += 1
        if self.row_results is not None:
            self.row_results.append(result)

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "plan": self.plan,
            "fiscal_year": self.fiscal_year,
            "fiscal_year_label": short_label(self.fiscal_year),
            "sheet": self.sheet,
            "dry_run": self.dry_run,
            "rows": self.rows,
            "summary": {
                kind: {o: counts[o] for o in ("created", "updated", "unchanged")}
                for kind, counts in self.counts.items()
            },
        }
        if self.row_results is not None:
            body["row_results"] = [result.as_dict() for result in self.row_results]
        return body

    def as_text(self) -> str:
        lines = [f"{'dry run: ' if self.dry_run else ''}{self.rows} rows from {self.sheet}"]
        for kind, counts in self.as_dict()["summary"].items():
            lines.append(f"{kind}: " + ", ".join(f"{o} {n}" for o, n in counts.items()))
        return "\n".join(lines)


@dataclass(slots=True)
class _Row:
    number: int
    initiative_number: int
    evaluation: Evaluation
    kpi: KPI | None
    values: dict[str, Any]


def _normal(text: str) -> str:
    """Full-width digits, letters and signs as ASCII (what Japanese input often gives)."""
    return unicodedata.normalize("NFKC", text).strip()


def parse_number(text: str) -> Decimal:
    cleaned = _normal(text).replace(",", "").replace("−", "-")
    try:
        return Decimal(cleaned)
    except InvalidOperation:
        raise ValueError(f"'{text}' is not a number.") from None


def parse_integer(text: str) -> int:
    number = parse_number(text)
    if not number.is_finite() or number != number.to_integral_value() or number < 1:
        raise ValueError(f"'{text}' is not a positive whole number.")
    return int(number)


def parse_date(text: str) -> datetime.date:
    """An ISO date (2025-03-31, 2025/3/31) or an as-of label (R7.3時点)."""
    cleaned = _normal(text)
    parts = cleaned.replace("/", "-").split("-")
    if len(parts) == 3 and all(part.isdigit() for part in parts):
        try:
            return datetime.date(int(parts[0]), int(parts[1]), int(parts[2]))
        except ValueError:
            raise ValueError(f"'{text}' is not a valid date.") from None
    try:
        return parse_as_of(cleaned)
    except ValueError:
        raise ValueError(
            f"'{text}' is neither a date (2025-03-31) nor a label (R7.3時点)."
        ) from None


def parse_rating(text: str) -> str | None:
    cleaned = _normal(text).upper().replace("ー", "-").replace("―", "-")
    if cleaned == "":
        return None
    if cleaned not in Rating.values:
        raise ValueError(f"'{text}' is not a rating: use A, B, C or -.")
    return cleaned


def _fits_field(value: Decimal) -> bool:
    _sign, digits, exponent = value.normalize().as_tuple()
    places = max(0, -int(exponent))
    integer_digits = max(0, len(digits) + int(exponent))
    return places <= MAX_DECIMAL_PLACES and integer_digits <= MAX_INTEGER_DIGITS


class _Validator:
    """Validates rows against the round's data, collecting every error."""

    def __init__(self, *, actor: Actor, plan: Plan, round_: Round, sheet: Sheet) -> None:
        self.actor, self.plan, self.round, self.sheet = actor, plan, round_, sheet
        self.errors: list[RowError] = []
        self.columns: dict[str, int] = {}
        self.seen: dict[tuple[int, int | None], int] = {}

    def error(self, code: str, detail: str, key: str | None = None, row: int | None = None):
        self.errors.append(
            RowError(
                code=code,
                detail=detail,
                key=key,
                row=row,
                sheet=self.sheet.name,
                column=header_of(key) if key in BY_KEY else None,
            )
        )

    def read_header(self) -> None:
        for index, name in enumerate(self.sheet.header):
            if not name:
                continue
            column = BY_NAME.get(name)
            if column is None:
                self.errors.append(
                    RowError(
                        "unknown_column",
                        f"Unknown column '{name}'.",
                        row=1,
                        sheet=self.sheet.name,
                        column=name,
                    )
                )
            elif column.key in self.columns:
                self.error("duplicate_column", f"Column {column.header} appears twice.", row=1)
            else:
                self.columns[column.key] = index
        for key in REQUIRED:
            if key not in self.columns:
                self.error("required", f"The sheet needs the column {header_of(key)}.", key, 1)

    def load(self, *, lock: bool) -> None:
        """The round's initiatives, KPIs, evaluations (locked for a real run) and actuals."""
        self.initiatives = dict(
            Initiative.objects.filter(plan=self.plan).values_list("number", "id")
        )
        self.kpis = {
            (kpi.initiative_id, kpi.order): kpi
            for kpi in KPI.objects.filter(initiative__plan=self.plan).only(
                "id", "initiative_id", "order", "unit"
            )
        }
        evaluations = Evaluation.objects.filter(round=self.round)
        if lock:
            evaluations = evaluations.select_for_update(of=("self",))
        self.evaluations = {}
        for evaluation in evaluations.order_by("pk"):
            evaluation.round = self.round
            self.evaluations[evaluation.initiative_id] = evaluation
        self.editable = set(
            evaluations_editable_by(self.actor)
            .filter(round=self.round)
            .values_list("id", flat=True)
        )
        self.actuals = {
            (actual.evaluation_id, actual.kpi_id): actual
            for actual in KPIActual.objects.filter(evaluation__round=self.round)
        }

    def cell(self, cells: list[str], key: str) -> str | None:
        """The cell of a column, or ``None`` when the sheet has no such column."""
        index = self.columns.get(key)
        if index is None:
            return None
        return cells[index] if index < len(cells) else ""

    def row(self, number: int, cells: list[str]) -> _Row | None:
        errors_before = len(self.errors)
        initiative_text = self.cell(cells, "initiative_number") or ""
        if not initiative_text:
            self.error("required", "Give the initiative number.", "initiative_number", number)
            return None
        try:
            initiative_number = parse_integer(initiative_text)
        except ValueError as error:
            self.error("invalid", str(error), "initiative_number", number)
            return None
        initiative_id = self.initiatives.get(initiative_number)
        if initiative_id is None:
            self.error(
                "unknown_initiative",
                f"The plan has no initiative {initiative_number}.",
                "initiative_number",
                number,
            )
            return None
        kpi, kpi_order = None, None
        kpi_text = self.cell(cells, "kpi_order") or ""
        if kpi_text:
            try:
                kpi_order = parse_integer(kpi_text)
            except ValueError as error:
                self.error("invalid", str(error), "kpi_order", number)
                return None
            kpi = self.kpis.get((initiative_id, kpi_order))
            if kpi is None:
                self.error(
                    "unknown_kpi",
                    f"Initiative {initiative_number} has no KPI {kpi_order}.",
                    "kpi_order",
                    number,
                )
                return None
        first = self.seen.setdefault((initiative_id, kpi_order), number)
        if first != number:
            what = f"KPI {kpi_order}" if kpi_order else "the evaluation"
            self.error(
                "duplicate",
                f"Initiative {initiative_number}, {what}, is in row {first} already.",
                "kpi_order" if kpi_order else "initiative_number",
                number,
            )
        evaluation = self.evaluations.get(initiative_id)
        if evaluation is None:
            self.error(
                "not_found",
                f"Initiative {initiative_number} has no evaluation in the "
                f"{short_label(self.round.fiscal_year)} round.",
                "initiative_number",
                number,
            )
            return None
        if evaluation.pk not in self.editable:
            self.error(
                "permission_denied",
                f"You may not edit initiative {initiative_number}: it is not one of your "
                "departments' initiatives.",
                "initiative_number",
                number,
            )
            return None
        try:
            policy.require_state(policy.Action.EDIT, evaluation)
        except policy.WorkflowConflict as error:
            self.error("invalid_state", str(error), "initiative_number", number)
        values = (
            self._kpi_values(number, cells, kpi, evaluation)
            if kpi is not None
            else self._evaluation_values(number, cells)
        )
        if len(self.errors) > errors_before or values is None:
            return None
        return _Row(
            number=number,
            initiative_number=initiative_number,
            evaluation=evaluation,
            kpi=kpi,
            values=values,
        )

    def _misplaced(self, number: int, cells: list[str], keys: tuple[str, ...], where: str):
        for key in keys:
            if self.cell(cells, key):
                self.error(
                    "invalid",
                    f"{header_of(key)} belongs on {where}; leave it blank here.",
                    key,
                    number,
                )

    def _evaluation_values(self, number: int, cells: list[str]) -> dict[str, Any]:
        self._misplaced(number, cells, KPI_KEYS, "KPI rows (指標番号 given)")
        values: dict[str, Any] = {}
        for key in EVALUATION_KEYS:
            text = self.cell(cells, key)
            if text is None:
                continue
            if key == "rating":
                try:
                    values[key] = parse_rating(text)
                except ValueError as error:
                    self.error("invalid_choice", str(error), key, number)
            else:
                values[key] = text
        try:
            services.evaluation_changes_validate(values)
        except ValidationError as error:
            for name, messages in error.message_dict.items():
                for message in messages:
                    self.error("invalid", message, name, number)
        return values

    def _kpi_values(
        self, number: int, cells: list[str], kpi: KPI, evaluation: Evaluation
    ) -> dict[str, Any] | None:
        self._misplaced(number, cells, EVALUATION_KEYS, "the evaluation row (指標番号 blank)")
        value_text = self.cell(cells, "value") or ""
        as_of_text = self.cell(cells, "as_of") or ""
        note = self.cell(cells, "note")
        if not value_text:
            if as_of_text or note:
                self.error("required", "Give the actual value (実績値).", "value", number)
            return None  # nothing to import for this KPI
        try:
            value = parse_number(value_text)
        except ValueError as error:
            self.error("invalid", str(error), "value", number)
            value = None
        as_of = None
        if as_of_text:
            try:
                as_of = parse_date(as_of_text)
            except ValueError as error:
                self.error("invalid", str(error), "as_of", number)
        if note is not None and len(note) > NOTE_MAX_LENGTH:
            self.error("max_length", f"At most {NOTE_MAX_LENGTH} characters.", "note", number)
        if value is None:
            return None
        try:
            services.kpi_actual_validate(kpi, evaluation, value, as_of)
        except ValidationError as error:
            for name, messages in error.message_dict.items():
                key = {"kpi": "kpi_order"}.get(name, name)
                for message in messages:
                    self.error("invalid", message, key, number)
            return None
        if not _fits_field(value):
            self.error(
                "invalid",
                f"At most {MAX_INTEGER_DIGITS} digits before and {MAX_DECIMAL_PLACES} after "
                "the decimal point.",
                "value",
                number,
            )
            return None
        values = {"value": value, "as_of": as_of}
        if note is not None:
            values["note"] = note
        return values


def _round_for(plan: Plan, fiscal_year: int) -> Round:
    round_ = Round.objects.filter(plan=plan, fiscal_year=fiscal_year).first()
    if round_ is None:
        raise ImportValidationError(
            [
                RowError(
                    "not_found",
                    f"{plan.code} has no {short_label(fiscal_year)} round.",
                    "fiscal_year",
                )
            ]
        )
    return round_


def progress_import(
    *,
    actor: Actor,
    plan: Plan,
    fiscal_year: int,
    sheet: Sheet,
    dry_run: bool = False,
    report_rows: bool = False,
    progress: Progress | None = None,
) -> ImportResult:
    """Validate every row of ``sheet``; raise ``ImportValidationError`` listing every error,
    or write all changes (unless ``dry_run``) in one transaction and count them."""
    policy.require_may_import(actor, plan)
    round_ = _round_for(plan, fiscal_year)
    validator = _Validator(actor=actor, plan=plan, round_=round_, sheet=sheet)
    validator.read_header()
    if validator.errors:
        raise ImportValidationError(validator.errors)
    result = ImportResult(
        plan=plan.code,
        fiscal_year=fiscal_year,
        sheet=sheet.name,
        dry_run=dry_run,
        row_results=[] if report_rows else None,
    )
    with transaction.atomic():
        validator.load(lock=not dry_run)
        if round_.status != RoundStatus.OPEN:
            validator.error(
                "invalid_state",
                f"The {short_label(round_.fiscal_year)} round is {round_.status}.",
                "fiscal_year",
            )
        rows: list[_Row] = []
        for number, cells in sheet.rows:
            result.rows += 1
            row = validator.row(number, cells)
            if row is not None:
                rows.append(row)
            if progress and result.rows % 10000 == 0:
                progress("validated", result.rows, None)
        if validator.errors:
            raise ImportValidationError(validator.errors)
        changes = _Changes.collect(rows, validator.actuals, result)
        if not dry_run:
            changes.write(progress, user=actor.user)
            aggregate_cache.invalidate(plan.pk)
            transaction.on_commit(lambda: aggregate_cache.invalidate(plan.pk))
    return result


@dataclass
class _Changes:
    evaluations: list[Evaluation]
    evaluation_fields: set[str]
    created: list[KPIActual]
    updated: list[KPIActual]

    @classmethod
    def collect(
        cls, rows: list[_Row], actuals: dict[tuple[int, int], KPIActual], result: ImportResult
    ) -> "_Changes":
        now = timezone.now()
        changed_evaluations: dict[int, Evaluation] = {}
        fields: set[str] = set()
        created: list[KPIActual] = []
        updated: list[KPIActual] = []
        for row in rows:
            evaluation = row.evaluation
            number = row.initiative_number
            if row.kpi is None:
                changed = [k for k, v in row.values.items() if getattr(evaluation, k) != v]
                for key in changed:
                    setattr(evaluation, key, row.values[key])
                if changed:
                    evaluation.updated_at = now
                    changed_evaluations[evaluation.pk] = evaluation
                    fields.update(changed)
                outcome = "updated" if changed else "unchanged"
                result.record(RowResult(row.number, EVALUATIONS, number, None, outcome, changed))
                continue
            actual = actuals.get((evaluation.pk, row.kpi.pk))
            if actual is None:
                actual = KPIActual(
                    evaluation=evaluation, kpi=row.kpi, note=row.values.get("note", "")
                )
                actual.value, actual.as_of = row.values["value"], row.values["as_of"]
                created.append(actual)
                outcome, changed = "created", sorted(row.values)
            else:
                changed = [k for k, v in row.values.items() if getattr(actual, k) != v]
                for key in changed:
                    setattr(actual, key, row.values[key])
                if changed:
                    actual.updated_at = now
                    updated.append(actual)
                outcome = "updated" if changed else "unchanged"
            result.record(
                RowResult(row.number, KPI_ACTUALS, number, row.kpi.order, outcome, changed)
            )
        return cls(list(changed_evaluations.values()), fields, created, updated)

    def write(self, progress: Progress | None, *, user=None) -> None:
        """Write in batches, each with its change-history records (reason ``import``)."""
        total = len(self.evaluations) + len(self.created) + len(self.updated)
        done = 0
        history = {"user": user, "reason": "import"}
        for batch in _batches(self.created):
            KPIActual.objects.bulk_create(batch)
            record_bulk_history(KPIActual, batch, created=True, **history)
            done += len(batch)
            if progress:
                progress("written", done, total)
        actual_fields = ["value", "as_of", "note", "version", "updated_at"]
        for batch in _batches(self.updated):
            claim_versions(KPIActual, batch)
            bulk_update(KPIActual, batch, actual_fields)
            record_bulk_history(KPIActual, batch, created=False, **history)
            done += len(batch)
            if progress:
                progress("written", done, total)
        fields = [*sorted(self.evaluation_fields), "version", "updated_at"]
        for batch in _batches(self.evaluations):
            claim_versions(Evaluation, batch)
            bulk_update(Evaluation, batch, fields)
            record_bulk_history(Evaluation, batch, created=False, **history)
            done += len(batch)
            if progress:
                progress("written", done, total)


def _batches(objects: list, size: int = BATCH_SIZE):
    for start in range(0, len(objects), size):
        yield objects[start : start + size]


def bulk_update(model: type[models.Model], objects: list[models.Model], fields: list[str]):
    """``QuerySet.bulk_update`` in one statement per batch.

    Django's ``bulk_update`` builds a ``CASE WHEN pk = … THEN …`` per field, which costs
    O(batch²) on the database and much Python time; on PostgreSQL this joins the table to
    ``unnest`` of one array per column instead (about 20x faster for 100k rows). Other
    databases use ``bulk_update``.
    """
    if not objects:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_update(objects, fields)
        return
    meta = model._meta
    pk = meta.pk
    columns = [meta.get_field(name) for name in fields]
    quote = connection.ops.quote_name
    arrays = [[obj.pk for obj in objects]]
    arrays += [
        [column.get_db_prep_save(getattr(obj, column.attname), connection) for obj in objects]
        for column in columns
    ]
    casts = [pk.db_type(connection), *(column.db_type(connection) for column in columns)]
    names = [quote(pk.column), *(quote(column.column) for column in columns)]
    assignments = ", ".join(f"{name} = v.{name}" for name in names[1:])
    sources = ", ".join(f"%s::{cast}[]" for cast in casts)
    sql = (
        f"UPDATE {quote(meta.db_table)} SET {assignments} "
        f"FROM unnest({sources}) AS v({', '.join(names)}) "
        f"WHERE {quote(meta.db_table)}.{names[0]} = v.{names[0]}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, arrays)
