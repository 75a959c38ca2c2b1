"""Helpers that give every operation a summary and a description in the OpenAPI schema."""

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
    - reads open to anonymous callers where the view's permission says so (``public_reads``),
      and the actions it opens to them (``public_actions``);
    - 400 for the query parameters a view validates with its ``query_serializer`` and for the
      page size and cursor of lists; 404 where an input names a record to look up
      (``looks_up_records`` on a field);
    - 403 on every operation that is not open to all: the services refuse callers per record;
    - ``invalid`` on every field of a write: the services check rules no field can (a KPI of
      another initiative, a date outside the fiscal year, a database constraint).
    """

    def get_auth(self):
        auths = super().get_auth()
        permissions = self.view.get_permissions()
        public = any(getattr(p, "public_reads", False) for p in permissions)
        if public and self.method in ("GET", "HEAD", "OPTIONS") and {} not in auths:
            auths.append({})
        action = getattr(self.view, "action", None)
        if any(action in getattr(p, "public_actions", ()) for p in permissions):
            auths.append({})  # open to anonymous callers (sending an opinion)
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


METHODS = ("get", "put", "patch", "post", "delete", "head", "options", "trace")
REF = "#/components/schemas/"
# Names of the enum members a generated client cannot derive from the value itself.
ENUM_VARNAMES = {"": "BLANK", "-": "NOT_RATED"}


def _operations(result: dict[str, Any]):
    for item in result.get("paths", {}).values():
        for method in METHODS:
            if method in item:
                yield item[method]


def _component(schemas: dict, schema: dict | None) -> tuple[str | None, dict]:
    ref = (schema or {}).get("$ref", "")
    name = ref.removeprefix(REF) if ref.startswith(REF) else None
    return name, schemas.get(name, {}) if name else (schema or {})


def _members(schemas: dict, schema: dict | None) -> list[tuple[str | None, dict]]:
    name, resolved = _component(schemas, schema)
    if "oneOf" in resolved:
        return [_component(schemas, member) for member in resolved["oneOf"]]
    return [(name, resolved)]


def _attr_name(schema: dict) -> str:
    """``departments.INDEX.department`` as the API gives it: ``departments.<n>.department``."""
    values = schema.get("properties", {}).get("attr", {}).get("enum") or ["?"]
    index = package_settings.LIST_INDEX_IN_API_SCHEMA
    return ".".join("<n>" if part == index else part for part in str(values[0]).split("."))


def _validation_codes(schemas: dict, validation_error: dict) -> dict[str, list[str]]:
    """The codes by ``attr`` of a per-operation ``…ValidationError`` component."""
    items = validation_error.get("properties", {}).get("errors", {}).get("items")
    codes: dict[str, list[str]] = {}
    for _, component in _members(schemas, items):
        _, code = _component(schemas, component.get("properties", {}).get("code"))
        codes.setdefault(_attr_name(component), []).extend(code.get("enum", []))
    return codes


SHARED_ERROR_RESPONSES = {
    "401": "No credentials, or credentials that are not valid.",
    "403": "The caller may not do this (to this record).",
    "404": "No such record, or none the caller may see.",
    "405": "The method is not allowed here.",
    "409": "The request conflicts with the current state (e.g. a refused transition).",
    "411": "A body without Content-Length.",
    "413": "The body is too large.",
    "415": "The body's media type is not accepted.",
    "429": "Too many requests: wait as Retry-After says.",
}

VALIDATION_ERROR_COMPONENTS = {
    "ValidationErrorDetail": {
        "type": "object",
        "properties": {
            "code": {
                "type": "string",
                "description": (
                    "Why the value was refused, e.g. `required`, `invalid`, `blank`, "
                    "`max_length`, `does_not_exist`, `invalid_choice`, `unique`. The codes of "
                    "each field are listed in the description of the operation's 400 response; "
                    "every operation also refuses a body field it does not take "
                    "(`unknown_field`) and a query parameter it does not take "
                    "(`unknown_parameter`), each named in `attr`."
                ),
            },
            "detail": {"type": "string", "description": "The message, in Japanese."},
            "attr": {
                "type": "string",
                "description": (
                    "The field, `non_field_errors` for the record as a whole, and "
                    "`list.<index>.field` inside lists (e.g. `departments.0.department`)."
                ),
            },
        },
        "required": ["attr", "code", "detail"],
    },
    "ValidationErrorResponse": {
        "type": "object",
        "description": "Invalid input: one error per field and reason.",
        "properties": {
            "type": {"$ref": f"{REF}ValidationErrorEnum"},
            "errors": {"type": "array", "items": {"$ref": f"{REF}ValidationErrorDetail"}},
        },
        "required": ["errors", "type"],
    },
    "ErrorResponse400": {
        "description": "Invalid input (`validation_error`) or a body that cannot be parsed.",
        "oneOf": [
            {"$ref": f"{REF}ValidationErrorResponse"},
            {"$ref": f"{REF}ParseErrorResponse"},
        ],
    },
}


def _shared_validation_errors(result: dict[str, Any]) -> None:
    """One ``ErrorResponse400`` for every operation instead of drf-standardized-errors' enums
    per operation and field; each operation lists its codes by field in the description."""
    schemas = result["components"]["schemas"]
    schemas.update(VALIDATION_ERROR_COMPONENTS)
    for operation in _operations(result):
        response = operation.get("responses", {}).get("400")
        media = (response or {}).get("content", {}).get("application/json")
        if not media or "schema" not in media:
            continue
        codes: dict[str, list[str]] = {}
        validates = False
        for name, member in _members(schemas, media["schema"]):
            type_ref = member.get("properties", {}).get("type", {}).get("$ref", "")
            if type_ref.endswith("/ValidationErrorEnum") and name != "ValidationErrorResponse":
                validates = True
                for attr, attr_codes in _validation_codes(schemas, member).items():
                    codes.setdefault(attr, []).extend(attr_codes)
        if not validates:
            continue
        media["schema"] = {"$ref": f"{REF}ErrorResponse400"}
        attrs_by_codes: dict[tuple[str, ...], list[str]] = {}
        for attr, attr_codes in codes.items():
            attrs_by_codes.setdefault(tuple(sorted(set(attr_codes))), []).append(attr)
        lines = [
            "- "
            + ", ".join(f"`{attr}`" for attr in attrs)
            + ": "
            + ", ".join(f"`{code}`" for code in attr_codes)
            for attr_codes, attrs in attrs_by_codes.items()
        ]
        response["description"] = "\n".join(
            [
                "Invalid input (`validation_error`); the codes by `attr`:",
                "",
                *lines,
            ]
        )


def _single_parse_errors(result: dict[str, Any]) -> None:
    """A 400 that can only be a parse error refers to ``ParseErrorResponse`` itself."""
    schemas = result["components"]["schemas"]
    for operation in _operations(result):
        for media in operation.get("responses", {}).get("400", {}).get("content", {}).values():
            members = _members(schemas, media.get("schema"))
            if len(members) == 1 and members[0][0] is None:
                only = _component(schemas, media["schema"])[1]["oneOf"][0]
                media["schema"] = only


def _json_error_bodies(result: dict[str, Any]) -> None:
    """Errors are JSON whatever format was asked for (the report's renderers answer errors
    in JSON), and the common ones are shared ``components/responses``."""
    shared: dict[str, dict] = {}
    for operation in _operations(result):
        for code, response in operation.get("responses", {}).items():
            content = response.get("content", {})
            if not code.startswith("4") or "application/json" not in content:
                continue
            response.pop("headers", None)  # the ETag comes with the record, not with errors
            for media_type in list(content):
                if media_type != "application/json":
                    del content[media_type]
            if code in SHARED_ERROR_RESPONSES and not response.get("description"):
                response["description"] = SHARED_ERROR_RESPONSES[code]
                name = f"Error{code}"
                for suffix in range(2, 20):
                    if shared.setdefault(name, response) == response:
                        break
                    name = f"Error{code}_{suffix}"
                operation["responses"][code] = {"$ref": f"#/components/responses/{name}"}
    if shared:
        result["components"]["responses"] = dict(sorted(shared.items()))


def _json_request_bodies(result: dict[str, Any]) -> None:
    """Request bodies described as JSON only where the API takes JSON (it also parses the
    form encodings, which clients do not need and some generators mishandle)."""
    for operation in _operations(result):
        content = operation.get("requestBody", {}).get("content", {})
        if "application/json" in content:
            for media_type in list(content):
                if media_type != "application/json":
                    del content[media_type]


def _ascii_names(node: Any) -> None:
    """No generated class named after a Japanese ``title`` (a field's verbose name), and
    enum members named for values such as ``-`` (``x-enum-varnames``)."""
    if isinstance(node, dict):
        title = node.get("title")
        if isinstance(title, str) and not title.isascii():
            del node["title"]
            node.setdefault("description", title)
        values = node.get("enum")
        if (
            isinstance(values, list)
            and node.get("type") == "string"
            and any(not (isinstance(v, str) and v[:1].isalpha()) for v in values if v is not None)
        ):
            names = [
                ENUM_VARNAMES.get(v, f"VALUE_{i}") if not str(v)[:1].isalpha() else v.upper()
                for i, v in enumerate(values)
                if v is not None
            ]
            if len(names) == len(values):
                node["x-enum-varnames"] = names
        for value in node.values():
            _ascii_names(value)
    elif isinstance(node, list):
        for value in node:
            _ascii_names(value)


def _drop_unreferenced(result: dict[str, Any]) -> None:
    schemas = result["components"]["schemas"]
    while True:
        text = str({key: value for key, value in result.items() if key != "components"})
        text += str({k: v for k, v in result["components"].items() if k != "schemas"})
        text += str(list(schemas.values()))
        unused = [name for name in schemas if f"'{REF}{name}'" not in text]
        if not unused:
            return
        for name in unused:
            del schemas[name]


def tidy_for_clients(result: dict[str, Any], **kwargs) -> dict[str, Any]:
    """Postprocessing hook: a schema that client generators turn into working clients."""
    _json_request_bodies(result)
    _shared_validation_errors(result)
    _single_parse_errors(result)
    _json_error_bodies(result)
    _ascii_names(result)
    _drop_unreferenced(result)
    return result
