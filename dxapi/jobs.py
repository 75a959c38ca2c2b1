"""Work done after the request that asked for it: one way to queue it, whatever runs it.

Every caller queues a task with ``enqueue(task, *args)``: the task is sent once the current
transaction commits (at once outside a transaction), so that it finds what the request wrote.
Where it runs is the settings' choice, not the caller's:

- ``CELERY_BROKER_URL`` set: on the broker, for the Celery workers (`celery -A dxapi worker`);
  the periodic tasks are sent by `celery -A dxapi beat`.
- unset (the embedded default, ``manage.py runserver`` alone): in this process, in one of
  ``JOBS_IN_PROCESS_THREADS`` background threads, so that the request returns at once (with
  0: in the thread that committed, before the response). The periodic tasks of
  ``CELERY_BEAT_SCHEDULE`` that are due are queued with the jobs (a cache key per task keeps
  each to its interval across processes). Jobs queued in a process that then stops are lost:
  they stay queued until they expire.

Tasks are ``JobTask``s. A ``TransientError`` (or a lost database connection) is retried
``JOB_MAX_RETRIES`` times, after ``JOB_RETRY_BACKOFF_SECONDS`` doubled at each retry: by the
worker through Celery's ``retry`` in the broker mode, by the thread (sleeping the same
countdown) in process. The task calls ``retry_later`` and asks ``is_last_attempt`` to know
whether a failure now is final.
"""

import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from typing import Any

from celery import Task
from celery.exceptions import Retry
from celery.utils.time import get_exponential_backoff_interval
from django.conf import settings
from django.core.cache import cache
from django.db import InterfaceError, OperationalError, connections, transaction

from dxapi.celery import app
from dxapi.middleware import _current_request_id, current_api_key, set_current_api_key

logger = logging.getLogger(__name__)


class TransientError(Exception):
    """A failure that may pass (a service briefly unreachable): the task runs again later."""


RETRYABLE = (TransientError, OperationalError, InterfaceError)

# In process: how the thread waits before a retry (tests replace it to skip the wait).
sleep: Callable[[float], None] = time.sleep
_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


class JobTask(Task):
    """The base of the project's tasks (``shared_task(base=JobTask, bind=True)``)."""

    def backoff(self) -> int:
        """Seconds before the next attempt: the backoff setting, doubled at each retry."""
        return get_exponential_backoff_interval(
            factor=settings.JOB_RETRY_BACKOFF_SECONDS,
            retries=self.request.retries or 0,
            maximum=max(settings.JOB_RETRY_BACKOFF_SECONDS, 600),
        )

    def is_last_attempt(self) -> bool:
        return (self.request.retries or 0) >= settings.JOB_MAX_RETRIES

    def retry_later(self, error: Exception) -> Retry:
        """Send the task again after ``backoff()`` seconds (raise what this returns)."""
        return self.retry(exc=error, countdown=self.backoff(), max_retries=settings.JOB_MAX_RETRIES)


def in_process() -> bool:
    return not settings.CELERY_BROKER_URL


def enqueue(task: Task, *args: Any, on_error: Callable[[Exception], None] | None = None) -> None:
    """Run ``task(*args)`` once the current transaction commits; ``on_error`` is told if the
    task cannot be sent (broker unreachable)."""
    transaction.on_commit(partial(_send, task, args, on_error))


def _send(task: Task, args: tuple, on_error: Callable[[Exception], None] | None) -> None:
    try:
        if in_process():
            _submit(task, args)
            _queue_due_periodic_tasks()
        else:
            task.apply_async(args=args)
    except Exception as error:
        logger.exception("could not queue %s%r", task.name, args)
        if on_error is not None:
            on_error(error)


def _submit(task: Task, args: tuple) -> None:
    threads = settings.JOBS_IN_PROCESS_THREADS
    if threads <= 0:
        run_here(task, args)
        return
    _pool(threads).submit(_run_in_thread, task, args)


def _pool(threads: int) -> ThreadPoolExecutor:
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="dxapi-job")
        return _executor


def _run_in_thread(task: Task, args: tuple) -> None:
    try:
        run_here(task, args)
    finally:
        connections.close_all()  # this thread's connections


def run_here(task: Task, args: tuple) -> None:
    """Run the task in this thread as a worker would, retries included: ``retry_later``
    raises ``Retry`` with its countdown, which is waited here before the next attempt."""
    task_id = uuid.uuid4().hex
    retries = 0
    while True:
        task.push_request(
            id=task_id,
            args=list(args),
            kwargs={},
            retries=retries,
            is_eager=True,
            called_directly=False,
            delivery_info={},
        )
        try:
            task.run(*args)
            return
        except Retry as retry:
            countdown = float(retry.when or 0)
        except Exception:
            logger.exception("task %s%r failed", task.name, args)
            return
        finally:
            task.pop_request()
        sleep(countdown)
        retries += 1


def _queue_due_periodic_tasks() -> None:
    """The beat's work, in process: each periodic task whose interval has passed."""
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        schedule = entry["schedule"]
        seconds = schedule.total_seconds() if hasattr(schedule, "total_seconds") else schedule
        if not isinstance(seconds, int | float):
            continue  # crontab schedules: the beat's alone
        if cache.add(f"dxapi:jobs:periodic:{name}", 1, timeout=max(1, int(seconds))):
            if entry["task"] not in app.tasks:  # the apps' task modules, imported once
                app.loader.import_default_modules()
            _submit(app.tasks[entry["task"]], tuple(entry.get("args", ())))


@contextmanager
def request_context(request_id: str, api_key_prefix: str):
    """The request id and API key of the request that queued a job, for the job's logs and
    the change history it writes."""
    token = _current_request_id.set(request_id or "-")
    key_before = current_api_key()
    set_current_api_key(api_key_prefix)
    try:
        yield
    finally:
        _current_request_id.reset(token)
        set_current_api_key(key_before)
