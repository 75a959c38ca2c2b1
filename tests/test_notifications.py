"""E-mail notifications (``evaluations.notifications``): who receives what when a round
opens, an evaluation is returned, a due date nears or passes, and in the secretariat's daily
digest; Japanese subjects and bodies with the comment and the link; preferences (API and
admin) respected; inactive users and users without an address skipped; reminders and digests
sent once however often they run; a failed send recorded and tried again; the SMTP backend,
proven against a local SMTP server, whenever ``EMAIL_HOST`` is set; who sees the e-mails in
the admin."""

import datetime
import email
import email.policy
import os
import smtplib
import socket
import subprocess
import sys
import threading

import pytest
from aiosmtpd.controller import Controller
from django.conf import settings as django_settings
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend as LocmemBackend
from django.db import IntegrityError, connection, transaction
from django.test import TestCase
from django.utils import timezone
from rest_framework.test import APIClient

import dxapi.jobs
from dxapi import settings as project_settings
from evaluations import notifications, policy, services
from evaluations.models import (
    EmailNotification,
    EmailState,
    Evaluation,
    EvaluationStatus,
    NotificationKind,
    NotificationPreference,
    Round,
    RoundStatus,
)
from evaluations.tasks import notify_event
from initiatives.access import actor_for_user
from initiatives.models import (
    Department,
    DepartmentMembership,
    InitiativeDepartment,
    SecretariatMembership,
)
from tests.admin_fixtures import admin_url, logged_in, other_plan, other_secretariat_user
from tests.helpers import client_for, if_match, key_client, open_r7, url

__all__ = ["other_plan", "other_secretariat_user"]

SITE = "https://dx.example.jp"
ME = "/api/v1/me/notifications/"
JST = datetime.timezone(datetime.timedelta(hours=9))
ADDRESSES = {
    "kikaku-editor": "kikaku-editor@pref.example.jp",
    "kikaku-viewer": "kikaku-viewer@pref.example.jp",
    "kensetsu-editor": "kensetsu-editor@pref.example.jp",
    "jimukyoku": "jimukyoku@pref.example.jp",
}
ALL_ON = dict.fromkeys(NotificationKind.values, True)


@pytest.fixture
def mailer(settings, monkeypatch) -> list[float]:
    """Jobs in process, in the committing thread; e-mails to ``mail.outbox``; the waits
    before retries recorded instead of slept."""
    settings.CELERY_BROKER_URL = ""
    settings.JOBS_IN_PROCESS_THREADS = 0
    settings.JOB_MAX_RETRIES = 2
    settings.JOB_RETRY_BACKOFF_SECONDS = 5
    settings.SITE_URL = SITE
    settings.NOTIFY_DUE_SOON_DAYS = 3
    settings.NOTIFY_SEND_HOUR = 9
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.DEFAULT_FROM_EMAIL = "dx-noreply@pref.example.jp"
    # The periodic tasks run when a test calls them, not with every job queued in process.
    settings.CELERY_BEAT_SCHEDULE = {}
    waits: list[float] = []
    monkeypatch.setattr(dxapi.jobs, "sleep", waits.append)
    mail.outbox = []
    return waits


@pytest.fixture
def people(editor_user, viewer_user, other_editor_user, secretariat_user) -> dict[str, object]:
    """The role users of conftest, each with an address."""
    users = {
        "editor": editor_user,
        "viewer": viewer_user,
        "other_editor": other_editor_user,
        "secretariat": secretariat_user,
    }
    for user in users.values():
        user.email = ADDRESSES[user.username]
        user.save(update_fields=["email"])
    return users


def opened(secretariat_client, plan, capture) -> Round:
    """R7 opened through the API, and what its commit queued run."""
    with capture(execute=True):
        return open_r7(secretariat_client, plan)


def recipients() -> set[str]:
    return {address for message in mail.outbox for address in message.to}


def addresses(*usernames: str) -> set[str]:
    return {ADDRESSES[name] for name in usernames}


def department_addresses(codes) -> set[str]:
    members = DepartmentMembership.objects.filter(department__code__in=list(codes))
    return {m.user.email for m in members.select_related("user") if m.user.email}


def departments_of(number: int) -> list[str]:
    return list(
        InitiativeDepartment.objects.filter(initiative__number=number).values_list(
            "department__code", flat=True
        )
    )


def message_to(username: str):
    (message,) = [m for m in mail.outbox if m.to == [ADDRESSES[username]]]
    return message


def at(day: datetime.date, hour: int = 10) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time(hour), tzinfo=JST)


def remind(now: datetime.datetime) -> int:
    """The periodic reminders at ``now``, their e-mails sent as once committed."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return notifications.send_due_reminders(now)


def digest(now: datetime.datetime) -> int:
    """The periodic digests at ``now``, their e-mails sent as once committed."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return notifications.send_secretariat_digests(now)


# --- A round opens ---------------------------------------------------------------------------


def test_a_round_opening_mails_every_department_member_in_japanese(
    mailer, people, plan, secretariat, django_capture_on_commit_callbacks
) -> None:
    round_ = opened(secretariat, plan, django_capture_on_commit_callbacks)

    # Editors and viewers of every department; the secretariat (no department) is not told.
    assert recipients() == addresses("kikaku-editor", "kikaku-viewer", "kensetsu-editor")
    assert len(mail.outbox) == 3
    message = message_to("kikaku-viewer")
    assert message.subject == f"【{plan.name}】令和7年度の進行管理（評価）の受付を開始しました"
    assert message.from_email == "dx-noreply@pref.example.jp"
    assert message.body.startswith("kikaku-viewer 様")
    assert f"{SITE}/admin/evaluations/evaluation/?round__plan__id__exact={plan.pk}" in message.body
    assert f"{SITE}/admin/evaluations/round/{round_.pk}/change/" in message.body
    records = EmailNotification.objects.filter(kind=NotificationKind.ROUND_OPENED)
    assert {(r.state, r.attempts, r.round_id, r.plan_id) for r in records} == {
        (EmailState.SENT, 1, round_.pk, plan.pk)
    }
    assert records.count() == 3 and all(r.sent_at for r in records)


def test_nothing_is_made_or_sent_before_the_commit(
    mailer, people, plan, secretariat, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        open_r7(secretariat, plan)
    assert mail.outbox == [] and not EmailNotification.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        for callback in callbacks:
            callback()
    assert recipients() == addresses("kikaku-editor", "kikaku-viewer", "kensetsu-editor")
    # The job delivered again (a broker's redelivery) sends nothing twice.
    with django_capture_on_commit_callbacks(execute=True):
        for callback in callbacks:
            callback()
    assert len(mail.outbox) == 3


def test_inactive_users_users_without_address_and_opted_out_kinds_are_skipped(
    mailer, people, plan, secretariat, django_capture_on_commit_callbacks
) -> None:
    people["editor"].is_active = False
    people["editor"].save(update_fields=["is_active"])
    people["other_editor"].email = ""
    people["other_editor"].save(update_fields=["email"])
    response = client_for(people["viewer"]).put(
        ME, {**ALL_ON, "round_opened": False}, format="json"
    )
    assert response.status_code == 200, response.json()

    opened(secretariat, plan, django_capture_on_commit_callbacks)

    assert mail.outbox == []
    assert not EmailNotification.objects.exists()


# --- An evaluation is returned ---------------------------------------------------------------


@pytest.fixture
def submitted(r7) -> Evaluation:
    """No. 89's R7 evaluation, submitted."""
    evaluation = Evaluation.objects.get(round=r7, initiative__number=89)
    evaluation.rating, evaluation.status = "B", EvaluationStatus.SUBMITTED
    evaluation.save()
    return evaluation


def test_a_return_mails_the_evaluations_departments_with_the_comment_and_link(
    mailer, people, submitted, secretariat, django_capture_on_commit_callbacks
) -> None:
    comment = "KPIの実績値の根拠（出典）を追記してください。"
    with django_capture_on_commit_callbacks(execute=True):
        response = secretariat.post(
            url(submitted, "return"), {"comment": comment}, format="json", **if_match(submitted)
        )
    assert response.status_code == 200, response.json()

    assert recipients() == department_addresses(departments_of(89))
    assert addresses("kikaku-editor", "kikaku-viewer") <= recipients()
    assert ADDRESSES["kensetsu-editor"] not in recipients()
    message = message_to("kikaku-editor")
    title = submitted.initiative.title
    assert message.subject.endswith(f"評価が差し戻されました：No.89 {title}（令和7年度）")
    assert "事務局から差し戻されました" in message.body
    assert comment in message.body
    assert f"{SITE}/admin/evaluations/evaluation/{submitted.pk}/change/" in message.body
    record = EmailNotification.objects.get(address=ADDRESSES["kikaku-editor"])
    assert (record.kind, record.evaluation_id, record.round_id, record.state) == (
        NotificationKind.EVALUATION_RETURNED,
        submitted.pk,
        submitted.round_id,
        EmailState.SENT,
    )


def test_each_return_is_told_with_its_own_comment(
    mailer, people, submitted, secretariat_user, django_capture_on_commit_callbacks
) -> None:
    actor = actor_for_user(secretariat_user)
    with django_capture_on_commit_callbacks(execute=True):
        services.evaluation_return(actor=actor, evaluation=submitted, comment="一回目の指摘")
    first = len(mail.outbox)
    assert first > 0
    Evaluation.objects.filter(pk=submitted.pk).update(status=EvaluationStatus.SUBMITTED)
    with django_capture_on_commit_callbacks(execute=True):
        services.evaluation_return(actor=actor, evaluation=submitted, comment="二回目の指摘")
    assert len(mail.outbox) == 2 * first
    assert "二回目の指摘" in mail.outbox[-1].body
    assert "一回目の指摘" not in mail.outbox[-1].body


# --- Due dates -------------------------------------------------------------------------------


@pytest.fixture
def only_89_pending(r7) -> Round:
    """R7 with every evaluation submitted but No. 89's."""
    Evaluation.objects.filter(round=r7).exclude(initiative__number=89).update(
        status=EvaluationStatus.SUBMITTED
    )
    return r7


def due(round_: Round, day: datetime.date) -> Round:
    Round.objects.filter(pk=round_.pk).update(department_due_date=day)
    return round_


def test_due_soon_reminds_departments_with_unsubmitted_evaluations_once(
    mailer, people, only_89_pending
) -> None:
    today = datetime.date(2025, 6, 10)
    due(only_89_pending, today + datetime.timedelta(days=3))

    assert remind(at(today - datetime.timedelta(days=1))) == 0
    assert remind(at(today, hour=8)) == 0  # before the hour
    assert mail.outbox == []
    sent = remind(at(today))
    assert sent == len(mail.outbox) > 0
    assert recipients() == department_addresses(departments_of(89))
    message = message_to("kikaku-viewer")
    assert "3日後が令和7年度の評価の提出期限です（企画振興部）" in message.subject
    assert "2025年6月13日（あと3日）" in message.body
    assert "No.89 " in message.body
    assert "No.1 " not in message.body  # submitted: not listed
    kikaku = Department.objects.get(plan=only_89_pending.plan, code="kikaku-shinko")
    assert f"initiative__departments__id__exact={kikaku.pk}" in message.body

    # Later the same day, the next day, a second worker: nothing new for this due date.
    for moment in (at(today), at(today, 18), at(today + datetime.timedelta(days=1))):
        assert remind(moment) == 0
    assert len(mail.outbox) == sent
    # A due date moved is a new reminder.
    due(only_89_pending, today + datetime.timedelta(days=2))
    assert remind(at(today)) == sent


def test_overdue_reminds_once_a_day_until_submitted_or_closed(
    mailer, people, only_89_pending
) -> None:
    day = datetime.date(2025, 7, 1)
    due(only_89_pending, day - datetime.timedelta(days=2))

    first = remind(at(day))
    assert first == len(mail.outbox) > 0
    assert remind(at(day, 15)) == 0
    message = message_to("kikaku-editor")
    assert "令和7年度の評価の提出期限を過ぎています（企画振興部）" in message.subject
    assert "2025年7月1日" not in message.body and "2025年6月29日" in message.body
    assert "2日過ぎています" in message.body
    assert remind(at(day + datetime.timedelta(days=1))) == first
    assert "3日過ぎています" in mail.outbox[-1].body

    # Submitted: nobody is reminded any more.
    Evaluation.objects.filter(round=only_89_pending).update(status=EvaluationStatus.SUBMITTED)
    assert remind(at(day + datetime.timedelta(days=2))) == 0
    # Nor in a closed round.
    Evaluation.objects.filter(round=only_89_pending, initiative__number=89).update(
        status=EvaluationStatus.RETURNED
    )
    Round.objects.filter(pk=only_89_pending.pk).update(status=RoundStatus.CLOSED)
    assert remind(at(day + datetime.timedelta(days=3))) == 0
    assert len(mail.outbox) == 2 * first


def test_reminders_and_digests_run_as_periodic_tasks(
    mailer, settings, people, only_89_pending, django_capture_on_commit_callbacks
) -> None:
    """In the beat's schedule; in process, run when due as jobs are queued."""
    schedule = project_settings.CELERY_BEAT_SCHEDULE
    notifying = {name: entry for name, entry in schedule.items() if name.startswith("notify-")}
    assert {entry["task"] for entry in notifying.values()} == {
        "evaluations.tasks.send_due_reminders",
        "evaluations.tasks.send_secretariat_digests",
        "evaluations.tasks.resend_unsent_emails",
    }
    settings.CELERY_BEAT_SCHEDULE = notifying
    settings.NOTIFY_SEND_HOUR = 0
    due(only_89_pending, timezone.localdate() + datetime.timedelta(days=1))

    with django_capture_on_commit_callbacks(execute=True):
        dxapi.jobs.enqueue(notify_event, 0)  # any job: the periodic tasks due go with it
    assert recipients() == department_addresses(departments_of(89))
    assert "1日後が令和7年度の評価の提出期限です" in mail.outbox[0].subject
    sent = len(mail.outbox)
    with django_capture_on_commit_callbacks(execute=True):
        dxapi.jobs.enqueue(notify_event, 0)  # within the interval: not again
    assert len(mail.outbox) == sent


def test_reminders_respect_preferences(mailer, people, only_89_pending) -> None:
    today = datetime.date(2025, 6, 10)
    due(only_89_pending, today)
    NotificationPreference.objects.create(
        user=people["viewer"], kind=NotificationKind.DUE_SOON, enabled=False
    )
    # Turning another kind off changes nothing for this one.
    NotificationPreference.objects.create(
        user=people["editor"], kind=NotificationKind.OVERDUE, enabled=False
    )
    remind(at(today))
    assert ADDRESSES["kikaku-editor"] in recipients()
    assert ADDRESSES["kikaku-viewer"] not in recipients()
    assert "本日が令和7年度の評価の提出期限です" in message_to("kikaku-editor").subject


def test_the_same_reminder_is_recorded_once_whoever_runs_it(mailer, people, plan) -> None:
    """Two workers computing the same reminder: the unique constraint keeps one."""
    fields = {
        "kind": NotificationKind.OVERDUE,
        "key": "round:1:department:2:day:2025-07-01",
        "recipient": people["editor"],
        "address": people["editor"].email,
        "subject": "件名",
        "body": "本文",
        "plan": plan,
    }
    EmailNotification.objects.create(**fields)
    with pytest.raises(IntegrityError), transaction.atomic():
        EmailNotification.objects.create(**fields)
    # Recorded by a racing run in between: this one adds and sends nothing.
    occasion = notifications.Occasion(fields["kind"], fields["key"], plan)
    EmailNotification.objects.bulk_create([EmailNotification(**fields)], ignore_conflicts=True)
    assert notifications.record(occasion, [people["editor"]], {}) == []
    assert EmailNotification.objects.count() == 1


@pytest.mark.skipif(connection.vendor != "postgresql", reason="two workers: PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_two_workers_reminding_at_once_send_each_reminder_once(
    mailer, plan, django_user_model
) -> None:
    secretariat_user = django_user_model.objects.create_user(username="racer-jimukyoku")
    SecretariatMembership.objects.create(user=secretariat_user, plan=plan)
    for code in ("kikaku-shinko", "kensetsu", "somu"):
        user = django_user_model.objects.create_user(
            username=f"racer-{code}", email=f"{code}@pref.example.jp"
        )
        department = Department.objects.get(plan=plan, code=code)
        DepartmentMembership.objects.create(user=user, department=department, role="editor")
    plan.end_year = 2025
    plan.save(update_fields=["end_year"])
    round_ = services.round_open(
        actor=actor_for_user(secretariat_user), plan=plan, fiscal_year=2025
    )
    today = datetime.date(2025, 6, 10)
    due(round_, today + datetime.timedelta(days=1))
    mail.outbox = []
    barrier = threading.Barrier(2)
    counts: list[int] = []

    def worker() -> None:
        try:
            barrier.wait(timeout=30)
            counts.append(notifications.send_due_reminders(at(today)))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(counts) == 2
    expected = {"kikaku-shinko@pref.example.jp", "kensetsu@pref.example.jp", "somu@pref.example.jp"}
    assert sorted(address for message in mail.outbox for address in message.to) == sorted(expected)
    assert EmailNotification.objects.filter(kind=NotificationKind.DUE_SOON).count() == 3


# --- The secretariat's digest ----------------------------------------------------------------


def test_the_daily_digest_counts_per_department_since_the_last_one(
    mailer, people, r7, secretariat_user, plan
) -> None:
    actor = actor_for_user(secretariat_user)

    def evaluation(number: int) -> Evaluation:
        return Evaluation.objects.get(round=r7, initiative__number=number)

    for number in (89, 50, 1):
        Evaluation.objects.filter(pk=evaluation(number).pk).update(rating="-")
        services.evaluation_submit(actor=actor, evaluation=evaluation(number))
    services.evaluation_return(actor=actor, evaluation=evaluation(50), comment="要修正")
    services.evaluation_approve(actor=actor, evaluation=evaluation(1))
    now = timezone.now() + datetime.timedelta(minutes=1)
    if timezone.localtime(now).hour < 9:
        now += datetime.timedelta(hours=9)

    assert digest(now) == 1
    (message,) = mail.outbox
    assert message.to == [ADDRESSES["jimukyoku"]]
    assert "提出 3 件・差戻し 1 件・承認 1 件" in message.subject
    counted = {
        code: {"submitted": 0, "returned": 0, "approved": 0}
        for number in (89, 50, 1)
        for code in departments_of(number)
    }
    for number, actions in (
        (89, ["submitted"]),
        (50, ["submitted", "returned"]),
        (1, ["submitted", "approved"]),
    ):
        for code in departments_of(number):
            for action in actions:
                counted[code][action] += 1
    for code, count in counted.items():
        name = Department.objects.get(plan=plan, code=code).name
        line = f"- {name}：{count['submitted']} / {count['returned']} / {count['approved']}"
        assert line in message.body
    assert f"{SITE}/admin/evaluations/evaluation/?round__plan__id__exact={plan.pk}" in message.body

    # Once a day, and only what happened since the last one.
    assert digest(now + datetime.timedelta(minutes=30)) == 0
    tomorrow = now + datetime.timedelta(days=1)
    assert digest(tomorrow) == 0  # nothing happened
    services.evaluation_approve(actor=actor, evaluation=evaluation(89))
    assert digest(tomorrow + datetime.timedelta(minutes=5)) == 1
    assert "提出 0 件・差戻し 0 件・承認 1 件" in mail.outbox[-1].subject


def test_the_digest_respects_preferences_and_other_plans(
    mailer, people, r7, secretariat_user, other_secretariat_user
) -> None:
    other_secretariat_user.email = "other@pref.example.jp"
    other_secretariat_user.save(update_fields=["email"])
    actor = actor_for_user(secretariat_user)
    evaluation = Evaluation.objects.get(round=r7, initiative__number=89)
    Evaluation.objects.filter(pk=evaluation.pk).update(rating="-")
    services.evaluation_submit(actor=actor, evaluation=Evaluation.objects.get(pk=evaluation.pk))
    response = client_for(secretariat_user).put(ME, {**ALL_ON, "digest": False}, format="json")
    assert response.status_code == 200

    now = datetime.datetime.combine(timezone.localdate(), datetime.time(23), tzinfo=JST)
    assert digest(now) == 0
    assert mail.outbox == []  # opted out; the other plan's secretariat has nothing of it


# --- Failures and retries --------------------------------------------------------------------


class FlakyBackend(LocmemBackend):
    """The locmem backend whose next ``failures`` sends fail with ``error``."""

    failures = 0
    error: Exception = smtplib.SMTPServerDisconnected("Connection unexpectedly closed")

    def send_messages(self, messages):
        if FlakyBackend.failures:
            FlakyBackend.failures -= 1
            raise FlakyBackend.error
        return super().send_messages(messages)


@pytest.fixture
def flaky(settings):
    settings.EMAIL_BACKEND = f"{__name__}.FlakyBackend"
    yield FlakyBackend
    FlakyBackend.failures = 0
    FlakyBackend.error = smtplib.SMTPServerDisconnected("Connection unexpectedly closed")


def returned_mail(people, submitted, secretariat_user, capture) -> EmailNotification:
    """No. 89 returned; the e-mail to its department's editor."""
    with capture(execute=True):
        services.evaluation_return(
            actor=actor_for_user(secretariat_user), evaluation=submitted, comment="要修正"
        )
    return EmailNotification.objects.get(address=ADDRESSES["kikaku-editor"])


def test_a_failed_send_is_recorded_and_tried_again_with_backoff(
    mailer,
    people,
    submitted,
    secretariat_user,
    flaky,
    monkeypatch,
    django_capture_on_commit_callbacks,
) -> None:
    flaky.failures = 1  # the first e-mail's first attempt
    between: list[tuple] = []

    def wait(seconds: float) -> None:  # what the record says while the retry waits
        first = EmailNotification.objects.order_by("pk").first()
        between.append((seconds, first.state, first.attempts, first.error))

    monkeypatch.setattr(dxapi.jobs, "sleep", wait)
    returned_mail(people, submitted, secretariat_user, django_capture_on_commit_callbacks)
    error = "SMTPServerDisconnected: Connection unexpectedly closed"
    assert between == [(5, EmailState.QUEUED, 1, error)]  # the backoff, waited once
    records = EmailNotification.objects.order_by("pk")
    assert [(r.state, r.attempts, r.error) for r in records] == [
        (EmailState.SENT, 2, error),
        *[(EmailState.SENT, 1, "")] * (records.count() - 1),
    ]
    assert len(mail.outbox) == records.count()


def test_a_send_failing_every_time_ends_failed_and_can_be_sent_again(
    mailer, people, submitted, secretariat_user, flaky, django_capture_on_commit_callbacks
) -> None:
    flaky.failures = 99
    record = returned_mail(people, submitted, secretariat_user, django_capture_on_commit_callbacks)
    assert record.state == EmailState.FAILED
    assert record.attempts == 3  # JOB_MAX_RETRIES + 1
    assert "SMTPServerDisconnected: Connection unexpectedly closed" in record.error
    assert mailer[:2] == [5, 10]
    assert mail.outbox == []
    # The sweep leaves it (its attempts are spent); the admin's action sends it again.
    assert notifications.resend_unsent(timezone.now() + datetime.timedelta(hours=2)) == 0
    flaky.failures = 0
    with django_capture_on_commit_callbacks(execute=True):
        assert notifications.send_again(EmailNotification.objects.filter(pk=record.pk)) == 1
    record.refresh_from_db()
    assert (record.state, record.attempts) == (EmailState.SENT, 1)
    assert record.sent_at is not None
    assert [m.to for m in mail.outbox] == [[ADDRESSES["kikaku-editor"]]]


def test_a_refused_address_is_not_tried_again(
    mailer, people, submitted, secretariat_user, flaky, django_capture_on_commit_callbacks
) -> None:
    flaky.failures = 1
    flaky.error = smtplib.SMTPRecipientsRefused(
        {ADDRESSES["kikaku-editor"]: (550, b"5.1.1 No such user")}
    )
    returned_mail(people, submitted, secretariat_user, django_capture_on_commit_callbacks)
    first = EmailNotification.objects.order_by("pk").first()
    assert (first.state, first.attempts) == (EmailState.FAILED, 1)
    assert "No such user" in first.error
    assert mailer == []


def test_e_mails_left_unsent_by_a_stopped_process_are_sent_by_the_sweep(
    mailer, people, submitted, secretariat_user, django_capture_on_commit_callbacks
) -> None:
    actor = actor_for_user(secretariat_user)
    with django_capture_on_commit_callbacks(execute=False):  # the process stops: jobs lost
        services.evaluation_return(actor=actor, evaluation=submitted, comment="要修正")
        notifications.handle_event(submitted.round.events.latest("id").pk)
    assert mail.outbox == []
    unsent = EmailNotification.objects.filter(state=EmailState.QUEUED, attempts=0)
    assert unsent.count() == len(department_addresses(departments_of(89))) > 0

    assert notifications.resend_unsent(timezone.now()) == 0  # not yet: may still be queued
    with django_capture_on_commit_callbacks(execute=True):
        count = notifications.resend_unsent(timezone.now() + datetime.timedelta(hours=2))
    assert count == EmailNotification.objects.count() == len(mail.outbox)
    assert set(EmailNotification.objects.values_list("state", flat=True)) == {EmailState.SENT}


# --- SMTP --------------------------------------------------------------------------------------


class Inbox:
    """An aiosmtpd handler keeping what it is sent; it defers the next ``defer`` messages."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list = []
        self.defer = 0

    async def handle_DATA(self, server, session, envelope) -> str:
        if self.defer:
            self.defer -= 1
            return "451 4.3.0 Try again later"
        self.envelopes.append(envelope)
        self.messages.append(
            email.message_from_bytes(envelope.content, policy=email.policy.default)
        )
        return "250 OK"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp_server():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, inbox
    controller.stop()


def settings_env(**extra: str) -> dict[str, str]:
    """The environment of a process with the production settings and ``extra``."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("EMAIL_", "DJANGO_", "DEBUG"))
    }
    return {
        **env,
        "SECRET_KEY": "x" * 50,
        "ALLOW_LOCAL_CACHE": "1",
        "DJANGO_SETTINGS_MODULE": "dxapi.settings",
        **extra,
    }


def run_python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=django_settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("env", "backend"),
    [
        ({}, "console"),
        ({"DEBUG": "1"}, "console"),
        ({"EMAIL_HOST": "smtp.pref.example.jp"}, "smtp"),
        ({"EMAIL_HOST": "smtp.pref.example.jp", "DEBUG": "1"}, "smtp"),
    ],
)
def test_the_smtp_backend_whenever_email_host_is_set(env, backend) -> None:
    code = "from dxapi import settings as s; print(s.EMAIL_BACKEND, s.EMAIL_PORT, s.EMAIL_TIMEOUT)"
    result = run_python(code, settings_env(**env))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        f"django.core.mail.backends.{backend}.EmailBackend",
        "25",
        "30",
    ]


def test_tls_and_ssl_together_are_refused() -> None:
    env = settings_env(EMAIL_HOST="smtp.pref.example.jp", EMAIL_USE_TLS="1", EMAIL_USE_SSL="1")
    result = run_python("import dxapi.settings", env)
    assert result.returncode != 0
    assert "EMAIL_USE_TLS or EMAIL_USE_SSL" in result.stderr


def test_a_process_with_email_host_sends_through_smtp(smtp_server) -> None:
    controller, inbox = smtp_server
    env = settings_env(
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(controller.port),
        DEFAULT_FROM_EMAIL="dx-noreply@pref.example.jp",
    )
    code = (
        "import django; django.setup()\n"
        "from django.core.mail import send_mail\n"
        "send_mail('受付開始のお知らせ', '本文です。', None, ['kikaku@pref.example.jp'])\n"
    )
    result = run_python(code, env)
    assert result.returncode == 0, result.stderr
    (message,) = inbox.messages
    assert message["Subject"].strip() == "受付開始のお知らせ"
    assert message["From"] == "dx-noreply@pref.example.jp"
    assert message.get_content().strip() == "本文です。"
    assert inbox.envelopes[0].rcpt_tos == ["kikaku@pref.example.jp"]


def test_notifications_go_out_over_smtp_and_a_deferral_is_retried(
    mailer, people, plan, secretariat, settings, smtp_server, django_capture_on_commit_callbacks
) -> None:
    controller, inbox = smtp_server
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    inbox.defer = 1  # the first message: 451, try again later

    opened(secretariat, plan, django_capture_on_commit_callbacks)

    assert sorted(e.rcpt_tos[0] for e in inbox.envelopes) == sorted(
        addresses("kikaku-editor", "kikaku-viewer", "kensetsu-editor")
    )
    subjects = {message["Subject"].strip() for message in inbox.messages}
    assert subjects == {f"【{plan.name}】令和7年度の進行管理（評価）の受付を開始しました"}
    body = inbox.messages[0].get_content()
    assert "受付を開始しました" in body and SITE in body
    records = EmailNotification.objects.order_by("pk")
    assert [r.state for r in records] == [EmailState.SENT] * 3
    assert sorted(r.attempts for r in records) == [1, 1, 2]
    assert mailer == [5]
    assert mail.outbox == []  # not the locmem backend


# --- Preferences: the API --------------------------------------------------------------------


def test_preferences_default_on_and_are_the_callers_own(mailer, people) -> None:
    viewer, editor = client_for(people["viewer"]), client_for(people["editor"])
    assert viewer.get(ME).json() == ALL_ON

    response = viewer.put(ME, {**ALL_ON, "due_soon": False, "digest": False}, format="json")
    assert response.status_code == 200
    assert response.json() == {**ALL_ON, "due_soon": False, "digest": False}
    assert viewer.get(ME).json() == {**ALL_ON, "due_soon": False, "digest": False}
    assert editor.get(ME).json() == ALL_ON  # another user's are untouched
    assert viewer.put(ME, ALL_ON, format="json").json() == ALL_ON
    assert set(
        NotificationPreference.objects.filter(user=people["viewer"]).values_list("kind", "enabled")
    ) == {(kind, True) for kind in NotificationKind.values}


@pytest.mark.parametrize(
    ("body", "attr"),
    [
        ({**ALL_ON, "due_soon": "no"}, "due_soon"),
        ({**ALL_ON, "due_soon": 0}, "due_soon"),
        ({**ALL_ON, "due_soon": None}, "due_soon"),
        ({key: value for key, value in ALL_ON.items() if key != "overdue"}, "overdue"),
        ({**ALL_ON, "weekly": True}, "weekly"),
    ],
)
def test_wrong_preferences_are_a_400_naming_the_field(mailer, people, body, attr) -> None:
    client = client_for(people["viewer"])
    response = client.put(ME, body, format="json")
    assert response.status_code == 400
    assert [error["attr"] for error in response.json()["errors"]] == [attr]
    assert not NotificationPreference.objects.exists()


def test_preferences_refuse_keys_anonymous_and_unknown_parameters(mailer, people, api_keys) -> None:
    for key in api_keys.values():
        assert key_client(key).get(ME).status_code == 403
        assert key_client(key).put(ME, ALL_ON, format="json").status_code == 403
    assert APIClient().get(ME).status_code == 401
    assert client_for(people["viewer"]).get(ME, {"user": 1}).status_code == 400
    assert client_for(people["viewer"]).post(ME, ALL_ON, format="json").status_code == 405


# --- The admin -------------------------------------------------------------------------------


@pytest.fixture
def sent_mails(mailer, people, plan, secretariat, django_capture_on_commit_callbacks):
    opened(secretariat, plan, django_capture_on_commit_callbacks)
    return list(EmailNotification.objects.all())


def test_e_mails_are_shown_to_superusers_and_the_plans_secretariat_only(
    sent_mails, people, staff_user, other_secretariat_user
) -> None:
    changelist = admin_url(EmailNotification, "changelist")
    for user, count in ((staff_user, 3), (people["secretariat"], 3), (other_secretariat_user, 0)):
        response = logged_in(user).get(changelist)
        assert response.status_code == 200
        assert response.context["cl"].result_count == count
    record = sent_mails[0]
    secretariat = logged_in(people["secretariat"])
    page = secretariat.get(admin_url(EmailNotification, "change", record.pk))
    assert page.status_code == 200 and record.subject in page.content.decode()
    assert secretariat.get(admin_url(EmailNotification, "add")).status_code == 403
    assert logged_in(other_secretariat_user).get(
        admin_url(EmailNotification, "change", record.pk)
    ).status_code in (302, 404)
    for member in ("editor", "viewer"):
        assert logged_in(people[member]).get(changelist).status_code == 403
    assert policy.email_notifications_visible_to(actor_for_user(people["editor"])).count() == 0


def test_members_turn_their_own_kinds_off_in_the_admin(mailer, people) -> None:
    editor = logged_in(people["editor"])
    changelist = admin_url(NotificationPreference, "changelist")
    response = editor.get(changelist)
    assert response.status_code == 200
    own = NotificationPreference.objects.filter(user=people["editor"])
    assert response.context["cl"].result_count == own.count() == len(NotificationKind.values)
    preference = own.get(kind=NotificationKind.OVERDUE)
    response = editor.post(
        admin_url(NotificationPreference, "change", preference.pk), {"enabled": ""}
    )
    assert response.status_code == 302
    assert notifications.preferences_of(people["editor"]) == {**ALL_ON, "overdue": False}
    # Another member's preferences are not theirs to see or change.
    logged_in(people["viewer"]).get(changelist)
    theirs = NotificationPreference.objects.get(user=people["viewer"], kind="overdue")
    assert editor.get(admin_url(NotificationPreference, "change", theirs.pk)).status_code in (
        302,
        403,
        404,
    )
    response = editor.post(admin_url(NotificationPreference, "change", theirs.pk), {"enabled": ""})
    theirs.refresh_from_db()
    assert theirs.enabled


def test_a_paused_webhook_is_told_to_the_plans_secretariat_once(
    mailer, people, plan, django_capture_on_commit_callbacks
) -> None:
    from evaluations import webhooks
    from evaluations.models import WebhookSubscription

    subscription = WebhookSubscription.objects.create(
        plan=plan, url="https://93.184.215.14/hook", secret_salt="paused"
    )
    subscription.is_active = False
    subscription.paused_at = timezone.now()
    subscription.paused_reason = "20回続けて配信に失敗したため停止しました。"
    subscription.save()
    for _ in range(2):  # the same pause told twice: one e-mail
        with django_capture_on_commit_callbacks(execute=True):
            webhooks.on_subscription_paused(subscription)

    assert [message.to for message in mail.outbox] == [[people["secretariat"].email]]
    message = mail.outbox[0]
    assert "Webhookの配信を停止しました" in message.subject
    assert "https://93.184.215.14/hook" in message.subject
    assert "20回続けて配信に失敗したため停止しました。" in message.body
    assert f"/admin/evaluations/webhooksubscription/{subscription.pk}/" in message.body
