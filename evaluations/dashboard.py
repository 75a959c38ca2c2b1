"""The secretariat's view of a round: per department, how far its evaluations have come, what
is overdue and when it last worked on them; per initiative, what is still missing.

Everything is counted in the database (GROUP BY with conditional counts, EXISTS), in a fixed
number of queries whatever the size of the plan (``tests/test_dashboard.py`` pins it):

1. the round's evaluations grouped by responsible department: counts by status, latest change
   of an evaluation and of a KPI actual;
2. the same counts for the whole round;
3. the plan's departments;
4. the round's evaluations, one row each;
5. the evaluations whose rating differs from the KPI-based suggestion without a reason
   (``selectors.differing_from_suggestion``, the rule the list filter uses);
6. the KPIs without a target for the round's year, or numeric ones without an actual value;
7. the initiatives' responsible departments.

An evaluation is overdue when it is not submitted (draft or returned) after the department
due date, or submitted and not yet reviewed after the review due date; "after" is from the
day following the due date, in the service's time zone.
"""

from dataclasses import dataclass, field
from datetime import date, datetime

from django.db.models import Count, Exists, F, Max, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from evaluations.models import Evaluation, EvaluationStatus, KPIActual, Round
from evaluations.policy import EDITABLE_STATES
from evaluations.selectors import differing_from_suggestion, responsible_departments
from initiatives.models import KPI, Department, KPITarget

# What an initiative may be missing, by key.
MISSING_RATING = "rating"
MISSING_ACTUAL = "actual"
MISSING_REASON = "reason"
MISSING_TARGET = "target"
# Why an evaluation is overdue.
OVERDUE_SUBMISSION = "submission"
OVERDUE_REVIEW = "review"

STATUSES = tuple(EvaluationStatus.values)


def _status_counts(prefix: str = "") -> dict[str, Count]:
    """A count of distinct evaluations per status, and in all (joins may repeat a row)."""
    pk = f"{prefix}pk"
    counts = {
        status: Count(pk, distinct=True, filter=Q(**{f"{prefix}status": status}))
        for status in STATUSES
    }
    return {**counts, "total": Count(pk, distinct=True)}


@dataclass(frozen=True)
class Deadlines:
    """Which due dates have passed on ``today``."""

    submission_passed: bool
    review_passed: bool

    @classmethod
    def of(cls, round_: Round, today: date) -> "Deadlines":
        department, review = round_.department_due_date, round_.review_due_date
        return cls(
            submission_passed=department is not None and today > department,
            review_passed=review is not None and today > review,
        )

    def overdue(self, status: str) -> str | None:
        if self.submission_passed and status in EDITABLE_STATES:
            return OVERDUE_SUBMISSION
        if self.review_passed and status == EvaluationStatus.SUBMITTED:
            return OVERDUE_REVIEW
        return None

    def overdue_counts(self, counts: dict[str, int]) -> dict[str, int]:
        not_submitted = sum(counts[status] for status in EDITABLE_STATES)
        return {
            OVERDUE_SUBMISSION: not_submitted if self.submission_passed else 0,
            OVERDUE_REVIEW: counts[EvaluationStatus.SUBMITTED] if self.review_passed else 0,
        }


@dataclass
class DepartmentProgress:
    id: int | None
    code: str
    name: str
    counts: dict[str, int]
    overdue: dict[str, int]
    last_activity: datetime | None


@dataclass
class KPIGap:
    id: int
    order: int
    name: str


@dataclass
class InitiativeGaps:
    evaluation_id: int
    initiative_id: int
    number: int
    title: str
    department_ids: list[int]
    status: str
    rating: str | None
    overdue: str | None
    missing: list[str]
    kpis_without_actual: list[KPIGap] = field(default_factory=list)
    kpis_without_target: list[KPIGap] = field(default_factory=list)


@dataclass
class Dashboard:
    round: Round
    today: date
    counts: dict[str, int]
    overdue: dict[str, int]
    departments: list[DepartmentProgress]
    initiatives: list[InitiativeGaps]


def _latest(*moments: datetime | None) -> datetime | None:
    present = [moment for moment in moments if moment is not None]
    return max(present) if present else None


def _department_rows(evaluations: QuerySet[Evaluation]) -> dict[int | None, dict]:
    """Query 1: per responsible department (None: an initiative without one)."""
    rows = (
        evaluations.values(department=F("initiative__responsibilities__department_id"))
        .annotate(
            **_status_counts(),
            last_evaluation=Max("updated_at"),
            last_actual=Max("kpi_actuals__updated_at"),
        )
        .order_by()
    )
    return {row["department"]: row for row in rows}


def _kpi_gaps(round_: Round, evaluations: QuerySet[Evaluation]) -> list[dict]:
    """Query 6: the KPIs of the round's initiatives with no target for its year, or with a
    numeric target and no actual value in the round."""
    targets = KPITarget.objects.filter(kpi=OuterRef("pk"), fiscal_year=round_.fiscal_year)
    values = KPIActual.objects.filter(
        kpi=OuterRef("pk"), evaluation__round=round_, value__isnull=False
    )
    return list(
        KPI.objects.filter(initiative__in=evaluations.values("initiative_id"))
        .annotate(
            has_target=Exists(targets),
            numeric=Exists(targets.filter(value__isnull=False)),
            has_value=Exists(values),
        )
        .filter(Q(has_target=False) | Q(numeric=True, has_value=False))
        .order_by("initiative_id", "order")
        .values("id", "initiative_id", "order", "name", "has_target")
    )


def round_dashboard(round_: Round, *, today: date | None = None) -> Dashboard:
    """The dashboard of ``round_`` on ``today`` (the service's local date by default). The
    caller has checked that the actor may see it (``policy.require_may_see_dashboard``)."""
    today = today or timezone.localdate()
    deadlines = Deadlines.of(round_, today)
    evaluations = Evaluation.objects.filter(round=round_)

    by_department = _department_rows(evaluations)
    totals = evaluations.aggregate(**_status_counts())
    departments = [
        *Department.objects.filter(plan_id=round_.plan_id)
        .order_by("order", "code")
        .values("id", "code", "name"),
    ]
    if None in by_department:
        departments.append({"id": None, "code": "", "name": _("No department assigned")})
    progress = []
    for department in departments:
        row = by_department.get(department["id"])
        counts = {name: row[name] if row else 0 for name in (*STATUSES, "total")}
        progress.append(
            DepartmentProgress(
                id=department["id"],
                code=department["code"],
                name=department["name"],
                counts=counts,
                overdue=deadlines.overdue_counts(counts),
                last_activity=_latest(row["last_evaluation"], row["last_actual"]) if row else None,
            )
        )

    rows = list(
        evaluations.order_by("initiative__number").values(
            "pk", "initiative_id", "initiative__number", "initiative__title", "status", "rating"
        )
    )
    # Blank as on submit (``str.strip``: full-width spaces too), so read and stripped here.
    unexplained = {
        pk
        for pk, reason in differing_from_suggestion(evaluations, True).values_list(
            "pk", "rating_reason"
        )
        if not reason.strip()
    }
    without_actual: dict[int, list[KPIGap]] = {}
    without_target: dict[int, list[KPIGap]] = {}
    for gap in _kpi_gaps(round_, evaluations):
        kind = without_actual if gap["has_target"] else without_target
        kind.setdefault(gap["initiative_id"], []).append(
            KPIGap(gap["id"], gap["order"], gap["name"])
        )
    departments_of = responsible_departments(row["initiative_id"] for row in rows)

    initiatives = []
    for row in rows:
        initiative_id = row["initiative_id"]
        missing = []
        if row["rating"] is None:
            missing.append(MISSING_RATING)
        if initiative_id in without_actual:
            missing.append(MISSING_ACTUAL)
        if row["pk"] in unexplained:
            missing.append(MISSING_REASON)
        if initiative_id in without_target:
            missing.append(MISSING_TARGET)
        overdue = deadlines.overdue(row["status"])
        if not missing and overdue is None:
            continue
        initiatives.append(
            InitiativeGaps(
                evaluation_id=row["pk"],
                initiative_id=initiative_id,
                number=row["initiative__number"],
                title=row["initiative__title"],
                department_ids=sorted(departments_of.get(initiative_id, [])),
                status=row["status"],
                rating=row["rating"],
                overdue=overdue,
                missing=missing,
                kpis_without_actual=without_actual.get(initiative_id, []),
                kpis_without_target=without_target.get(initiative_id, []),
            )
        )
    return Dashboard(
        round=round_,
        today=today,
        counts=totals,
        overdue=deadlines.overdue_counts(totals),
        departments=progress,
        initiatives=initiatives,
    )
