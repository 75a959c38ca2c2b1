"""Admin pages of the events and webhooks (``evaluations.events``, ``evaluations.webhooks``).

Who sees what is the API's rule (``policy``): events as the feed shows them; webhooks and
their deliveries to the plan's secretariat (and the superuser). The secretariat adds,
changes, pauses and deletes its plan's webhooks here through the same functions as the API:
the secret is shown once, in the message after adding the webhook or rotating its secret.
Deliveries are read-only, with their attempts; the "redeliver" action sends them again."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from evaluations import policy, webhooks
from evaluations.models import (
    Event,
    EventKind,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
)
from initiatives.access import actor_for
from initiatives.admin_site import may_use_admin


def _may_view(request: HttpRequest, permission: str) -> bool:
    user = request.user
    return may_use_admin(user) and (
        actor_for(request).is_any_secretariat
        or user.is_staff
        or user.has_perm(f"evaluations.{permission}")
    )


class ReadOnlyAdmin(admin.ModelAdmin):
    view_permission = ""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _may_view(request, self.view_permission)

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return _may_view(request, self.view_permission)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    view_permission = "view_event"
    list_display = ("id", "kind", "plan", "round", "evaluation", "created_at", "dispatched")
    list_filter = ("kind", "plan")
    list_select_related = ("plan", "round__plan", "evaluation__initiative", "evaluation__round")
    fields = ("kind", "plan", "round", "evaluation", "kpi", "payload", "created_at", "dispatched")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[Event]:
        return policy.events_visible_to(actor_for(request))


class WebhookSubscriptionForm(forms.ModelForm):
    url = forms.URLField(label=_("送信先URL"), max_length=2000, assume_scheme="https")
    kinds = forms.MultipleChoiceField(
        label=_("イベントの種類"),
        choices=EventKind.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("空欄はすべての種類"),
    )

    class Meta:
        model = WebhookSubscription
        fields = ("plan", "url", "kinds", "description", "is_active")

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        try:
            webhooks.validate_url(url)
        except ValidationError as error:
            raise ValidationError(error.message_dict["url"]) from None
        return url


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(admin.ModelAdmin):
    form = WebhookSubscriptionForm
    list_display = ("id", "plan", "url", "is_active", "failure_count", "paused_at", "created_at")
    list_filter = ("is_active", "plan")
    list_select_related = ("plan",)
    readonly_fields = (
        "failure_count",
        "failing_since",
        "paused_at",
        "paused_reason",
        "created_by",
        "created_by_key",
        "created_at",
    )
    actions = ("rotate_secret",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[WebhookSubscription]:
        return policy.webhook_subscriptions_visible_to(actor_for(request)).select_related("plan")

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return (*self.readonly_fields, "plan") if obj is not None else self.readonly_fields

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs):
        if db_field.name == "plan":
            kwargs["queryset"] = policy.plans_managed_by(actor_for(request))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def _may_manage(self, request: HttpRequest, obj: WebhookSubscription | None = None) -> bool:
        actor = actor_for(request)
        if not may_use_admin(request.user) or not actor.is_any_secretariat:
            return False
        return obj is None or actor.is_secretariat_of(obj.plan_id)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._may_manage(request)

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return self._may_manage(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._may_manage(request)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return self._may_manage(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return self._may_manage(request, obj)

    def save_model(self, request, obj: WebhookSubscription, form, change: bool) -> None:
        actor = actor_for(request)
        data = {name: form.cleaned_data[name] for name in form.changed_data if name != "plan"}
        if change:
            saved = webhooks.subscription_update(actor=actor, subscription=obj, data=data)
        else:
            saved, secret = webhooks.subscription_create(
                actor=actor,
                plan=form.cleaned_data["plan"],
                url=form.cleaned_data["url"],
                kinds=form.cleaned_data["kinds"],
                description=form.cleaned_data.get("description", ""),
            )
            if not form.cleaned_data.get("is_active", True):
                saved = webhooks.subscription_update(
                    actor=actor, subscription=saved, data={"is_active": False}
                )
            self._show_secret(request, secret)
        obj.pk = saved.pk
        obj.__dict__.update(saved.__dict__)

    def delete_model(self, request, obj: WebhookSubscription) -> None:
        webhooks.subscription_delete(actor=actor_for(request), subscription=obj)

    def delete_queryset(self, request, queryset) -> None:
        for obj in queryset:
            self.delete_model(request, obj)

    def _show_secret(self, request: HttpRequest, secret: str) -> None:
        messages.warning(
            request,
            _("署名用シークレット（この画面でのみ表示）: %(secret)s") % {"secret": secret},
        )

    @admin.action(description=_("署名用シークレットを再発行"))
    def rotate_secret(self, request: HttpRequest, queryset) -> None:
        for subscription in queryset:
            try:
                secret = webhooks.secret_rotate(actor=actor_for(request), subscription=subscription)
            except PermissionDenied as refusal:
                messages.error(request, str(refusal))
                continue
            messages.warning(
                request,
                _("%(webhook)s の新しい署名用シークレット（この画面でのみ表示）: %(secret)s")
                % {"webhook": subscription, "secret": secret},
            )


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    fields = ("attempted_at", "status_code", "duration_ms", "error", "response_excerpt")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    view_permission = "view_webhookdelivery"
    list_display = (
        "id",
        "webhook_id",
        "subscription",
        "event",
        "state",
        "attempts",
        "last_status_code",
        "next_attempt_at",
        "delivered_at",
    )
    list_filter = ("state",)
    list_select_related = ("subscription", "event")
    fields = (
        "subscription",
        "event",
        "webhook_id",
        "state",
        "attempts",
        "next_attempt_at",
        "last_status_code",
        "last_error",
        "created_at",
        "delivered_at",
    )
    readonly_fields = fields
    inlines = (WebhookAttemptInline,)
    actions = ("redeliver",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[WebhookDelivery]:
        return policy.webhook_deliveries_visible_to(actor_for(request))

    def get_actions(self, request: HttpRequest):
        # Actions need the change permission by default: this one asks the policy instead.
        actions = super().get_actions(request)
        if actor_for(request).is_any_secretariat:
            actions["redeliver"] = self.get_action("redeliver")
        return actions

    @admin.action(description=_("再送"))
    def redeliver(self, request: HttpRequest, queryset) -> None:
        for delivery in queryset:
            try:
                webhooks.delivery_redeliver(actor=actor_for(request), delivery=delivery)
            except (PermissionDenied, webhooks.DeliveryConflict) as refusal:
                messages.error(request, f"{delivery}: {refusal}")
        messages.info(request, _("選択した配信を再送します。"))


@admin.register(WebhookAttempt)
class WebhookAttemptAdmin(ReadOnlyAdmin):
    view_permission = "view_webhookattempt"
    list_display = ("delivery", "attempted_at", "status_code", "duration_ms", "error")
    list_select_related = ("delivery",)
    fields = ("delivery", "attempted_at", "status_code", "duration_ms", "error", "response_excerpt")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[WebhookAttempt]:
        deliveries = policy.webhook_deliveries_visible_to(actor_for(request))
        return WebhookAttempt.objects.filter(delivery__in=deliveries)
