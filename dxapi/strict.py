"""Strict inputs: a query parameter a read does not take is a 400 naming it, never ignored;
a write's body is parsed before anything is done, so a body in a media type the view does not
take (a form, multipart) is a 415 even where the body is otherwise unused.

What a read takes is computed from the view itself, nothing is listed by hand:

- the filters of its filterset (``filterset_class`` / ``filterset_fields``), on lists;
- its pagination's parameters (``page``, ``page_size``; ``pagination``, ``cursor``), on lists;
- ``ordering`` if it orders (``ordering_fields``), ``search`` if it searches
  (``search_fields``), on lists;
- ``format`` where its renderers have formats;
- the fields of its ``query_serializer`` (aggregates, the report, templates);
- ``extra_query_parameters``: names a view reads by hand.

``StrictInputsFilter`` (first of ``DEFAULT_FILTER_BACKENDS``) applies this to the generic
views and viewsets, whose lists and details go through ``filter_queryset``;
``StrictQueryMixin`` to plain ``APIView``\\ s and to actions without filter backends.
"""

from collections.abc import Iterable

from django.utils.translation import gettext as _
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import exceptions
from rest_framework.filters import BaseFilterBackend, OrderingFilter, SearchFilter
from rest_framework.request import Request
from rest_framework.settings import api_settings

UNKNOWN_PARAMETER = "unknown_parameter"
SAFE_METHODS = ("GET", "HEAD")


def _is_list(view) -> bool:
    action = getattr(view, "action", None)
    if action is not None:
        return action == "list"
    lookup = getattr(view, "lookup_url_kwarg", None) or getattr(view, "lookup_field", None)
    return hasattr(view, "get_queryset") and lookup not in getattr(view, "kwargs", {})


def _filterset_parameters(backend: DjangoFilterBackend, view, queryset) -> set[str]:
    filterset_class = backend.get_filterset_class(view, queryset)
    if filterset_class is None:
        return set()
    names = set()
    for name, filter_ in filterset_class.base_filters.items():
        suffixes = getattr(filter_.field.widget, "suffixes", None)
        names.update(f"{name}_{suffix}" if suffix else name for suffix in suffixes or [""])
    return names


def _backend_parameters(view, request: Request, queryset) -> set[str]:
    names = set()
    for backend_class in getattr(view, "filter_backends", ()):
        backend = backend_class()
        if isinstance(backend, StrictInputsFilter):
            continue
        if isinstance(backend, DjangoFilterBackend):
            if queryset is not None:
                names |= _filterset_parameters(backend, view, queryset)
        elif isinstance(backend, OrderingFilter):
            if getattr(view, "ordering_fields", None) or getattr(view, "ordering", None):
                names.add(backend.ordering_param)
        elif isinstance(backend, SearchFilter):
            if backend.get_search_fields(view, request):
                names.add(backend.search_param)
        elif hasattr(backend, "get_schema_operation_parameters"):
            names.update(p["name"] for p in backend.get_schema_operation_parameters(view))
    return names


def allowed_query_parameters(view, request: Request, queryset=None) -> set[str]:
    """The query parameters ``view`` takes for ``request`` (see the module)."""
    names = set(getattr(view, "extra_query_parameters", ()))
    query_serializer = getattr(view, "query_serializer", None)
    if query_serializer is not None:
        names.update(query_serializer().fields)
    renderers = getattr(view, "renderer_classes", ())
    if api_settings.URL_FORMAT_OVERRIDE and any(getattr(r, "format", None) for r in renderers):
        names.add(api_settings.URL_FORMAT_OVERRIDE)
    if _is_list(view):
        names |= _backend_parameters(view, request, queryset)
        paginator = getattr(view, "paginator", None)
        if paginator is not None:
            names.update(p["name"] for p in paginator.get_schema_operation_parameters(view))
    return names


def refuse_unknown_parameters(view, request: Request, queryset=None) -> None:
    """A 400 naming every query parameter of a read that ``view`` does not take."""
    if request.method not in SAFE_METHODS:
        return
    allowed = allowed_query_parameters(view, request, queryset)
    unknown = sorted(name for name in request.query_params if name not in allowed)
    if not unknown:
        return
    detail = _("Unknown parameter; the parameters taken are: %(names)s.") % {
        "names": ", ".join(sorted(allowed)) or "-"
    }
    raise exceptions.ValidationError(
        {name: [exceptions.ErrorDetail(detail, code=UNKNOWN_PARAMETER)] for name in unknown}
    )


def parse_body(request: Request) -> None:
    """Reads a write's body now: a media type no parser of the view takes is a 415 (and a
    body that is not JSON a 400) even if the view never reads the body."""
    if request.method not in (*SAFE_METHODS, "OPTIONS"):
        request.data  # noqa: B018 -- parsing is the point


def refuse_body(request: Request) -> None:
    """A 400 naming every field sent to an action that takes no body (submit, approve,
    close, publish): a field there would be ignored, which hides a client's mistake."""
    data = request.data
    fields = list(data) if hasattr(data, "keys") else ([] if not data else ["non_field_errors"])
    if fields:
        detail = _("This action takes no body: leave out this field.")
        raise exceptions.ValidationError(
            {name: [exceptions.ErrorDetail(detail, code="unknown_field")] for name in fields}
        )


class StrictInputsFilter(BaseFilterBackend):
    """Runs before the other filter backends on every list and detail of a generic view:
    refuses unknown query parameters of reads and parses the body of writes."""

    def filter_queryset(self, request: Request, queryset, view):
        refuse_unknown_parameters(view, request, queryset)
        parse_body(request)
        return queryset

    def get_schema_operation_parameters(self, view) -> list:
        return []


class StrictQueryMixin:
    """For views that are not filtered (``APIView``\\ s, actions with ``filter_backends=[]``):
    the same refusal, before the handler runs."""

    extra_query_parameters: Iterable[str] = ()

    def initial(self, request: Request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)
        if not getattr(self, "filter_backends", None):
            refuse_unknown_parameters(self, request, None)


def checked_body(serializer_class, request: Request, **context) -> dict:
    """The body's fields as ``serializer_class`` validates them, unknown ones refused (a 400
    naming them). ``context`` reaches the serializer beside the request."""
    data = request.data if hasattr(request.data, "keys") else {}
    serializer = serializer_class(data=request.data, context={"request": request, **context})
    serializer.is_valid(raise_exception=True)
    unknown = sorted(set(data) - set(serializer.fields))
    if unknown:
        detail = _("Unknown field.")
        raise exceptions.ValidationError(
            {name: [exceptions.ErrorDetail(detail, code="unknown_field")] for name in unknown}
        )
    return serializer.validated_data
