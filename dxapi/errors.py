"""Error pages: JSON, in the API's error format, for API paths; Django's pages elsewhere."""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults


class StateConflict(Exception):
    """An action that the record's current state does not allow (HTTP 409); the apps raise
    their own subclasses."""

    def __init__(self, message: str, *, current_state: str) -> None:
        super().__init__(message)
        self.current_state = current_state


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def error_body(code: str, detail: str, *, type_: str = "client_error") -> dict:
    return {"type": type_, "errors": [{"code": code, "detail": detail, "attr": None}]}


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return JsonResponse(error_body("not_found", "No such resource."), status=404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        body = error_body("error", "A server error occurred.", type_="server_error")
        return JsonResponse(body, status=500)
    return defaults.server_error(request)
