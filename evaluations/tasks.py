"""The app's Celery tasks (``dxapi.jobs``: queued with ``enqueue``, run by a worker or in
process); their work is in ``evaluations.jobs``."""

from celery import shared_task

from dxapi.jobs import JobTask
from evaluations import jobs, webhooks


@shared_task(base=JobTask, bind=True, name="evaluations.tasks.run_job")
def run_job(self: JobTask, job_id: int) -> None:
    """Run one job (an import or an export) recorded as ``evaluations.Job``."""
    jobs.run(self, job_id)


@shared_task(base=JobTask, bind=True, name="evaluations.tasks.delete_expired_jobs")
def delete_expired_jobs(self: JobTask) -> int:
    """Periodic (``CELERY_BEAT_SCHEDULE``): delete the jobs past their expiry, files too."""
    return jobs.delete_expired()


@shared_task(base=JobTask, bind=True, name="evaluations.tasks.dispatch_webhook_events")
def dispatch_webhook_events(self: JobTask) -> int:
    """Make the webhook deliveries of the events not dispatched yet, and queue them."""
    return webhooks.dispatch_all()


@shared_task(base=JobTask, bind=True, name="evaluations.tasks.deliver_webhook")
def deliver_webhook(self: JobTask, delivery_id: int) -> str | None:
    """Send one webhook delivery, if it is due and no other sender holds it."""
    return webhooks.deliver(delivery_id)


@shared_task(base=JobTask, bind=True, name="evaluations.tasks.sweep_webhooks")
def sweep_webhooks(self: JobTask) -> int:
    """Periodic (``CELERY_BEAT_SCHEDULE``): events not dispatched, and deliveries due
    (retries; claims of senders that died)."""
    return webhooks.sweep()


# --- E-mail notifications (``evaluations.notifications``) ----------------------------------


@shared_task(base=JobTask, bind=True, name="evaluations.tasks.notify_event")
def notify_event(self: JobTask, event_id: int) -> int:
    """Record and queue the e-mails of one event (a round opened, an evaluation returned)."""
    from evaluations import notifications

    return len(notifications.handle_event(event_id))


@shared_task(base=JobTask, bind=True, name="evaluations.tasks.notify_webhook_paused")
def notify_webhook_paused(self: JobTask, subscription_id: int) -> int:
    """Tell the plan's secretariat that a webhook was paused."""
    from evaluations import notifications

    return len(notifications.webhook_paused(subscription_id))


@shared_task(base=JobTask, bind=True, name="evaluations.tasks.send_email_notification")
def send_email_notification(self: JobTask, notification_id: int) -> str | None:
    """Send one recorded e-mail; a failed send is tried again with backoff."""
    from evaluations import notifications

    return notifications.send(self, notification_id)


@shared_task(base=JobTask, bind=True, name="evaluations.tasks.send_due_reminders")
def send_due_reminders(self: JobTask) -> int:
    """Periodic: departments with unsubmitted evaluations near or past their due date."""
    from evaluations import notifications

    return notifications.send_due_reminders()


@shared_task(base=JobTask, bind=True, name="evaluations.tasks.send_secretariat_digests")
def send_secretariat_digests(self: JobTask) -> int:
    """Periodic: each plan's secretariat's daily digest of submissions."""
    from evaluations import notifications

    return notifications.send_secretariat_digests()


@shared_task(base=JobTask, bind=True, name="evaluations.tasks.resend_unsent_emails")
def resend_unsent_emails(self: JobTask) -> int:
    """Periodic: e-mails left unsent by a process that stopped."""
    from evaluations import notifications

    return notifications.resend_unsent()
