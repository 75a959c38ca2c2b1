"""E-mail notifications of the yearly cycle, in Japanese, each recorded as an
``EmailNotification`` and sent by a job (``dxapi.jobs``), never in a request.

The workflow's are made from its events (``evaluations.events``): an event of a notified kind
queues ``tasks.notify_event`` once the transaction that recorded it commits. The clock's
(reminders, digests) are periodic tasks (``CELERY_BEAT_SCHEDULE``).

- a round opened: to the members (editors and viewers) of every department of the plan;
- an evaluation returned: to the members of its initiative's departments, with the
  secretariat's comment;
- a department's due date near (``NOTIFY_DUE_SOON_DAYS`` before it, once per due date) and
  passed (once a day): to the members of the departments with evaluations not yet submitted;
- a daily digest to the plan's secretariat: what was submitted, returned and approved since
  the last digest, counted per department.

Only active users with an address receive them, and only the kinds they did not turn off
(``NotificationPreference``; without a row a kind is on). Each e-mail is recorded before it
is sent, unique per recipient, kind and occasion (``key``): a reminder computed twice (the
beat firing twice, two workers) inserts nothing the second time. A send that fails records
its error and is tried again with the jobs' backoff, up to ``JOB_MAX_RETRIES`` times, then
the e-mail is ``failed`` (at once for a permanent refusal, 5xx); the admin can queue failed
ones again. A send is claimed (its ``attempts`` counted up from the value read) before it goes
out, so that two deliveries of one job send one e-mail. E-mails left queued by a process that
stopped are queued again by a periodic sweep.
"""

import datetime
import logging
import smtplib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.db.models.signals import post_save
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.http import urlencode

from dxapi.jobs import JobTask, TransientError, enqueue
from evaluations.models import (
    EmailNotification,
    EmailState,
    Evaluation,
    EvaluationStatus,
    Event,
    EventKind,
    NotificationKind,
    NotificationPreference,
    Round,
    RoundStatus,
    WebhookSubscription,
)
from evaluations.webhooks import subscription_paused
from initiatives.fiscal_years import long_label
from initiatives.models import Department, InitiativeDepartment, Plan

logger = logging.getLogger(__name__)

UNSUBMITTED = (EvaluationStatus.DRAFT, EvaluationStatus.RETURNED)
TEMPLATES = "evaluations/email/{kind}_{part}.txt"
# What a digest counts.
DIGEST_ACTIONS = ("submitted", "returned", "approved")


# --- Preferences ---------------------------------------------------------------------------


def preferences_of(user) -> dict[str, bool]:
    """Every kind, on unless the user turned it off."""
    stored = dict(NotificationPreference.objects.filter(user=user).values_list("kind", "enabled"))
    return {kind: stored.get(kind, True) for kind in NotificationKind.values}


@transaction.atomic
def preferences_save(user, values: dict[str, bool]) -> dict[str, bool]:
    for kind, enabled in values.items():
        NotificationPreference.objects.update_or_create(
            user=user, kind=kind, defaults={"enabled": enabled}
        )
    return preferences_of(user)


def ensure_preferences(user) -> None:
    """A row for every kind (on), so that a user can turn each one off in the admin."""
    NotificationPreference.objects.bulk_create(
        [NotificationPreference(user=user, kind=kind) for kind in NotificationKind.values],
        ignore_conflicts=True,
    )


# --- Recipients ----------------------------------------------------------------------------


def reachable(users: QuerySet, kind: str) -> QuerySet:
    """The users who can and want to receive ``kind``: active, with an address, not opted
    out."""
    opted_out = NotificationPreference.objects.filter(kind=kind, enabled=False).values("user_id")
    return (
        users.filter(is_active=True)
        .exclude(email="")
        .exclude(pk__in=opted_out)
        .distinct()
        .order_by("pk")
    )


def department_members(department_ids: Iterable[int], kind: str) -> QuerySet:
    """The editors and viewers of the departments who receive ``kind``."""
    users = get_user_model().objects.filter(
        department_memberships__department_id__in=list(department_ids)
    )
    return reachable(users, kind)


def secretariat_members(plan_id: int, kind: str) -> QuerySet:
    users = get_user_model().objects.filter(secretariat_memberships__plan_id=plan_id)
    return reachable(users, kind)


def display_name(user) -> str:
    return f"{user.last_name} {user.first_name}".strip() or user.get_username()


# --- Links ---------------------------------------------------------------------------------


def link(path: str, query: dict[str, Any] | None = None) -> str:
    """An absolute link to the service (``SITE_URL``)."""
    url = settings.SITE_URL.rstrip("/") + path
    return f"{url}?{urlencode(query)}" if query else url


def evaluation_link(evaluation: Evaluation) -> str:
    return link(reverse("admin:evaluations_evaluation_change", args=[evaluation.pk]))


def evaluations_link(round_: Round, **filters: Any) -> str:
    """The admin's list of a round's evaluations, filtered (department, status)."""
    query = {"round__plan__id__exact": round_.plan_id, "round__fiscal_year": round_.fiscal_year}
    return link(reverse("admin:evaluations_evaluation_changelist"), {**query, **filters})


def round_link(round_: Round) -> str:
    return link(reverse("admin:evaluations_round_change", args=[round_.pk]))


# --- Recording ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Occasion:
    """What a set of e-mails is about, and the key that makes each recipient's unique."""

    kind: str
    key: str
    plan: Plan
    round: Round | None = None
    evaluation: Evaluation | None = None
    department: Department | None = None


def render(kind: str, context: dict[str, Any]) -> tuple[str, str]:
    """The subject (one line) and the plain-text body of ``kind``, in Japanese."""
    with translation.override(settings.LANGUAGE_CODE):
        subject = render_to_string(TEMPLATES.format(kind=kind, part="subject"), context)
        body = render_to_string(TEMPLATES.format(kind=kind, part="body"), context)
    return " ".join(subject.split())[:255], body.strip() + "\n"


def record(occasion: Occasion, users: Iterable, context: dict[str, Any]) -> list[int]:
    """Record an e-mail of the occasion to each user (their own greeting), skipping those who
    have it already, and send the new ones once the transaction commits; their ids."""
    users = list(users)
    told = set(
        EmailNotification.objects.filter(
            kind=occasion.kind, key=occasion.key, recipient__in=users
        ).values_list("recipient_id", flat=True)
    )
    rows = []
    for user in users:
        if user.pk in told:
            continue
        subject, body = render(occasion.kind, {**context, "recipient": display_name(user)})
        rows.append(
            EmailNotification(
                kind=occasion.kind,
                key=occasion.key,
                recipient=user,
                address=user.email,
                subject=subject,
                body=body,
                plan=occasion.plan,
                round=occasion.round,
                evaluation=occasion.evaluation,
                department=occasion.department,
            )
        )
    if not rows:
        return []
    started = timezone.now()
    with transaction.atomic():
        EmailNotification.objects.bulk_create(rows, ignore_conflicts=True)
        # The rows this call added (bulk_create with ignore_conflicts gives no ids): those of
        # the occasion not yet tried, made now. Another run racing this one may find the same
        # rows: the send's claim lets only one of them send each.
        new_ids = list(
            EmailNotification.objects.filter(
                kind=occasion.kind,
                key=occasion.key,
                recipient__in=[row.recipient for row in rows],
                attempts=0,
                created_at__gte=started,
            )
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        for notification_id in new_ids:
            send_later(notification_id)
    return new_ids


def send_later(notification_id: int) -> None:
    from evaluations.tasks import send_email_notification

    enqueue(send_email_notification, notification_id)


def send_again(notifications: QuerySet[EmailNotification]) -> int:
    """Queue e-mails again (failed ones, from the admin), their attempts counted anew."""
    ids = list(notifications.exclude(state=EmailState.SENT).values_list("pk", flat=True))
    EmailNotification.objects.filter(pk__in=ids).update(state=EmailState.QUEUED, attempts=0)
    for notification_id in ids:
        send_later(notification_id)
    return len(ids)


# --- Sending -------------------------------------------------------------------------------


def max_attempts() -> int:
    return settings.JOB_MAX_RETRIES + 1


def _permanent(error: Exception) -> bool:
    """A refusal that trying again will not change (5xx: no such mailbox …)."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _message in error.recipients.values())
    return isinstance(error, smtplib.SMTPResponseException) and error.smtp_code >= 500


def send(task: JobTask, notification_id: int) -> str | None:
    """Send one recorded e-mail (the body of ``tasks.send_email_notification``); its state
    after this attempt, ``None`` when there was nothing to do."""
    notification = EmailNotification.objects.filter(pk=notification_id).first()
    if notification is None or notification.state != EmailState.QUEUED:
        return None  # sent, or given up (the admin queues it again)
    if notification.attempts >= max_attempts():
        return None
    claimed = EmailNotification.objects.filter(
        pk=notification.pk, state=EmailState.QUEUED, attempts=notification.attempts
    ).update(attempts=F("attempts") + 1, last_attempt_at=timezone.now())
    if not claimed:
        return None  # another delivery has it
    attempts = notification.attempts + 1
    message = EmailMessage(
        subject=notification.subject,
        body=notification.body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[notification.address],
        headers={"Auto-Submitted": "auto-generated"},
    )
    try:
        message.send()
    except (smtplib.SMTPException, OSError) as error:
        detail = f"{type(error).__name__}: {error}"[:2000]
        final = _permanent(error) or attempts >= max_attempts() or task.is_last_attempt()
        # The failure is recorded either way; the e-mail stays queued while it is retried.
        state = EmailState.FAILED if final else EmailState.QUEUED
        EmailNotification.objects.filter(pk=notification.pk).update(state=state, error=detail)
        if final:
            logger.warning(
                "e-mail %s to %s failed: %s", notification.pk, notification.address, detail
            )
            return EmailState.FAILED
        logger.info("e-mail %s failed (%s); tried again later", notification.pk, detail)
        raise task.retry_later(TransientError(detail)) from error
    # The error of an earlier attempt, if any, is kept: it tells why it was late.
    EmailNotification.objects.filter(pk=notification.pk).update(
        state=EmailState.SENT, sent_at=timezone.now()
    )
    return EmailState.SENT


def resend_unsent(now: datetime.datetime | None = None) -> int:
    """Periodic: queue again the e-mails left unsent by a process that stopped (an
    in-process job is lost with its process), once their retries would be over; how many."""
    now = now or timezone.now()
    stale = now - datetime.timedelta(hours=1)
    unsent = EmailNotification.objects.filter(
        state=EmailState.QUEUED,
        attempts__lt=max_attempts(),
        created_at__gte=now - datetime.timedelta(days=2),
    ).filter(Q(last_attempt_at__lt=stale) | Q(last_attempt_at__isnull=True, created_at__lt=stale))
    ids = list(unsent.values_list("pk", flat=True)[:1000])
    for notification_id in ids:
        send_later(notification_id)
    return len(ids)


# --- Triggers: workflow events -------------------------------------------------------------


def round_opened(round_id: int, key: str | None = None) -> list[int]:
    """To the members of every department of the round's plan."""
    round_ = Round.objects.select_related("plan").filter(pk=round_id).first()
    if round_ is None or round_.status != RoundStatus.OPEN:
        return []
    kind = NotificationKind.ROUND_OPENED
    departments = Department.objects.filter(plan_id=round_.plan_id).values_list("pk", flat=True)
    context = {
        "plan": round_.plan,
        "year": long_label(round_.fiscal_year),
        "due_date": getattr(round_, "department_due_date", None),
        "link": round_link(round_),
        "evaluations_link": evaluations_link(round_),
    }
    occasion = Occasion(kind, key or f"round:{round_.pk}:opened", round_.plan, round=round_)
    return record(occasion, department_members(departments, kind), context)


def evaluation_returned(evaluation_id: int, comment: str = "", key: str | None = None) -> list[int]:
    """To the members of the evaluation's departments, with the secretariat's comment."""
    evaluation = (
        Evaluation.objects.select_related("round__plan", "initiative")
        .filter(pk=evaluation_id)
        .first()
    )
    if evaluation is None:
        return []
    kind = NotificationKind.EVALUATION_RETURNED
    departments = InitiativeDepartment.objects.filter(
        initiative_id=evaluation.initiative_id
    ).values_list("department_id", flat=True)
    round_ = evaluation.round
    context = {
        "plan": round_.plan,
        "year": long_label(round_.fiscal_year),
        "initiative": evaluation.initiative,
        "comment": comment or evaluation.review_comment,
        "due_date": getattr(round_, "department_due_date", None),
        "link": evaluation_link(evaluation),
    }
    occasion = Occasion(
        kind,
        key or f"evaluation:{evaluation.pk}:returned:v{evaluation.version}",
        round_.plan,
        round=round_,
        evaluation=evaluation,
    )
    return record(occasion, department_members(departments, kind), context)


def handle_event(event_id: int) -> list[int]:
    """The e-mails of one event (the body of ``tasks.notify_event``), one per recipient and
    event however often it runs; their ids."""
    event = Event.objects.filter(pk=event_id).first()
    if event is None:
        return []
    key = f"event:{event.pk}"
    if event.kind == EventKind.ROUND_OPENED:
        return round_opened(event.round_id, key=key)
    if event.kind == EventKind.EVALUATION_RETURNED and event.evaluation_id is not None:
        comment = event.payload.get("comment") or ""
        return evaluation_returned(event.evaluation_id, comment=comment, key=key)
    return []


NOTIFIED_EVENTS = (EventKind.ROUND_OPENED, EventKind.EVALUATION_RETURNED)


def _event_recorded(sender, instance: Event, created: bool = False, **kwargs) -> None:
    """An event of a notified kind, recorded in a change's transaction (``events.record``):
    its e-mails are made and sent by a job once that transaction commits."""
    if created and instance.kind in NOTIFIED_EVENTS:
        from evaluations.tasks import notify_event

        enqueue(notify_event, instance.pk)


post_save.connect(_event_recorded, sender=Event, dispatch_uid="dxapi-notifications-events")


def webhook_paused(subscription_id: int) -> list[int]:
    """To the plan's secretariat: a webhook was paused because its deliveries kept failing
    (once per pause)."""
    subscription = (
        WebhookSubscription.objects.select_related("plan").filter(pk=subscription_id).first()
    )
    if subscription is None or subscription.paused_at is None:
        return []
    kind = NotificationKind.WEBHOOK_PAUSED
    context = {
        "plan": subscription.plan,
        "subscription": subscription,
        "link": link(
            reverse("admin:evaluations_webhooksubscription_change", args=[subscription.pk])
        ),
    }
    key = f"webhook:{subscription.pk}:paused:{subscription.paused_at.isoformat()}"
    occasion = Occasion(kind, key, subscription.plan)
    return record(occasion, secretariat_members(subscription.plan_id, kind), context)


def _webhook_paused(sender, subscription: WebhookSubscription, **kwargs) -> None:
    from evaluations.tasks import notify_webhook_paused

    enqueue(notify_webhook_paused, subscription.pk)


subscription_paused.connect(_webhook_paused, dispatch_uid="dxapi-notifications-webhook-paused")


# --- Triggers: the clock -------------------------------------------------------------------


def _due_to_send(now: datetime.datetime) -> bool:
    """Reminders and digests go out from ``NOTIFY_SEND_HOUR`` (local time) each day."""
    return timezone.localtime(now).hour >= settings.NOTIFY_SEND_HOUR


def _unsubmitted_by_department(round_: Round) -> dict[int, list[Evaluation]]:
    pending = (
        Evaluation.objects.filter(round=round_, status__in=UNSUBMITTED)
        .select_related("initiative")
        .prefetch_related("initiative__responsibilities")
        .order_by("initiative__number")
    )
    by_department: dict[int, list[Evaluation]] = defaultdict(list)
    for evaluation in pending:
        for responsibility in evaluation.initiative.responsibilities.all():
            by_department[responsibility.department_id].append(evaluation)
    return by_department


def send_due_reminders(now: datetime.datetime | None = None) -> int:
    """Periodic: remind the departments with unsubmitted evaluations of an open round whose
    due date is near (once per due date) or past (once a day); how many e-mails."""
    now = now or timezone.now()
    if not _due_to_send(now):
        return 0
    today = timezone.localdate(now)
    soon = datetime.timedelta(days=settings.NOTIFY_DUE_SOON_DAYS)
    rounds = Round.objects.select_related("plan").filter(
        status=RoundStatus.OPEN, department_due_date__isnull=False
    )
    count = 0
    for round_ in rounds:
        due = round_.department_due_date
        if today > due:
            kind, when = NotificationKind.OVERDUE, f"day:{today.isoformat()}"
        elif today >= due - soon:
            kind, when = NotificationKind.DUE_SOON, f"due:{due.isoformat()}"
        else:
            continue
        pending = _unsubmitted_by_department(round_)
        departments = Department.objects.in_bulk(list(pending))
        for department_id, evaluations in sorted(pending.items()):
            department = departments[department_id]
            context = {
                "plan": round_.plan,
                "year": long_label(round_.fiscal_year),
                "department": department,
                "due_date": due,
                "days_left": (due - today).days,
                "days_late": (today - due).days,
                "evaluations": evaluations,
                "link": evaluations_link(round_, initiative__departments__id__exact=department_id),
            }
            occasion = Occasion(
                kind,
                f"round:{round_.pk}:department:{department_id}:{when}",
                round_.plan,
                round=round_,
                department=department,
            )
            count += len(record(occasion, department_members([department_id], kind), context))
    return count


DIGEST_EVENTS = {
    EventKind.EVALUATION_SUBMITTED: "submitted",
    EventKind.EVALUATION_RETURNED: "returned",
    EventKind.EVALUATION_APPROVED: "approved",
}


def _transitions(plan_id: int, since: datetime.datetime, until: datetime.datetime):
    """(action, evaluation id, initiative number) of the submissions, returns and approvals
    of the plan's evaluations in the period, from the events."""
    events = Event.objects.filter(
        plan_id=plan_id,
        kind__in=list(DIGEST_EVENTS),
        created_at__gt=since,
        created_at__lte=until,
    ).values_list("kind", "payload")
    for kind, payload in events:
        evaluation = payload.get("evaluation") or {}
        if evaluation.get("id") is not None:
            yield DIGEST_EVENTS[kind], evaluation["id"], evaluation.get("initiative_number")


def _last_digest_at(plan: Plan) -> datetime.datetime | None:
    return (
        EmailNotification.objects.filter(kind=NotificationKind.DIGEST, plan=plan)
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
    )


def send_secretariat_digests(now: datetime.datetime | None = None) -> int:
    """Periodic: once a day, to each plan's secretariat, what was submitted, returned and
    approved since the last digest (a day, for the first), per department; none when nothing
    happened. How many e-mails."""
    now = now or timezone.now()
    if not _due_to_send(now):
        return 0
    today = timezone.localdate(now)
    count = 0
    plans = Plan.objects.filter(secretariat__isnull=False).distinct()
    for plan in plans:
        key = f"plan:{plan.pk}:day:{today.isoformat()}"
        if EmailNotification.objects.filter(kind=NotificationKind.DIGEST, key=key).exists():
            continue
        since = _last_digest_at(plan) or now - datetime.timedelta(days=1)
        changes = list(_transitions(plan.pk, since, now))
        if not changes:
            continue
        context = _digest_context(plan, changes, since, now)
        occasion = Occasion(NotificationKind.DIGEST, key, plan)
        recipients = secretariat_members(plan.pk, NotificationKind.DIGEST)
        count += len(record(occasion, recipients, context))
    return count


def _digest_context(plan: Plan, changes, since, until) -> dict[str, Any]:
    evaluations: dict[str, set[int]] = {action: set() for action in DIGEST_ACTIONS}
    number_of: dict[int, int] = {}
    for action, evaluation_id, number in changes:
        evaluations[action].add(evaluation_id)
        number_of[evaluation_id] = number
    departments_of: dict[int, list[int]] = defaultdict(list)
    responsibilities = InitiativeDepartment.objects.filter(
        initiative__plan=plan, initiative__number__in=set(number_of.values())
    ).values_list("initiative__number", "department_id")
    for number, department_id in responsibilities:
        departments_of[number].append(department_id)
    counts: dict[int, dict[str, int]] = defaultdict(lambda: dict.fromkeys(DIGEST_ACTIONS, 0))
    for action, ids in evaluations.items():
        for evaluation_id in ids:
            for department_id in departments_of[number_of[evaluation_id]]:
                counts[department_id][action] += 1
    departments = Department.objects.filter(pk__in=list(counts)).order_by("order", "code")
    return {
        "plan": plan,
        "since": timezone.localtime(since),
        "until": timezone.localtime(until),
        "rows": [{"department": d, **counts[d.pk]} for d in departments],
        "totals": {action: len(ids) for action, ids in evaluations.items()},
        "link": link(
            reverse("admin:evaluations_evaluation_changelist"),
            {"round__plan__id__exact": plan.pk, "status__exact": EvaluationStatus.SUBMITTED},
        ),
    }
