"""The caller's own e-mail notification preferences: ``GET`` and ``PUT
/api/v1/me/notifications/``. Each kind of e-mail (``evaluations.notifications``) is on unless
the user turned it off. Preferences belong to a person: an API key has none (403)."""

from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from dxapi.serializer_fields import StrictSerializer
from dxapi.strict import StrictQueryMixin
from evaluations import notifications
from initiatives.access import actor_for
from initiatives.api.permissions import IsAuthenticatedActor


class JsonBooleanField(serializers.BooleanField):
    """``true`` or ``false`` only: DRF would also take ``"yes"``, ``"0"`` or ``1``."""

    def to_internal_value(self, data) -> bool:
        if not isinstance(data, bool):
            raise serializers.ValidationError(_("Must be true or false."), code="invalid")
        return data


class NotificationPreferencesSerializer(StrictSerializer):
    round_opened = JsonBooleanField(
        help_text="A round of a plan opened (to the members of its departments)."
    )
    evaluation_returned = JsonBooleanField(
        help_text="An evaluation of one's department was returned, with the comment."
    )
    due_soon = JsonBooleanField(
        help_text="The department's due date is near and evaluations are not submitted."
    )
    overdue = JsonBooleanField(
        help_text="The department's due date passed and evaluations are not submitted (daily)."
    )
    digest = JsonBooleanField(
        help_text="Secretariat: the daily digest of submissions, returns and approvals."
    )
    webhook_paused = JsonBooleanField(
        help_text="Secretariat: a webhook of the plan was paused after failing deliveries."
    )


DESCRIPTION = (
    "The caller's own e-mail notifications, one switch per kind: `true` (the default) "
    "receives that kind, `false` does not. `PUT` sets every kind. E-mails go to the user's "
    "address, only while the account is active. A user's own only: API keys get 403."
)


class MeViewSet(StrictQueryMixin, viewsets.GenericViewSet):
    """What belongs to the calling user."""

    permission_classes = [IsAuthenticatedActor]
    filter_backends: list = []
    pagination_class = None
    serializer_class = NotificationPreferencesSerializer
    metadata_class = None  # no OPTIONS description: there is no queryset to describe

    def _user(self, request: Request):
        actor = actor_for(request)
        if actor.user is None:
            raise PermissionDenied(
                _("Notification preferences are a user's own: an API key has none.")
            )
        return actor.user

    @extend_schema(
        methods=["GET"],
        summary="Get my notification preferences",
        description=DESCRIPTION,
        responses=NotificationPreferencesSerializer,
    )
    @extend_schema(
        methods=["PUT"],
        summary="Set my notification preferences",
        description=DESCRIPTION,
        request=NotificationPreferencesSerializer,
        responses=NotificationPreferencesSerializer,
    )
    @action(detail=False, methods=["get", "put"], url_path="notifications")
    def notifications(self, request: Request) -> Response:
        user = self._user(request)
        if request.method == "PUT":
            data = NotificationPreferencesSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            return Response(notifications.preferences_save(user, data.validated_data))
        return Response(notifications.preferences_of(user))
