"""The rulebook: what an actor may see and do with rounds, evaluations and KPI actuals.

Every door asks here: the API views, the admin, the importer, the exports, the report, the
aggregates and the management commands. The actor (user or API key, with its roles) comes
from ``initiatives.access``; the rules of the plan's structure are there too
(``access.may_change_structure``), since the structure app may not import this one.

Reads are querysets (``evaluations_visible_to`` …): what the actor may not see is a 404 at
every door. Actions on a record are checked by ``require`` in the order a caller needs the
answers: who may act (``PermissionDenied``, 403), then whether the record's state allows it
(``WorkflowConflict``, 409). ``allows`` asks the same question without raising.

- edit (rating, texts, KPI actuals) and submit: an editor of a responsible department, or
  the secretariat; open round; draft or returned evaluation.
- return and approve: the secretariat; open or closed round; submitted evaluation.
- reopen an evaluation: the secretariat; open or closed round; approved evaluation.
- close a round: the secretariat; open round. Reopen it: closed, or published with a reason.
- change a round's due dates: the secretariat; any state.
- a round's dashboard: the secretariat (and superusers); any state.
- publish a round: the secretariat; closed round whose evaluations are all approved.
- import a sheet: the secretariat, or editors (each row checked as an edit).
- template: the secretariat (any department, or all), members (their own department).
- report, export, aggregates: anyone, of what they may see.
- revert a record to an old version from its history: the superuser.
- e-mails sent about a plan: its secretariat; notification preferences: each user its own.
- citizens' opinions: anyone may send one (API keys excepted: they act for systems, not
  citizens). The plan's secretariat reads them all, originals included, moderates, imports,
  runs and publishes analyses and confirms initiative links; a department reads the masked
  opinions about its initiatives; everyone reads published analyses.
"""

from enum import StrEnum

from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from dxapi.errors import StateConflict, state_shown
from evaluations.models import (
    EmailNotification,
    Evaluation,
    EvaluationStatus,
    Event,
    Job,
    KPIActual,
    NotificationPreference,
    Opinion,
    OpinionAnalysis,
    OpinionStatus,
    Round,
    RoundStatus,
    WebhookDelivery,
    WebhookSubscription,
)
from initiatives.access import Actor, may_see_who_changed
from initiatives.fiscal_years import short_label
from initiatives.models import Department, InitiativeDepartment, Plan

EDITABLE_STATES = (EvaluationStatus.DRAFT, EvaluationStatus.RETURNED)
REVIEWABLE_ROUND_STATES = (RoundStatus.OPEN, RoundStatus.CLOSED)


class WorkflowConflict(StateConflict):
    """The action is not allowed in the round's or the evaluation's current state (409)."""


class Action(StrEnum):
    EDIT = "edit"
    SUBMIT = "submit"
    RETURN = "return"
    APPROVE = "approve"
    REOPEN = "reopen"
    CLOSE = "close"
    PUBLISH = "publish"


# --- What an actor may see ---------------------------------------------------------------


def plans_visible_to(actor: Actor) -> QuerySet[Plan]:
    """Every plan, except for an API key: its own plan only."""
    plans = Plan.objects.all()
    return plans if actor.plan_limit is None else plans.filter(pk=actor.plan_limit)


def plans_managed_by(actor: Actor) -> QuerySet[Plan]:
    """The plans whose secretariat the actor is (every plan for a superuser): where it may
    add webhooks, run analyses and the like."""
    plans = plans_visible_to(actor)
    return plans if actor.is_superuser else plans.filter(pk__in=actor.secretariat_plan_ids)


def _limited_to_key_plan(queryset: QuerySet, actor: Actor, plan_field: str) -> QuerySet:
    if actor.plan_limit is not None:
        return queryset.filter(**{plan_field: actor.plan_limit})
    return queryset


def rounds_visible_to(actor: Actor) -> QuerySet[Round]:
    """Published rounds, plus every round of the plans the actor works in."""
    rounds = _limited_to_key_plan(Round.objects.all(), actor, "plan_id")
    if actor.is_superuser:
        return rounds
    working_plans = Department.objects.filter(id__in=actor.readable_department_ids).values(
        "plan_id"
    )
    return rounds.filter(
        Q(status=RoundStatus.PUBLISHED)
        | Q(plan_id__in=actor.secretariat_plan_ids)
        | Q(plan_id__in=working_plans)
    )


def evaluations_visible_to(actor: Actor) -> QuerySet[Evaluation]:
    """Published rounds for everyone; all of a plan for its secretariat; every state of
    their departments' initiatives for department members."""
    evaluations = _limited_to_key_plan(Evaluation.objects.all(), actor, "round__plan_id")
    if actor.is_superuser:
        return evaluations
    own_initiatives = InitiativeDepartment.objects.filter(
        department_id__in=actor.readable_department_ids
    ).values("initiative_id")
    return evaluations.filter(
        Q(round__status=RoundStatus.PUBLISHED)
        | Q(round__plan_id__in=actor.secretariat_plan_ids)
        | Q(initiative_id__in=own_initiatives)
    )


def evaluations_editable_by(actor: Actor) -> QuerySet[Evaluation]:
    """Evaluations whose content the actor's role lets it change (the state rules are
    ``require``'s): the plan's secretariat, and editors of a responsible department."""
    evaluations = _limited_to_key_plan(Evaluation.objects.all(), actor, "round__plan_id")
    if actor.is_superuser:
        return evaluations
    own_initiatives = InitiativeDepartment.objects.filter(
        department_id__in=actor.editor_department_ids
    ).values("initiative_id")
    return evaluations.filter(
        Q(round__plan_id__in=actor.secretariat_plan_ids) | Q(initiative_id__in=own_initiatives)
    )


def audience(actor: Actor, plan_id: int) -> str | None:
    """Who else sees exactly what the actor sees of a plan, so that results can be shared
    (cached) between them: ``"all"`` (its secretariat), ``"public"`` (published rounds only),
    or ``None`` (a mix of its own, e.g. a department member's drafts)."""
    if actor.plan_limit not in (None, plan_id):
        return None
    if actor.is_secretariat_of(plan_id):
        return "all"
    if actor.readable_department_ids:
        return None
    return "public"


def kpi_actuals_visible_to(actor: Actor) -> QuerySet[KPIActual]:
    return KPIActual.objects.filter(evaluation__in=evaluations_visible_to(actor))


def jobs_visible_to(actor: Actor) -> QuerySet[Job]:
    """A caller's own jobs (its user's, or its API key's); every job of a plan for the plan's
    secretariat (users and keys)."""
    jobs = _limited_to_key_plan(Job.objects.all(), actor, "plan_id")
    if actor.is_superuser:
        return jobs
    if actor.api_key is not None:
        own = Q(api_key=actor.api_key)
    elif actor.user is not None:
        own = Q(requested_by=actor.user, api_key__isnull=True)
    else:
        return jobs.none()
    return jobs.filter(own | Q(plan_id__in=actor.secretariat_plan_ids))


def email_notifications_visible_to(actor: Actor) -> QuerySet[EmailNotification]:
    """The e-mails sent about a plan (to whom, what, whether they went out): for its
    secretariat, users and keys; every one for the superuser."""
    sent = _limited_to_key_plan(EmailNotification.objects.all(), actor, "plan_id")
    if actor.is_superuser:
        return sent
    return sent.filter(plan_id__in=actor.secretariat_plan_ids)


def notification_preferences_visible_to(actor: Actor) -> QuerySet[NotificationPreference]:
    """A user's own (an API key has none); everyone's for the superuser."""
    if actor.is_superuser:
        return NotificationPreference.objects.all()
    if actor.user is None or actor.api_key is not None:
        return NotificationPreference.objects.none()
    return NotificationPreference.objects.filter(user=actor.user)


def events_visible_to(actor: Actor) -> QuerySet[Event]:
    """The events of what the actor may see: an evaluation's and its KPI actuals' when it may
    see the evaluation (``evaluations_visible_to``), a round's when it may see the round
    (``rounds_visible_to``): the public those of published rounds only."""
    events = _limited_to_key_plan(Event.objects.all(), actor, "plan_id")
    if actor.is_superuser:
        return events
    working_plans = Department.objects.filter(id__in=actor.readable_department_ids).values(
        "plan_id"
    )
    own_initiatives = InitiativeDepartment.objects.filter(
        department_id__in=actor.readable_department_ids
    ).values("initiative_id")
    return events.filter(
        Q(round__status=RoundStatus.PUBLISHED)
        | Q(plan_id__in=actor.secretariat_plan_ids)
        | Q(evaluation__isnull=True, kind__startswith="round.", plan_id__in=working_plans)
        | Q(evaluation__initiative_id__in=own_initiatives)
    )


def evaluations_insider_ids(actor: Actor, evaluation_ids: set[int]) -> set[int]:
    """Those of the evaluations that the actor works on (the plan's secretariat, the
    initiative's departments), who may see who reviewed them and what they wrote
    (``may_see_who_changed``); one query, none for the public."""
    if not evaluation_ids:
        return set()
    if actor.is_superuser:
        return set(evaluation_ids)
    if not actor.secretariat_plan_ids and not actor.readable_department_ids:
        return set()
    own_initiatives = InitiativeDepartment.objects.filter(
        department_id__in=actor.readable_department_ids
    ).values("initiative_id")
    evaluations = _limited_to_key_plan(Evaluation.objects.all(), actor, "round__plan_id")
    return set(
        evaluations.filter(pk__in=evaluation_ids)
        .filter(
            Q(round__plan_id__in=actor.secretariat_plan_ids) | Q(initiative_id__in=own_initiatives)
        )
        .values_list("id", flat=True)
    )


def webhook_subscriptions_visible_to(actor: Actor) -> QuerySet[WebhookSubscription]:
    """A plan's webhooks, for its secretariat (users and keys) only."""
    subscriptions = _limited_to_key_plan(WebhookSubscription.objects.all(), actor, "plan_id")
    if actor.is_superuser:
        return subscriptions
    return subscriptions.filter(plan_id__in=actor.secretariat_plan_ids)


def webhook_deliveries_visible_to(actor: Actor) -> QuerySet[WebhookDelivery]:
    return WebhookDelivery.objects.filter(subscription__in=webhook_subscriptions_visible_to(actor))


def may_see_who_changed_evaluation(actor: Actor, evaluation: Evaluation) -> bool:
    """``access.may_see_who_changed`` for an evaluation (its initiative's departments)."""
    departments = evaluation.initiative.departments.values_list("id", flat=True)  # lazy
    return may_see_who_changed(
        actor, plan_id=evaluation.initiative.plan_id, department_ids=departments
    )


# --- What an actor may do ------------------------------------------------------------------


def _responsible_department_ids(evaluation: Evaluation) -> set[int]:
    return {r.department_id for r in evaluation.initiative.responsibilities.all()}


def _is_editor(actor: Actor, evaluation: Evaluation) -> bool:
    if actor.plan_limit not in (None, evaluation.round.plan_id):
        return False
    if actor.is_secretariat_of(evaluation.round.plan_id):
        return True
    return actor.may_edit_for(_responsible_department_ids(evaluation))


def require_secretariat(actor: Actor, plan_id: int) -> None:
    if actor.plan_limit not in (None, plan_id) or not actor.is_secretariat_of(plan_id):
        raise PermissionDenied(_("Only the plan's secretariat may do this."))


def require_may_change_round(actor: Actor, round_: Round) -> None:
    """A round's own fields (its due dates), in any state: the plan's secretariat."""
    require_secretariat(actor, round_.plan_id)


def require_may_see_dashboard(actor: Actor, round_: Round) -> None:
    """A round's dashboard (who has not submitted, what is missing): the plan's secretariat
    (users and keys) and superusers. Callers look the round up among ``rounds_visible_to``
    first, so that a round the actor may not see is a 404."""
    require_secretariat(actor, round_.plan_id)


def allows_dashboard(actor: Actor, round_: Round) -> bool:
    try:
        require_may_see_dashboard(actor, round_)
    except PermissionDenied:
        return False
    return True


def require_editor(actor: Actor, evaluation: Evaluation) -> None:
    if not _is_editor(actor, evaluation):
        raise PermissionDenied(_("Only an editor of a responsible department may do this."))


def _conflict(message: str, record: Evaluation | Round, **params) -> WorkflowConflict:
    """``message`` (with ``%(state)s``) naming the record's state as its reader knows it."""
    label = record.get_status_display()
    state = state_shown(record.status, label)
    return WorkflowConflict(
        message % {**params, "state": state}, current_state=record.status, state_label=label
    )


def _require_round_state(round_: Round, allowed: tuple[str, ...]) -> None:
    if round_.status not in allowed:
        year = short_label(round_.fiscal_year)
        raise _conflict(_("The %(year)s round is %(state)s."), round_, year=year)


def _require_evaluation_state(evaluation: Evaluation, allowed: tuple[str, ...], message):
    if evaluation.status not in allowed:
        raise _conflict(message, evaluation)


# action: (round states, evaluation states, the message when the evaluation's state refuses)
_EVALUATION_RULES: dict[Action, tuple[tuple[str, ...], tuple[str, ...], str]] = {
    Action.EDIT: (
        (RoundStatus.OPEN,),
        EDITABLE_STATES,
        gettext_lazy("Cannot edit an evaluation that is %(state)s."),
    ),
    Action.SUBMIT: (
        (RoundStatus.OPEN,),
        EDITABLE_STATES,
        gettext_lazy("Cannot submit an evaluation that is %(state)s."),
    ),
    Action.RETURN: (
        REVIEWABLE_ROUND_STATES,
        (EvaluationStatus.SUBMITTED,),
        gettext_lazy("Cannot return an evaluation that is %(state)s."),
    ),
    Action.APPROVE: (
        REVIEWABLE_ROUND_STATES,
        (EvaluationStatus.SUBMITTED,),
        gettext_lazy("Cannot approve an evaluation that is %(state)s."),
    ),
    Action.REOPEN: (
        REVIEWABLE_ROUND_STATES,
        (EvaluationStatus.APPROVED,),
        gettext_lazy("Cannot reopen an evaluation that is %(state)s."),
    ),
}
EDITOR_ACTIONS = (Action.EDIT, Action.SUBMIT)
# round action: states it may start from
_ROUND_RULES: dict[Action, tuple[str, ...]] = {
    Action.CLOSE: (RoundStatus.OPEN,),
    Action.REOPEN: (RoundStatus.CLOSED, RoundStatus.PUBLISHED),
    Action.PUBLISH: (RoundStatus.CLOSED,),
}


def require_evaluation_role(actor: Actor, action: Action, evaluation: Evaluation) -> None:
    """403 unless the actor's role lets it do ``action`` to this evaluation (any state)."""
    if action in EDITOR_ACTIONS:
        require_editor(actor, evaluation)
    else:
        require_secretariat(actor, evaluation.round.plan_id)


def require_state(action: Action, record: Evaluation | Round) -> None:
    """``WorkflowConflict`` unless the record's state (and its round's) allows ``action``."""
    if isinstance(record, Round):
        _require_round_state(record, _ROUND_RULES[action])
        return
    round_states, states, message = _EVALUATION_RULES[action]
    _require_round_state(record.round, round_states)
    _require_evaluation_state(record, states, message)


def require(actor: Actor, action: Action, record: Evaluation | Round) -> None:
    """Raise ``PermissionDenied`` or ``WorkflowConflict`` unless the actor may do ``action``
    to ``record`` now. Callers that write hold the round's lock, then the evaluation's."""
    if isinstance(record, Round):
        require_secretariat(actor, record.plan_id)
    else:
        require_evaluation_role(actor, action, record)
    require_state(action, record)


def allows(actor: Actor, action: Action, record: Evaluation | Round) -> bool:
    try:
        require(actor, action, record)
    except (PermissionDenied, WorkflowConflict):
        return False
    return True


def allowed_actions(actor: Actor, record: Evaluation | Round) -> list[Action]:
    """The actions the actor may take on the record now (for buttons and menus)."""
    rules = _ROUND_RULES if isinstance(record, Round) else _EVALUATION_RULES
    return [action for action in rules if allows(actor, action, record)]


def require_reason_to_reopen(round_: Round, reason: str) -> None:
    """A published round is reopened only with a reason, which the history records."""
    if round_.status == RoundStatus.PUBLISHED and not reason.strip():
        raise ValidationError({"reason": _("Say why the published round is reopened.")})


# --- Plan-wide doors: imports, templates, reports ---------------------------------------


def require_may_import(actor: Actor, plan: Plan) -> None:
    """The secretariat, or an editor of one of the plan's departments (each row is then
    checked as an edit of its evaluation)."""
    if actor.plan_limit not in (None, plan.pk):
        raise PermissionDenied(_("This API key is limited to another plan."))
    if actor.is_secretariat_of(plan.pk):
        return
    departments = set(Department.objects.filter(plan=plan).values_list("id", flat=True))
    if not actor.may_edit_for(departments):
        raise PermissionDenied(_("Only the secretariat or a department editor may import."))


def require_may_get_template(actor: Actor, plan: Plan, department: Department | None) -> None:
    """The secretariat gets any department's sheet or the whole plan's; a department's
    members (users or keys) their own department's."""
    if actor.plan_limit not in (None, plan.pk):
        raise PermissionDenied(_("This API key is limited to another plan."))
    if actor.is_secretariat_of(plan.pk):
        return
    if department is None:
        raise PermissionDenied(_("Name your department: only the secretariat gets every one."))
    if department.pk not in actor.readable_department_ids:
        raise PermissionDenied(_("You may only download your own department's template."))


def may_revert_history(actor: Actor) -> bool:
    """Reverting a record to an old version bypasses the workflow: the superuser's alone."""
    return actor.is_superuser


# --- Citizens' opinions and their analyses ------------------------------------------------


def opinions_visible_to(actor: Actor) -> QuerySet[Opinion]:
    """Every opinion of a plan for its secretariat; for department members, those about their
    departments' initiatives (named by the sender or confirmed by the secretariat) that are
    not hidden; none for the public, who reads them through published analyses."""
    opinions = _limited_to_key_plan(Opinion.objects.all(), actor, "plan_id")
    if actor.is_superuser:
        return opinions
    own_initiatives = InitiativeDepartment.objects.filter(
        department_id__in=actor.readable_department_ids
    ).values("initiative_id")
    return opinions.filter(
        Q(plan_id__in=actor.secretariat_plan_ids)
        | (
            ~Q(status=OpinionStatus.HIDDEN)
            & (
                Q(confirmed_initiative_id__in=own_initiatives)
                | Q(initiative_id__in=own_initiatives)
            )
        )
    )


def may_see_original_opinion(actor: Actor, opinion: Opinion) -> bool:
    """The text as sent, before masking, and how it was sent: the plan's secretariat alone."""
    return actor.plan_limit in (None, opinion.plan_id) and actor.is_secretariat_of(opinion.plan_id)


def require_may_send_opinion(actor: Actor) -> None:
    """Opinions come from people: the public and signed-in users, not API keys."""
    if actor.api_key is not None:
        raise PermissionDenied(_("Opinions are sent by people, not by API keys."))


def opinion_analyses_visible_to(actor: Actor) -> QuerySet[OpinionAnalysis]:
    """Published analyses for everyone; every analysis of a plan for its secretariat."""
    analyses = _limited_to_key_plan(OpinionAnalysis.objects.all(), actor, "plan_id")
    if actor.is_superuser:
        return analyses
    return analyses.filter(Q(is_published=True) | Q(plan_id__in=actor.secretariat_plan_ids))
