"""Filters shared by the API's filtersets."""

from django import forms
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import exceptions
from rest_framework.filters import SearchFilter as DRFSearchFilter

# The largest id (and whole number) both databases hold: larger values are refused or match
# nothing, never sent to the database (SQLite raises OverflowError on them).
MAX_ID = 2**63 - 1


def is_id(value: str) -> bool:
    """An id in a parameter that also takes a code: ASCII digits only (``"³"`` is a code),
    within what the databases hold (a longer run of digits names no record)."""
    return value.isascii() and value.isdigit() and int(value) <= MAX_ID


def id_or_code(value: str, path: str = "") -> dict[str, int | str]:
    """The lookup of a record named by id or code, e.g. ``{"plan__code": "akita-dx"}`` or
    ``{"plan__id": 1}`` for ``path="plan__"``: the one reading of such parameters."""
    return {f"{path}id": int(value)} if is_id(value) else {f"{path}code": value}


class PlanFormField(forms.CharField):
    """A plan given by its id or its code."""

    def clean(self, value: str | None) -> dict | None:
        value = super().clean(value)
        if value in (None, ""):
            return None
        return id_or_code(value)


@extend_schema_field(OpenApiTypes.STR)
class PlanFilter(filters.Filter):
    """Filter by plan id or plan code; ``field_name`` is the path to the plan."""

    field_class = PlanFormField

    def filter(self, qs, value: dict | None):
        if not value:
            return qs
        ((key, wanted),) = value.items()
        return qs.filter(**{f"{self.field_name}__{key}": wanted})


class StrictBooleanFormField(forms.Field):
    """``true``/``false`` (or ``1``/``0``); anything else is an error, not "no filter"."""

    default_error_messages = {"invalid": _("Must be true or false.")}
    values = {"true": True, "1": True, "false": False, "0": False}

    def to_python(self, value: str | None) -> bool | None:
        if value in (None, ""):
            return None
        try:
            return self.values[str(value).lower()]
        except KeyError:
            raise ValidationError(self.error_messages["invalid"], code="invalid") from None


class StrictBooleanFilter(filters.BooleanFilter):
    field_class = StrictBooleanFormField

    def __init__(self, *args, **kwargs) -> None:
        # django-filter's BooleanWidget reads anything it does not know as "no filter".
        kwargs.setdefault("widget", forms.TextInput)
        super().__init__(*args, **kwargs)


class PresentIntegerField(forms.IntegerField):
    """An integer parameter that, when given, has a value: ``?pillar=`` is refused (the
    schema says integer), while a parameter left out is no filter."""

    default_error_messages = {"blank": _("Give a whole number, or leave the parameter out.")}

    def to_python(self, value):
        if value == "":
            raise ValidationError(self.error_messages["blank"], code="blank")
        return super().to_python(value)


class IntegerFilter(filters.NumberFilter):
    """A whole number (an id, an initiative number): ``0.5`` is refused, not truncated, and
    so is one beyond what the databases hold, or an empty value."""

    field_class = PresentIntegerField

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("min_value", -MAX_ID - 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


class StrictFilterSet(filters.FilterSet):
    """Refuses values its filters cannot read (400 naming the parameter) instead of ignoring
    them: the boolean filters generated from model fields are strict too (numbers are
    declared, as ``IntegerFilter``)."""

    FILTER_DEFAULTS = {
        **filters.FilterSet.FILTER_DEFAULTS,
        models.BooleanField: {"filter_class": StrictBooleanFilter},
    }


class SearchFilter(DRFSearchFilter):
    """DRF's search, with its refusals (a NUL character) naming the ``search`` parameter."""

    validation_error_codes = {"null_characters_not_allowed", "surrogate_characters_not_allowed"}

    def filter_queryset(self, request, queryset, view):
        if not self.get_search_fields(view, request):
            return queryset  # a list without search refuses the parameter (dxapi.strict)
        return super().filter_queryset(request, queryset, view)

    def get_schema_operation_parameters(self, view) -> list[dict]:
        # Only where the list searches: elsewhere ``search`` is an unknown parameter.
        if not getattr(view, "search_fields", None):
            return []
        return super().get_schema_operation_parameters(view)

    def get_search_terms(self, request) -> list[str]:
        try:
            return super().get_search_terms(request)
        except exceptions.ValidationError as error:
            raise exceptions.ValidationError({self.search_param: error.detail}) from error


class ChoiceFilter(filters.ChoiceFilter):
    """A choice, or an empty value for any (``?status=``, as a form's "all" sends it): the
    empty value is one of the documented choices."""

    def __init__(self, *args, choices, **kwargs) -> None:
        super().__init__(*args, choices=[("", "any"), *choices], **kwargs)
