"""Pagination of the API's lists: page numbers with a total by default, and a cursor over ids
for walking the largest lists without counting them."""

from typing import Any

from django.utils.translation import gettext as _
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination, PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response

from dxapi.filters import MAX_ID

MAX_PAGE_SIZE = 200
PAGINATION_PARAM = "pagination"
CURSOR_PARAM = "cursor"


def page_size_from(request: Request, default: int) -> int:
    """The ``page_size`` asked for: a whole number from 1 to ``MAX_PAGE_SIZE`` (400 otherwise,
    rather than silently serving a page size that was not asked for)."""
    raw = request.query_params.get("page_size")
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_PAGE_SIZE:
        raise ValidationError(
            {
                "page_size": [
                    _("Must be a whole number from 1 to %(max)s.") % {"max": MAX_PAGE_SIZE}
                ]
            },
            code="invalid",
        )
    return int(raw)


PAGE_SIZE_PARAMETER = {
    "name": "page_size",
    "required": False,
    "in": "query",
    "description": f"Number of results per page (1–{MAX_PAGE_SIZE}).",
    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE},
}


class StandardPagination(PageNumberPagination):
    """Page-number pagination that is always on, with a bounded page size."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE
    # The error codes of its parameters, for the schema (dxapi.schema).
    validation_error_codes: dict[str, set[str]] = {"page_size": {"invalid"}}

    def get_page_size(self, request: Request) -> int:
        return page_size_from(request, self.page_size)

    def get_page_number(self, request: Request, paginator) -> str | int:
        """A page given blank (``?page=``) is an invalid page (404) like ``?page=x``, not the
        first page."""
        value = request.query_params.get(self.page_query_param)
        if value is not None and not value.strip():
            return "invalid"
        return super().get_page_number(request, paginator)

    def get_schema_operation_parameters(self, view) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        return [
            PAGE_SIZE_PARAMETER if parameter["name"] == "page_size" else parameter
            for parameter in parameters
        ]


class IdCursorPagination(CursorPagination):
    """A keyset over the primary key: each page is an index range scan, with no COUNT(*)
    and no sort of the whole list, however long it is."""

    ordering = "pk"
    cursor_query_param = CURSOR_PARAM
    page_size = StandardPagination.page_size

    def get_page_size(self, request: Request) -> int:
        return page_size_from(request, self.page_size)

    def get_ordering(self, request: Request, queryset, view) -> tuple[str, ...]:
        if request.query_params.get("ordering"):
            raise ValidationError(
                {"ordering": [_("A cursor walks the list by id: leave out ordering.")]},
                code="invalid",
            )
        return (self.ordering,)

    def decode_cursor(self, request: Request):
        """The cursor, whose position is an id: anything else (a cursor made by hand) is a
        400, never a query with a value the database cannot compare."""
        invalid = ValidationError(
            {CURSOR_PARAM: [_("Not a cursor: use the next or previous link of a page.")]},
            code="invalid",
        )
        try:
            cursor = super().decode_cursor(request)
        except NotFound:
            raise invalid from None
        position = None if cursor is None else cursor.position
        if position is not None and not (
            position.isascii() and position.isdigit() and int(position) <= MAX_ID
        ):
            raise invalid
        return cursor


class CursorablePagination(StandardPagination):
    """Page numbers with ``count`` by default; ``?pagination=cursor`` (or a ``cursor`` from a
    previous page's link) walks the list by id instead and leaves out ``count``: for clients
    that read whole lists of millions of rows, where counting and sorting them for every page
    would cost more than the page itself."""

    validation_error_codes = {
        **StandardPagination.validation_error_codes,
        CURSOR_PARAM: {"invalid"},
        PAGINATION_PARAM: {"invalid_choice"},
        "page": {"invalid"},
        "ordering": {"invalid"},
    }

    def __init__(self) -> None:
        self.cursor: IdCursorPagination | None = None

    def _wants_cursor(self, request: Request) -> bool:
        mode = request.query_params.get(PAGINATION_PARAM, "page")
        if mode not in ("page", "cursor"):
            raise ValidationError(
                {PAGINATION_PARAM: [_("Must be page or cursor.")]}, code="invalid_choice"
            )
        wants_cursor = mode == "cursor" or CURSOR_PARAM in request.query_params
        if wants_cursor and self.page_query_param in request.query_params:
            raise ValidationError(
                {self.page_query_param: [_("A cursor page has no number: leave out page.")]},
                code="invalid",
            )
        return wants_cursor

    def paginate_queryset(self, queryset, request: Request, view=None):
        self.cursor = IdCursorPagination() if self._wants_cursor(request) else None
        if self.cursor is not None:
            return self.cursor.paginate_queryset(queryset, request, view)
        return super().paginate_queryset(queryset, request, view)

    def get_paginated_response(self, data) -> Response:
        if self.cursor is not None:
            return self.cursor.get_paginated_response(data)
        return super().get_paginated_response(data)

    def get_paginated_response_schema(self, schema: dict) -> dict:
        paginated = super().get_paginated_response_schema(schema)
        paginated["required"] = ["next", "previous", "results"]
        paginated["properties"]["count"]["description"] = (
            "Total number of results (left out of cursor pages)."
        )
        return paginated

    def get_schema_operation_parameters(self, view) -> list[dict[str, Any]]:
        return [
            *super().get_schema_operation_parameters(view),
            {
                "name": PAGINATION_PARAM,
                "required": False,
                "in": "query",
                "description": (
                    "`page` (default): numbered pages with `count`. `cursor`: pages in id "
                    "order without `count`; follow `next` to read the whole list."
                ),
                "schema": {"type": "string", "enum": ["page", "cursor"]},
            },
            {
                "name": CURSOR_PARAM,
                "required": False,
                "in": "query",
                "description": "The position of a cursor page, from a `next`/`previous` link.",
                "schema": {"type": "string"},
            },
        ]
