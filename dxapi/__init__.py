"""The project: settings, URLs and the plumbing every app shares. The Celery application is
loaded with it, so that the apps' tasks use it (``shared_task``)."""

from dxapi.celery import app as celery_app

__all__ = ("celery_app",)
