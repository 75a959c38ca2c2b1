"""Webhooks of a plan, managed by its secretariat (users and secretariat API keys): the
subscriptions (``/api/v1/webhooks/``; the secret is in the answer of a create and of
``rotate-secret`` only), and their deliveries with each attempt
(``/api/v1/webhook-deliveries/``; ``redeliver`` sends one again with the same
``webhook-id``). Others see none of them (404), and may not create one (403). The rules and
the sending are ``evaluations.webhooks``'."""

from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from dxapi.filters import id_or_code
from dxapi.strict import checked_body, refuse_body
from evaluations import webhooks
from evaluations.api.filters import WebhookDeliveryFilter, WebhookSubscriptionFilter
from evaluations.models import (
    EventKind,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
)
from evaluations.policy import (
    plans_visible_to,
    webhook_deliveries_visible_to,
    webhook_subscriptions_visible_to,
)
from initiatives.access import actor_for
from initiatives.api.permissions import IsAuthenticatedActor


class WebhookSubscriptionSerializer(serializers.ModelSerializer):
    plan_code = serializers.CharField(source="plan.code", read_only=True)
    kinds = serializers.ListField(
        child=serializers.ChoiceField(choices=EventKind.choices),
        help_text="The event kinds sent; empty: every kind.",
    )

    class Meta:
        model = WebhookSubscription
        fields = [
            "id",
            "plan",
            "plan_code",
            "url",
            "kinds",
            "description",
            "is_active",
            "failure_count",
            "failing_since",
            "paused_at",
            "paused_reason",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class WebhookCreatedSerializer(WebhookSubscriptionSerializer):
    secret = serializers.CharField(
        help_text="The signing secret (`whsec_…`): shown this once, keep it."
    )

    class Meta(WebhookSubscriptionSerializer.Meta):
        fields = [*WebhookSubscriptionSerializer.Meta.fields, "secret"]
        read_only_fields = fields


class PlanField(serializers.CharField):
    """A plan by id or code, among those the caller may see (else 400)."""

    def to_internal_value(self, data):
        value = super().to_internal_value(str(data) if isinstance(data, int) else data)
        if "\x00" in value:  # no code holds one, and PostgreSQL refuses it in a query
            raise serializers.ValidationError(_("No such plan."))
        plans = plans_visible_to(actor_for(self.context["request"]))
        plan = plans.filter(**id_or_code(value)).first()
        if plan is None:
            raise serializers.ValidationError(_("No such plan."))
        return plan


class WebhookCreateSerializer(serializers.Serializer):
    plan = PlanField(help_text="Plan id or code.")
    url = serializers.CharField(max_length=2000, help_text="An http or https URL.")
    kinds = serializers.ListField(
        child=serializers.ChoiceField(choices=EventKind.choices),
        required=False,
        default=list,
        help_text="The event kinds to send; empty or absent: every kind.",
    )
    description = serializers.CharField(
        max_length=200, required=False, default="", allow_blank=True
    )


class WebhookUpdateSerializer(serializers.Serializer):
    url = serializers.CharField(max_length=2000, required=False)
    kinds = serializers.ListField(
        child=serializers.ChoiceField(choices=EventKind.choices), required=False
    )
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)
    is_active = serializers.BooleanField(
        required=False,
        help_text="false pauses the webhook; true resumes it (its failure count restarts and "
        "what was owed is sent).",
    )


class WebhookSecretSerializer(serializers.Serializer):
    secret = serializers.CharField(help_text="The new signing secret: shown this once.")


DESCRIPTION = (
    "The plan's secretariat subscribes URLs to the plan's events; each event is POSTed to "
    "every active webhook that wants its kind, signed per Standard Webhooks (`webhook-id`, "
    "`webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256>`), retried with "
    "exponential backoff until a 2xx; a webhook that keeps failing is paused. URLs must be "
    "http(s) and lead to public addresses (unless the service allows private ones)."
)


@extend_schema_view(
    list=extend_schema(summary="List webhooks", description=DESCRIPTION),
    retrieve=extend_schema(summary="Retrieve a webhook", description=DESCRIPTION),
    destroy=extend_schema(summary="Delete a webhook", description=DESCRIPTION),
)
class WebhookSubscriptionViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = WebhookSubscriptionSerializer
    permission_classes = [IsAuthenticatedActor]
    filterset_class = WebhookSubscriptionFilter
    ordering_fields = ["id", "created_at"]
    ordering = ["id"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return webhook_subscriptions_visible_to(actor_for(self.request)).select_related("plan")

    @extend_schema(
        summary="Create a webhook",
        description=DESCRIPTION + " The answer carries the secret, this once.",
        request=WebhookCreateSerializer,
        responses={201: WebhookCreatedSerializer},
    )
    def create(self, request: Request) -> Response:
        data = checked_body(WebhookCreateSerializer, request)
        subscription, secret = webhooks.subscription_create(actor=actor_for(request), **data)
        subscription.secret = secret
        return Response(WebhookCreatedSerializer(subscription).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Change, pause or resume a webhook",
        description=DESCRIPTION,
        request=WebhookUpdateSerializer,
        responses=WebhookSubscriptionSerializer,
    )
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        subscription = self.get_object()
        data = checked_body(WebhookUpdateSerializer, request)
        subscription = webhooks.subscription_update(
            actor=actor_for(request), subscription=subscription, data=data
        )
        return Response(WebhookSubscriptionSerializer(subscription).data)

    def perform_destroy(self, instance: WebhookSubscription) -> None:
        webhooks.subscription_delete(actor=actor_for(self.request), subscription=instance)

    @extend_schema(
        summary="Rotate a webhook's secret",
        description="A new signing secret, shown this once; the old one signs nothing more.",
        request=None,
        responses=WebhookSecretSerializer,
    )
    @action(detail=True, methods=["post"], url_path="rotate-secret", url_name="rotate-secret")
    def rotate_secret(self, request: Request, pk: str | None = None) -> Response:
        subscription = self.get_object()
        refuse_body(request)
        secret = webhooks.secret_rotate(actor=actor_for(request), subscription=subscription)
        return Response({"secret": secret})


class WebhookAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookAttempt
        fields = ["attempted_at", "status_code", "duration_ms", "error", "response_excerpt"]
        read_only_fields = fields


class WebhookDeliverySerializer(serializers.ModelSerializer):
    kind = serializers.CharField(source="event.kind", read_only=True)
    attempt_log = WebhookAttemptSerializer(many=True, read_only=True)

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "subscription",
            "event",
            "kind",
            "webhook_id",
            "state",
            "attempts",
            "next_attempt_at",
            "last_status_code",
            "last_error",
            "created_at",
            "delivered_at",
            "attempt_log",
        ]
        read_only_fields = fields


@extend_schema_view(
    list=extend_schema(summary="List webhook deliveries", description=DESCRIPTION),
    retrieve=extend_schema(summary="Retrieve a webhook delivery", description=DESCRIPTION),
)
class WebhookDeliveryViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = WebhookDeliverySerializer
    permission_classes = [IsAuthenticatedActor]
    filterset_class = WebhookDeliveryFilter
    ordering_fields = ["id"]
    ordering = ["-id"]

    def get_queryset(self):
        return (
            webhook_deliveries_visible_to(actor_for(self.request))
            .select_related("event")
            .prefetch_related("attempt_log")
        )

    @extend_schema(
        summary="Redeliver",
        description="Send the delivery again, with the same `webhook-id` and a fresh count of "
        "attempts (409 while its webhook is paused).",
        request=None,
        responses={202: WebhookDeliverySerializer},
    )
    @action(detail=True, methods=["post"])
    def redeliver(self, request: Request, pk: str | None = None) -> Response:
        delivery = self.get_object()
        refuse_body(request)
        delivery = webhooks.delivery_redeliver(actor=actor_for(request), delivery=delivery)
        delivery = self.get_queryset().get(pk=delivery.pk)
        return Response(WebhookDeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)
