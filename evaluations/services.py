"""Writes of the yearly cycle: editing evaluations and KPI actuals, the review workflow and
rounds. Each function checks who may do it and in which state, runs in one transaction,
and raises ``WorkflowConflict`` (HTTP 409) or Django's ``ValidationError`` (HTTP 400)."""

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from evaluations.models import (
    RATED,
    Evaluation,
    EvaluationStatus,
    KPIActual,
    Round,
    RoundStatus,
)
from evaluations.selectors import suggestion_for
from initiatives.access import Actor
from initiatives.fiscal_years import fiscal_year_bounds, short_label
from initiatives.models import KPI, Initiative, Plan

EDITABLE_FIELDS = ("rating", "rating_reason", "plan_text", "progress_text", "next_actions")
EDITABLE_STATES = (EvaluationStatus.DRAFT, EvaluationStatus.RETURNED)
# An actual may be "as of" a date inside its fiscal year or up to six months after it.
AS_OF_GRACE = timedelta(days=183)
NON_NEGATIVE_UNITS = {
    "%",
    "件",
    "人",
    "社",
    "事業者",
    "事業所",
    "PV",
    "万PV",
    "千人泊",
    "回",
    "か所",
}


class StaleVersion(Exception):
    """The caller changes a version of the record that is no longer the current one."""

    def __init__(self, current_version: int) -> None:
        super().__init__(f"The record is at version {current_version}.")
        self.current_version = current_version


class VersionRequired(Exception):
    """The caller did not say which version of the record it changes."""


@dataclass(frozen=True)
class Precondition:
    """Which version of a record the caller means to change (HTTP ``If-Match``): a version
    number, any version (``*``, and internal callers), or none given. Checked only after
    visibility, permission and state, so that those answers come first."""

    version: int | None = None
    given: bool = True

    @classmethod
    def any(cls) -> "Precondition":
        return cls(version=None, given=True)

    @classmethod
    def missing(cls) -> "Precondition":
        return cls(version=None, given=False)


ANY_VERSION = Precondition.any()


def _claim_version(
    instance: Evaluation | KPIActual, expected_version: "Precondition | int | None"
) -> None:
    """Move ``instance`` to its next version, atomically in the database: a conditional
    UPDATE that matches only if the row is still at the expected version (any version for
    ``*``/``None``). Two writers of the same version: exactly one wins, the other gets
    ``StaleVersion``."""
    if isinstance(expected_version, Precondition):
        if not expected_version.given:
            raise VersionRequired()
        expected_version = expected_version.version
    rows = type(instance).objects.filter(pk=instance.pk)
    if expected_version is not None:
        rows = rows.filter(version=expected_version)
    claimed = rows.update(version=F("version") + 1)
    current = type(instance).objects.values_list("version", flat=True).get(pk=instance.pk)
    if not claimed:
        raise StaleVersion(current)
    instance.version = current


class WorkflowConflict(Exception):
    """The action is not allowed in the object's current state."""

    def __init__(self, message: str, *, current_state: str) -> None:
        super().__init__(message)
        self.current_state = current_state


def require_secretariat(actor: Actor, plan_id: int) -> None:
    if not actor.is_secretariat_of(plan_id):
        raise PermissionDenied("Only the plan's secretariat may do this.")


def require_editor(actor: Actor, evaluation: Evaluation) -> None:
    if actor.is_secretariat_of(evaluation.round.plan_id):
        return
    departments = {r.department_id for r in evaluation.initiative.responsibilities.all()}
    if not actor.may_edit_for(departments):
        raise PermissionDenied("Only an editor of a responsible department may do this.")


def require_open_round(evaluation: Evaluation) -> None:
    if evaluation.round.status != RoundStatus.OPEN:
        raise WorkflowConflict(
            f"The {short_label(evaluation.round.fiscal_year)} round is {evaluation.round.status}.",
            current_state=evaluation.round.status,
        )


def require_state(evaluation: Evaluation, allowed: tuple[str, ...], action: str) -> None:
    if evaluation.status not in allowed:
        raise WorkflowConflict(
            f"Cannot {action} an evaluation that is {evaluation.status}.",
            current_state=evaluation.status,
        )


def _locked(evaluation: Evaluation) -> Evaluation:
    """Re-read the evaluation under a row lock so concurrent workflow actions serialize."""
    return (
        Evaluation.objects.select_for_update(of=("self",))
        .select_related("round", "initiative")
        .get(pk=evaluation.pk)
    )


def _save(
    evaluation: Evaluation,
    fields: list[str],
    reason: str = "update",
    *,
    expected_version: Precondition | int | None,
) -> Evaluation:
    """Save as the next version; ``reason`` (the transition and its comment) goes into the
    change history."""
    evaluation.full_clean(validate_unique=False)
    _claim_version(evaluation, expected_version)
    evaluation._change_reason = reason
    evaluation.save(update_fields=[*fields, "version", "updated_at"])
    return evaluation


@transaction.atomic
def evaluation_update(
    *,
    actor: Actor,
    evaluation: Evaluation,
    data: dict[str, Any],
    expected_version: Precondition | int | None = None,
) -> Evaluation:
    evaluation = _locked(evaluation)
    require_editor(actor, evaluation)
    require_open_round(evaluation)
    require_state(evaluation, EDITABLE_STATES, "edit")
    unknown = set(data) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationError({name: "This field cannot be changed here." for name in unknown})
    for name, value in data.items():
        setattr(evaluation, name, value)
    return _save(evaluation, list(data), expected_version=expected_version)


@transaction.atomic
def evaluation_submit(
    *,
    actor: Actor,
    evaluation: Evaluation,
    expected_version: Precondition | int | None = None,
) -> Evaluation:
    evaluation = _locked(evaluation)
    require_editor(actor, evaluation)
    require_open_round(evaluation)
    require_state(evaluation, EDITABLE_STATES, "submit")
    if evaluation.rating is None:
        raise ValidationError({"rating": "Give a rating (A, B, C or -) before submitting."})
    suggested = suggestion_for(evaluation).rating
    differs = (
        evaluation.rating in RATED and suggested is not None and evaluation.rating != suggested
    )
    if differs and not evaluation.rating_reason.strip():
        raise ValidationError(
            {
                "rating_reason": (
                    f"The rating {evaluation.rating} differs from the KPI-based suggestion "
                    f"{suggested}: give the reason."
                )
            }
        )
    evaluation.status = EvaluationStatus.SUBMITTED
    evaluation.submitted_by = actor.user
    evaluation.submitted_at = timezone.now()
    return _save(
        evaluation,
        ["status", "submitted_by", "submitted_at"],
        "submit",
        expected_version=expected_version,
    )


@transaction.atomic
def evaluation_return(
    *,
    actor: Actor,
    evaluation: Evaluation,
    comment: str,
    expected_version: Precondition | int | None = None,
) -> Evaluation:
    evaluation = _locked(evaluation)
    require_secretariat(actor, evaluation.round.plan_id)
    require_state(evaluation, (EvaluationStatus.SUBMITTED,), "return")
    if not comment.strip():
        raise ValidationError({"comment": "Say why the evaluation is returned."})
    evaluation.status = EvaluationStatus.RETURNED
    evaluation.review_comment = comment
    return _save(
        evaluation,
        ["status", "review_comment"],
        f"return: {comment}",
        expected_version=expected_version,
    )


@transaction.atomic
def evaluation_approve(
    *,
    actor: Actor,
    evaluation: Evaluation,
    expected_version: Precondition | int | None = None,
) -> Evaluation:
    evaluation = _locked(evaluation)
    require_secretariat(actor, evaluation.round.plan_id)
    require_state(evaluation, (EvaluationStatus.SUBMITTED,), "approve")
    evaluation.status = EvaluationStatus.APPROVED
    evaluation.approved_by = actor.user
    evaluation.approved_at = timezone.now()
    return _save(
        evaluation,
        ["status", "approved_by", "approved_at"],
        "approve",
        expected_version=expected_version,
    )


@transaction.atomic
def evaluation_reopen(
    *,
    actor: Actor,
    evaluation: Evaluation,
    reason: str,
    expected_version: Precondition | int | None = None,
) -> Evaluation:
    evaluation = _locked(evaluation)
    require_secretariat(actor, evaluation.round.plan_id)
    require_state(evaluation, (EvaluationStatus.APPROVED,), "reopen")
    if evaluation.round.status == RoundStatus.PUBLISHED:
        raise WorkflowConflict(
            "The round is published: its evaluations cannot be reopened.",
            current_state=evaluation.round.status,
        )
    if not reason.strip():
        raise ValidationError({"reason": "Say why the evaluation is reopened."})
    evaluation.status = EvaluationStatus.RETURNED
    evaluation.review_comment = reason
    evaluation.approved_by = None
    evaluation.approved_at = None
    return _save(
        evaluation,
        ["status", "review_comment", "approved_by", "approved_at"],
        f"reopen: {reason}",
        expected_version=expected_version,
    )


def kpi_actual_validate(kpi: KPI, evaluation: Evaluation, value: Decimal, as_of: date | None):
    errors = {}
    if kpi.initiative_id != evaluation.initiative_id:
        errors["kpi"] = "The KPI does not belong to the evaluation's initiative."
    if not value.is_finite():
        errors["value"] = "Must be a finite number."
    elif value < 0 and kpi.unit in NON_NEGATIVE_UNITS:
        errors["value"] = f"Cannot be negative for a KPI counted in {kpi.unit}."
    if as_of is not None:
        start, end = fiscal_year_bounds(evaluation.round.fiscal_year)
        if not start <= as_of <= end + AS_OF_GRACE:
            errors["as_of"] = (
                f"Must be inside fiscal year {short_label(evaluation.round.fiscal_year)} "
                f"({start} to {end}) or up to six months after it."
            )
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def kpi_actual_save(
    *,
    actor: Actor,
    evaluation: Evaluation,
    kpi: KPI,
    value: Decimal,
    as_of: date | None = None,
    note: str = "",
    actual: KPIActual | None = None,
    expected_version: Precondition | int | None = None,
) -> KPIActual:
    """Create or update (``actual`` given, at ``expected_version``) a KPI actual of an
    evaluation that the actor may edit."""
    evaluation = _locked(evaluation)
    require_editor(actor, evaluation)
    require_open_round(evaluation)
    require_state(evaluation, EDITABLE_STATES, "edit the KPI actuals of")
    kpi_actual_validate(kpi, evaluation, value, as_of)
    if actual is None:
        if KPIActual.objects.filter(evaluation=evaluation, kpi=kpi).exists():
            raise ValidationError({"kpi": "This KPI already has an actual in this evaluation."})
        actual = KPIActual(evaluation=evaluation, kpi=kpi)
    actual.value, actual.as_of, actual.note = value, as_of, note
    actual.full_clean(validate_unique=False)
    if actual.pk is not None:
        _claim_version(actual, expected_version)
    actual.save()
    return actual


@transaction.atomic
def kpi_actual_delete(
    *, actor: Actor, actual: KPIActual, expected_version: Precondition | int | None = None
) -> None:
    evaluation = _locked(actual.evaluation)
    require_editor(actor, evaluation)
    require_open_round(evaluation)
    require_state(evaluation, EDITABLE_STATES, "edit the KPI actuals of")
    _claim_version(actual, expected_version)
    actual.delete()


@transaction.atomic
def round_open(*, actor: Actor, plan: Plan, fiscal_year: int) -> Round:
    """Open a fiscal year's round and give every initiative of the plan a draft evaluation."""
    require_secretariat(actor, plan.pk)
    if not plan.covers(fiscal_year):
        raise ValidationError({"fiscal_year": f"Outside the plan's period {plan.period_label}."})
    existing = Round.objects.filter(plan=plan, fiscal_year=fiscal_year).first()
    if existing is not None:
        raise WorkflowConflict(
            f"The {short_label(fiscal_year)} round exists already.", current_state=existing.status
        )
    round_ = Round.objects.create(
        plan=plan, fiscal_year=fiscal_year, status=RoundStatus.OPEN, opened_at=timezone.now()
    )
    bulk_create_with_history(
        [
            Evaluation(round=round_, initiative=initiative)
            for initiative in Initiative.objects.filter(plan=plan).only("pk")
        ],
        Evaluation,
        default_user=actor.user,
        default_change_reason="round opened",
    )
    return round_


def _locked_round(round_: Round) -> Round:
    return Round.objects.select_for_update().get(pk=round_.pk)


@transaction.atomic
def round_close(*, actor: Actor, round_: Round) -> Round:
    round_ = _locked_round(round_)
    require_secretariat(actor, round_.plan_id)
    if round_.status != RoundStatus.OPEN:
        raise WorkflowConflict(f"The round is {round_.status}.", current_state=round_.status)
    round_.status, round_.closed_at = RoundStatus.CLOSED, timezone.now()
    round_.save(update_fields=["status", "closed_at"])
    return round_


@transaction.atomic
def round_publish(*, actor: Actor, round_: Round) -> Round:
    """Publish a round whose evaluations are all approved; else say which are not."""
    round_ = _locked_round(round_)
    require_secretariat(actor, round_.plan_id)
    if round_.status == RoundStatus.PUBLISHED:
        raise WorkflowConflict("The round is published already.", current_state=round_.status)
    pending = list(
        round_.evaluations.exclude(status=EvaluationStatus.APPROVED)
        .order_by("initiative__number")
        .values_list("initiative__number", flat=True)
    )
    if pending:
        raise WorkflowConflict(
            "Not every evaluation is approved; initiatives not approved: "
            + ", ".join(str(number) for number in pending),
            current_state=round_.status,
        )
    round_.status, round_.published_at = RoundStatus.PUBLISHED, timezone.now()
    round_.save(update_fields=["status", "published_at"])
    return round_
