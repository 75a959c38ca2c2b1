"""The Celery application: `celery -A dxapi worker` runs the jobs, `celery -A dxapi beat`
sends the periodic tasks (``CELERY_BEAT_SCHEDULE``). Its settings are the ``CELERY_*`` ones
of ``dxapi.settings``; the apps' tasks are their ``tasks`` modules."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dxapi.settings")

app = Celery("dxapi")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
