"""Helpers that give every operation a summary and a description in the OpenAPI schema."""

import re
from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_view
from drf_standardized_errors.openapi import AutoSchema as StandardErrorsAutoSchema
from drf_standardized_errors.openapi_utils import (
    InputDataField,
    get_flat_serializer_fields,
    get_serializer_fields_with_error_codes,
)
from drf_standardized_errors.settings import package_settings
from rest_framework import permissions
from rest_framework.settings import api_settings

from dxapi.filters import SearchFilter


def read_only_docs(*, plural: str, singular: str, description: str):
    """Summaries and descriptions for a read-only viewset's ``list`` and ``retrieve``."""
    return extend_schema_view(
        list=extend_schema(summary=f"List {plural}", description=description),
        retrieve=extend_schema(
            summary=f"Retrieve a {singular}",
            description=f"One {singular} by id. {description}",
        ),
    )


def crud_docs(*, plural: str, singular: str, description: str, read, write, who: str):
    """Summaries, descriptions and request/response bodies for a read-write viewset whose
    writes take ``write`` and answer with ``read``."""
    return extend_schema_view(
        list=extend_schema(summary=f"List {plural}", description=description),
        retrieve=extend_schema(
            summary=f"Retrieve a {singular}", description=f"One {singular} by id. {description}"
        ),
        create=extend_schema(
            summary=f"Create a {singular}",
            description=f"{who} creates a {singular}.",
            request=write,
            responses={201: read},
        ),
        update=extend_schema(
            summary=f"Replace a {singular}",
            description=f"{who} replaces a {singular}.",
            request=write,
            responses=read,
        ),
        partial_update=extend_schema(
            summary=f"Update a {singular}",
            description=f"{who} changes some fields of a {singular}.",
            request=write,
            responses=read,
        ),
        destroy=extend_schema(
            summary=f"Delete a {singular}",
            description=(
                f"{who} deletes a {singular}. Refused with 409 while it is in use, e.g. by "
                "evaluations: nothing is deleted by cascade."
            ),
        ),
    )


class AutoSchema(StandardErrorsAutoSchema):
    """drf-standardized-errors' error responses, completed with what this API does:

    - 409 on writes only, and 412/428 on the writes of versioned records (views with an
      ``etag_kind``) that take If-Match;
    - reads open to anonymous callers where the view's permission says so (``public_reads``);
    - 400 for the query parameters a view validates with its ``query_serializer`` and for the
      page size and cursor of lists; 404 where an input names a record to look up
      (``looks_up_records`` on a field);
    - 403 on every operation that is not open to all: the services refuse callers per record;
    - ``invalid`` on every field of a write: the services check rules no field can (a KPI of
      another initiative, a date outside the fiscal year, a database constraint).
    """

    def get_auth(self):
        auths = super().get_auth()
        public = any(getattr(p, "public_reads", False) for p in self.view.get_permissions())
        if public and self.method in ("GET", "HEAD", "OPTIONS") and {} not in auths:
            auths.append({})
        return auths

    def _is_write(self) -> bool:
        return self.method not in ("GET", "HEAD", "OPTIONS")

    def _query_serializer(self):
        serializer = getattr(self.view, "query_serializer", None)
        return serializer() if serializer is not None and not self._is_write() else None

    def _paginated_list(self) -> bool:
        return self._is_list_view() and self._get_paginator() is not None

    def _input_fields(self) -> list[InputDataField]:
        fields = []
        if self._is_write():
            request = self.get_request_serializer()  # or {media type: serializer}
            serializers = list(request.values()) if isinstance(request, dict) else request
            fields = get_flat_serializer_fields(serializers)
        elif (query := self._query_serializer()) is not None:
            fields = get_flat_serializer_fields(query)
        return fields

    def _should_add_error_response(self, responses: dict, status_code: str) -> bool:
        is_write = self._is_write()
        if status_code == "409":
            return is_write and super()._should_add_error_response(responses, status_code)
        if status_code in ("412", "428"):
            versioned = getattr(self.view, "etag_kind", None) is not None
            creating = getattr(self.view, "action", None) == "create"
            return (
                is_write
                and versioned
                and not creating
                and super()._should_add_error_response(responses, status_code)
            )
        return super()._should_add_error_response(responses, status_code)

    def _should_add_validation_error_response(self) -> bool:
        return (
            super()._should_add_validation_error_response()
            or self._query_serializer() is not None
            or self._paginated_list()
        )

    def _should_add_http403_error_response(self) -> bool:
        checks = self.view.get_permissions()
        return not all(type(check) is permissions.AllowAny for check in checks)

    def _should_add_http404_error_response(self) -> bool:
        looks_up = any(getattr(f.field, "looks_up_records", False) for f in self._input_fields())
        return looks_up or super()._should_add_http404_error_response()

    def _determine_fields_with_error_codes(self) -> list[InputDataField]:
        fields = super()._determine_fields_with_error_codes()
        if not self._is_write():  # the query serializer's fields, if the view has one
            fields += get_serializer_fields_with_error_codes(self._input_fields())
        return fields

    def _get_validation_error_codes_by_field(self, data_fields) -> dict[str, set[str]]:
        codes = super()._get_validation_error_codes_by_field(data_fields)
        if self._is_write() and codes:
            for field_codes in codes.values():
                field_codes.add("invalid")
            codes[api_settings.NON_FIELD_ERRORS_KEY].update({"invalid", "unique_together"})
        if self._is_list_view() and getattr(self.view, "search_fields", None):
            codes[SearchFilter.search_param].update(SearchFilter.validation_error_codes)
        if self._paginated_list():
            for name, parameter_codes in self._get_paginator().validation_error_codes.items():
                codes[name].update(parameter_codes)
        return codes


def describe_nested_error_names(result: dict[str, Any], **kwargs) -> dict[str, Any]:
    """Postprocessing hook: the ``attr`` of errors inside nested fields, as the API gives it.

    drf-standardized-errors names them ``departments.INDEX.department`` and
    ``departments.non_field_errors``; the API answers ``departments.0.department``, and names
    a list or an item that is not what it should be (``null``) by itself: ``departments``,
    ``departments.0``. Such ``attr`` values become a pattern, and the error unions that hold
    one are matched by their members instead of by a discriminator."""
    index = package_settings.LIST_INDEX_IN_API_SCHEMA
    non_field = api_settings.NON_FIELD_ERRORS_KEY
    schemas = result.get("components", {}).get("schemas", {})
    patterned = set()
    for name, schema in schemas.items():
        values = schema.get("properties", {}).get("attr", {}).get("enum", [])
        parts = values[0].split(".") if len(values) == 1 else []
        if len(parts) < 2:
            continue
        pattern = r"\.".join("[0-9]+" if part == index else re.escape(part) for part in parts)
        if parts[-1] == non_field:
            pattern = pattern.removesuffix(rf"\.{non_field}") + rf"(\.{non_field})?"
        schema["properties"]["attr"] = {"type": "string", "pattern": f"^{pattern}$"}
        patterned.add(f"#/components/schemas/{name}")
    for schema in schemas.values():
        members = {member.get("$ref") for member in schema.get("oneOf", [])}
        if members & patterned and schema.get("discriminator", {}).get("propertyName") == "attr":
            del schema["discriminator"]
    return result
