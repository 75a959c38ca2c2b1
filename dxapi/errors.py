"""Error pages: JSON, in the API's error format, for API paths; Django's pages elsewhere."""

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views import defaults


def state_shown(value: str, label: str | None) -> str:
    """A record's state as a message names it: the model's label (Japanese, 「受付中」) for a
    Japanese reader, the value (``open``) for others, to whom the label would mean nothing."""
    if label and (get_language() or "").split("-")[0] == "ja":
        return str(label)
    return value


class StateConflict(Exception):
    """An action that the record's current state does not allow (HTTP 409); the apps raise
    their own subclasses. ``state_label`` is the state's display label, when the raiser has
    the record (``get_status_display()``)."""

    def __init__(self, message: str, *, current_state: str, state_label: str | None = None):
        super().__init__(message)
        self.current_state = current_state
        self.state_label = state_label

    @property
    def state_shown(self) -> str:
        return state_shown(self.current_state, self.state_label)


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def error_body(code: str, detail: str, *, type_: str = "client_error") -> dict:
    return {"type": type_, "errors": [{"code": code, "detail": detail, "attr": None}]}


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return JsonResponse(error_body("not_found", _("No such resource.")), status=404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        body = error_body("error", _("A server error occurred."), type_="server_error")
        return JsonResponse(body, status=500)
    return defaults.server_error(request)


def validation_body(error: ValidationError) -> dict:
    """The API's 400 body for a Django ``ValidationError`` raised where no request is (a job),
    one error per field and message, as ``exceptions`` renders it for a request."""
    errors = [
        {
            "code": "invalid",
            "detail": str(message),
            "attr": None if field == NON_FIELD_ERRORS else field,
        }
        for field, messages in error.message_dict.items()
        for message in messages
    ]
    return {"type": "validation_error", "errors": errors}
