"""Serializer fields shared by the API."""

from collections.abc import Mapping
from decimal import Decimal

from django.db import models
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail

from dxapi.numbers import plain_decimal


@extend_schema_field({"type": "string", "format": "decimal", "example": "80.9"})
class PlainDecimalField(serializers.DecimalField):
    """A decimal given and returned as an exact string without trailing zeros: ``"80.9"``."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("max_digits", 20)
        kwargs.setdefault("decimal_places", 4)
        super().__init__(**kwargs)

    def to_representation(self, value: Decimal | None) -> str | None:
        if value is None:
            return None
        return plain_decimal(value)


class TextOnlyMixin:
    """Text that must be given as text: DRF would turn ``0`` or ``1.5`` into ``"0"``/``"1.5"``,
    which hides a client's mistake (a number sent where a name or a reason belongs)."""

    def to_internal_value(self, data) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictCharField(TextOnlyMixin, serializers.CharField):
    pass


class StrictSlugField(TextOnlyMixin, serializers.SlugField):
    pass


UNKNOWN_FIELD = "unknown_field"


class NoUnknownFieldsMixin:
    """A serializer that refuses the fields it does not take (400 ``unknown_field`` naming
    each one) instead of ignoring them: a misspelt or read-only field sent by a client is its
    mistake, not something to drop silently. Nested serializers with the mixin name theirs
    inside the list (``departments.0.colour``)."""

    def writable_field_names(self) -> list[str]:
        return [name for name, field in self.fields.items() if not field.read_only]

    def unknown_field_errors(self, data) -> dict[str, list[ErrorDetail]]:
        if not isinstance(data, Mapping):
            return {}  # not an object: the serializer's own "invalid" says so
        known = self.writable_field_names()
        detail = _("Unknown field; the fields taken are: %(fields)s.") % {
            "fields": ", ".join(known) or "-"
        }
        return {
            name: [ErrorDetail(detail, code=UNKNOWN_FIELD)]
            for name in sorted(data, key=str)
            if name not in known
        }

    def to_internal_value(self, data):
        unknown = self.unknown_field_errors(data)
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as error:
            if unknown and isinstance(error.detail, dict):
                raise serializers.ValidationError({**error.detail, **unknown}) from error
            raise
        if unknown:
            raise serializers.ValidationError(unknown)
        return value


class StrictSerializer(NoUnknownFieldsMixin, serializers.Serializer):
    """A serializer of a request that refuses fields it does not take."""


class StrictModelSerializer(NoUnknownFieldsMixin, serializers.ModelSerializer):
    """A model serializer whose text fields take text only (``TextOnlyMixin``) and that
    refuses fields it does not take (``NoUnknownFieldsMixin``)."""

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.CharField: StrictCharField,
        models.TextField: StrictCharField,
        models.SlugField: StrictSlugField,
    }
