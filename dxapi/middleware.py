"""Request id: accepted from the caller's ``X-Request-ID`` when well-formed, else generated.

The id is returned in the response header, kept on the request and in a context variable so
that log records and change history can carry it.
"""

import contextvars
import logging
import re
import uuid
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import translation
from django.utils.translation import gettext as _

from dxapi.errors import error_body

REQUEST_ID_HEADER = "X-Request-ID"
_WELL_FORMED = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")
_current_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
_current_api_key: contextvars.ContextVar[str] = contextvars.ContextVar("api_key", default="")


def current_request_id() -> str:
    """The id of the request being served, or ``"-"`` outside a request."""
    return _current_request_id.get()


def current_api_key() -> str:
    """The prefix of the API key the request authenticated with, or ``""``."""
    return _current_api_key.get()


def set_current_api_key(prefix: str) -> None:
    _current_api_key.set(prefix)


def accept_or_generate(candidate: str | None) -> str:
    if candidate and _WELL_FORMED.match(candidate):
        return candidate
    return uuid.uuid4().hex


class RequestIDMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = accept_or_generate(request.headers.get(REQUEST_ID_HEADER))
        request.request_id = request_id
        token = _current_request_id.set(request_id)
        key_token = _current_api_key.set("")
        try:
            response = self.get_response(request)
        finally:
            _current_request_id.reset(token)
            _current_api_key.reset(key_token)
        response[REQUEST_ID_HEADER] = request_id
        return response


class RequestIDLogFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id()
        return True


class RequestSizeLimitMiddleware:
    """Refuse bodies larger than the configured limit with 413, before anything reads them
    (DRF's parsers read the stream directly, past Django's own ``request.body`` check)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        limit = (
            settings.MAX_UPLOAD_BYTES
            if request.content_type == "multipart/form-data"
            else settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        )
        if "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
            # A chunked body has no length to check before it is read: ask for one.
            with self._callers_language(request):
                detail = _("Send the body with a Content-Length.")
            return JsonResponse(error_body("length_required", detail), status=411)
        if length > limit:
            with self._callers_language(request):
                detail = _("The request body is over %(limit)s bytes.") % {"limit": limit}
            return JsonResponse(error_body("request_too_large", detail), status=413)
        return self.get_response(request)

    @staticmethod
    def _callers_language(request: HttpRequest) -> translation.override:
        """This runs before ``LocaleMiddleware``: the caller's language, as it would choose."""
        return translation.override(translation.get_language_from_request(request))
