"""Serializer fields shared by the API."""

from decimal import Decimal

from django.db import models
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

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


class StrictModelSerializer(serializers.ModelSerializer):
    """A model serializer whose text fields take text only (``TextOnlyMixin``)."""

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.CharField: StrictCharField,
        models.TextField: StrictCharField,
        models.SlugField: StrictSlugField,
    }
