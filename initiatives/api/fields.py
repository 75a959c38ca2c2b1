"""Fields of the plan's vocabulary that every API input and output shares: fiscal years
(``2024``, ``R6``, ``令和6年度``) and plans (by id or code)."""

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from initiatives.fiscal_years import long_label, parse_fiscal_year, short_label


@extend_schema_field(OpenApiTypes.STR)
class FiscalYearLabelField(serializers.ReadOnlyField):
    """``2024`` -> ``"R6"``; with ``japanese=True`` -> ``"令和6年度"``."""

    def __init__(self, *, japanese: bool = False, **kwargs) -> None:
        self.japanese = japanese
        super().__init__(**kwargs)

    def to_representation(self, value: int) -> str:
        return long_label(value) if self.japanese else short_label(value)


class FiscalYearParamField(serializers.CharField):
    """A fiscal year in a request body or a view's query: ``2024``, ``R6`` or ``令和6年度``."""

    def to_internal_value(self, data) -> int:
        try:
            return parse_fiscal_year(super().to_internal_value(data))
        except ValueError as error:
            raise serializers.ValidationError(str(error)) from error


class FiscalYearFormField(forms.CharField):
    default_error_messages = {"invalid": _("Not a fiscal year: use a year such as 2024 or R6.")}

    def clean(self, value: str | None) -> int | None:
        value = super().clean(value)
        if value in (None, ""):
            return None
        try:
            return parse_fiscal_year(value)
        except ValueError as error:
            raise ValidationError("%(reason)s", code="invalid", params={"reason": error}) from error


@extend_schema_field(OpenApiTypes.STR)
class FiscalYearFilter(filters.Filter):
    """A fiscal year given as ``2024``, ``R6`` or ``令和6年度``."""

    field_class = FiscalYearFormField
