"""Change history: every tracked model keeps its versions (django-simple-history), each with
who made the change (user, or API key), when, the request id and the reason (the workflow
transition and its comment)."""

from django.db import models
from simple_history.models import HistoricalRecords

from dxapi.middleware import current_api_key, current_request_id


class ChangeContext(models.Model):
    """Fields added to every historical record, filled from the request being served."""

    request_id = models.CharField(max_length=128, default=current_request_id, editable=False)
    api_key = models.CharField(max_length=16, blank=True, default=current_api_key, editable=False)

    class Meta:
        abstract = True


def tracked() -> HistoricalRecords:
    return HistoricalRecords(
        bases=[ChangeContext],
        history_change_reason_field=models.TextField(null=True),
        cascade_delete_history=False,
    )
