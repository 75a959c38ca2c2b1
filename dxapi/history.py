"""Change history: every tracked model keeps its versions (django-simple-history), each with
who made the change (user, or API key), when, the request id and the reason (the workflow
transition and its comment)."""

from django.db import connection, models
from django.utils import timezone
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


def record_bulk_history(
    model: type[models.Model], objects: list[models.Model], *, created: bool, user, reason: str
) -> None:
    """History records for objects written in bulk (which bypasses save signals).

    On PostgreSQL the records are copied from the rows just written, in one
    ``INSERT … SELECT`` per batch (bulk-creating 100k historical instances in Python would
    cost more than the import itself); elsewhere simple-history's ``bulk_history_create``.
    """
    if not objects:
        return
    if connection.vendor != "postgresql":
        model.history.bulk_history_create(
            objects, update=not created, default_user=user, default_change_reason=reason
        )
        return
    historical = model.history.model
    quote = connection.ops.quote_name
    copied = [field.column for field in model._meta.concrete_fields]
    columns = [
        *copied,
        "history_date",
        "history_type",
        "history_user_id",
        "history_change_reason",
        "request_id",
        "api_key",
    ]
    sql = (
        f"INSERT INTO {quote(historical._meta.db_table)} "
        f"({', '.join(quote(column) for column in columns)}) "
        f"SELECT {', '.join(quote(column) for column in copied)}, %s, %s, %s, %s, %s, %s "
        f"FROM {quote(model._meta.db_table)} WHERE {quote(model._meta.pk.column)} = ANY(%s)"
    )
    params = [
        timezone.now(),
        "+" if created else "~",
        getattr(user, "pk", None),
        reason,
        current_request_id(),
        current_api_key(),
        [obj.pk for obj in objects],
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
