"""One error format for the whole API (drf-standardized-errors), with the domain's errors
mapped: a refused workflow transition or a protected delete is 409, a Django validation
error is 400 naming its fields."""

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import ProtectedError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_standardized_errors.handler import ExceptionHandler
from drf_standardized_errors.openapi_serializers import ClientErrorEnum
from rest_framework import exceptions, serializers, status
from rest_framework.serializers import as_serializer_error
from rest_framework.settings import api_settings

from dxapi.errors import StateConflict
from dxapi.etags import PreconditionFailed, PreconditionRequired
from dxapi.versions import StaleVersion, VersionRequired


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"
    default_detail = gettext_lazy("The request conflicts with the current state.")


class DomainExceptionHandler(ExceptionHandler):
    def convert_known_exceptions(self, exc: Exception) -> Exception:
        if isinstance(exc, StateConflict):
            detail = _("%(message)s (current state: %(state)s)") % {
                "message": exc,
                "state": exc.state_shown,
            }
            return Conflict(detail, code="invalid_state")
        if isinstance(exc, VersionRequired):
            return PreconditionRequired()
        if isinstance(exc, StaleVersion):
            return PreconditionFailed(
                _("The record has changed (now version %(version)s): fetch it again.")
                % {"version": exc.current_version}
            )
        if isinstance(exc, ProtectedError):
            return Conflict(_("It is still in use (e.g. by evaluations) and cannot be deleted."))
        if isinstance(exc, DjangoPermissionDenied):
            return exceptions.PermissionDenied(str(exc) or None)
        if isinstance(exc, DjangoValidationError):
            errors = as_serializer_error(exc)
            # A model's own checks (constraints, clean()) speak of the record as a whole.
            if NON_FIELD_ERRORS in errors:
                errors[api_settings.NON_FIELD_ERRORS_KEY] = errors.pop(NON_FIELD_ERRORS)
            return exceptions.ValidationError(errors)
        return super().convert_known_exceptions(exc)


class ClientErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField()
    detail = serializers.CharField()
    attr = serializers.CharField(allow_null=True)


class ClientErrorResponseSerializer(serializers.Serializer):
    """The body of client errors that have no field: 409, 411, 412, 413, 428."""

    type = serializers.ChoiceField(choices=ClientErrorEnum.choices)
    errors = ClientErrorDetailSerializer(many=True)
