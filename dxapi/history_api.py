"""``GET …/{id}/history/``: the versions of a record, newest first, each with who changed
what (before and after), when, in which request and why."""

from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from dxapi.numbers import plain_decimal
from dxapi.pagination import StandardPagination
from dxapi.strict import StrictQueryMixin

CHANGE_TYPES = {"+": "created", "~": "changed", "-": "deleted"}
HIDDEN_FIELDS = {"updated_at", "created_at"}
# What tells who made a change; ``HistoryMixin.may_see_who_changed`` decides who sees it.
WHO_ENTRY_KEYS = ("user", "api_key", "request_id", "reason")


@extend_schema_field(
    {
        "oneOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}],
        "nullable": True,
        "description": (
            "The field's value: text, a number (ids of related records too), a boolean, or "
            "null; decimals, dates and times as strings."
        ),
    }
)
class FieldValueField(serializers.JSONField):
    pass


class FieldChangeSerializer(serializers.Serializer):
    field = serializers.CharField()
    old = FieldValueField(allow_null=True)
    new = FieldValueField(allow_null=True)


class HistoryRecordSerializer(serializers.Serializer):
    history_id = serializers.IntegerField()
    changed_at = serializers.DateTimeField()
    change_type = serializers.ChoiceField(choices=sorted(CHANGE_TYPES.values()))
    user = serializers.CharField(
        allow_null=True, help_text="The user, if a user made it (null for the public)."
    )
    api_key = serializers.CharField(
        allow_null=True, help_text="The API key's prefix, if a key made it (null for the public)."
    )
    request_id = serializers.CharField(allow_null=True, help_text="Null for the public.")
    reason = serializers.CharField(
        allow_null=True, help_text="e.g. `return: <comment>` (null for the public)."
    )
    changes = FieldChangeSerializer(many=True)


class HistoryPageSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = HistoryRecordSerializer(many=True)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return plain_decimal(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def history_of(
    instance, *, show_who: bool = True, withheld_fields: Iterable[str] = ()
) -> list[dict[str, Any]]:
    """Every version of ``instance`` with its changes against the version before; without
    ``show_who``, without who made them (``WHO_ENTRY_KEYS``) and without the changes of the
    fields that tell it (``withheld_fields``)."""
    records = list(
        instance.history.select_related("history_user").order_by("history_date", "history_id")
    )
    entries = []
    previous = None
    for record in records:
        if previous is None:
            changes = []
        else:
            hidden = HIDDEN_FIELDS if show_who else HIDDEN_FIELDS | set(withheld_fields)
            delta = record.diff_against(previous, excluded_fields=hidden)
            changes = [
                {"field": change.field, "old": _plain(change.old), "new": _plain(change.new)}
                for change in delta.changes
            ]
        entry = {
            "history_id": record.history_id,
            "changed_at": record.history_date,
            "change_type": CHANGE_TYPES[record.history_type],
            "user": record.history_user.get_username() if record.history_user else None,
            "api_key": record.api_key,
            "request_id": record.request_id,
            "reason": record.history_change_reason,
            "changes": changes,
        }
        entries.append(entry if show_who else {**entry, **dict.fromkeys(WHO_ENTRY_KEYS)})
        previous = record
    entries.reverse()
    return entries


class HistoryMixin(StrictQueryMixin):
    """Adds ``history`` to a viewset: visible to whoever may see the object (404 otherwise);
    who made each change only to those ``may_see_who_changed`` admits."""

    # Fields of the model that tell who worked on it, withheld with the rest.
    history_withheld_fields: Iterable[str] = ()

    def may_see_who_changed(self, instance) -> bool:
        raise NotImplementedError

    @extend_schema(
        summary="Change history",
        description=(
            "The versions of this record, newest first: who (user or API key), when, the "
            "request id, the reason (workflow transition and comment) and each field's value "
            "before and after. Who made a change (user, key, request id, reason, reviewer "
            "fields) is shown to the plan's secretariat and the responsible departments' "
            "members and keys only; the public gets null."
        ),
        responses=HistoryPageSerializer,
        filters=False,
    )
    @action(
        detail=True,
        methods=["get"],
        filter_backends=[],
        extra_query_parameters=("page", "page_size"),
    )
    def history(self, request: Request, pk=None) -> Response:
        instance = self.get_object()
        entries = history_of(
            instance,
            show_who=self.may_see_who_changed(instance),
            withheld_fields=self.history_withheld_fields,
        )
        paginator = StandardPagination()
        page = paginator.paginate_queryset(entries, request, view=self)
        return paginator.get_paginated_response(HistoryRecordSerializer(page, many=True).data)
