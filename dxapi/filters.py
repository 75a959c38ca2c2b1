"""Filters shared by the API's filtersets."""

from django import forms
from django.core.exceptions import ValidationError
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from initiatives.fiscal_years import parse_fiscal_year


def is_id(value: str) -> bool:
    """An id in a parameter that also takes a code: ASCII digits only (``"³"`` is a code)."""
    return value.isascii() and value.isdigit()


class FiscalYearFormField(forms.CharField):
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


class PlanFormField(forms.CharField):
    """A plan given by its id or its code."""

    def clean(self, value: str | None) -> dict | None:
        value = super().clean(value)
        if value in (None, ""):
            return None
        return {"id": int(value)} if is_id(value) else {"code": value}


@extend_schema_field(OpenApiTypes.STR)
class PlanFilter(filters.Filter):
    """Filter by plan id or plan code; ``field_name`` is the path to the plan."""

    field_class = PlanFormField

    def filter(self, qs, value: dict | None):
        if not value:
            return qs
        ((key, wanted),) = value.items()
        return qs.filter(**{f"{self.field_name}__{key}": wanted})
