"""Admin pages of the e-mail notifications.

- E-mails sent (``EmailNotification``), read-only: the superuser sees every one, a plan's
  secretariat those of its plan (``policy.email_notifications_visible_to``); nobody adds,
  changes or deletes one here. Failed ones can be sent again (an action).
- Notification preferences (``NotificationPreference``): each member turns the kinds of
  e-mail on or off for themself (a row per kind is made when they open the list); the
  superuser sees and changes everyone's.
"""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from evaluations import notifications, policy
from evaluations.models import EmailNotification, EmailState, NotificationPreference
from initiatives.access import actor_for
from initiatives.admin_site import may_use_admin


@admin.register(EmailNotification)
class EmailNotificationAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "kind",
        "address",
        "subject",
        "state",
        "attempts",
        "sent_at",
        "plan",
        "department",
    )
    list_filter = ("state", "kind", "plan")
    list_select_related = ("plan", "department")
    search_fields = ("address", "subject", "recipient__username")
    date_hierarchy = "created_at"
    fields = (
        "kind",
        "key",
        "recipient",
        "address",
        "subject",
        "body",
        "plan",
        "round",
        "evaluation",
        "department",
        "state",
        "attempts",
        "error",
        "created_at",
        "last_attempt_at",
        "sent_at",
    )
    readonly_fields = fields
    actions = ("send_again",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[EmailNotification]:
        return policy.email_notifications_visible_to(actor_for(request)).select_related(
            "plan", "department", "recipient", "round", "evaluation"
        )

    def _may_view(self, request: HttpRequest) -> bool:
        return may_use_admin(request.user) and actor_for(request).is_any_secretariat

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._may_view(request)

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return self._may_view(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_resend_permission(self, request: HttpRequest) -> bool:
        return self._may_view(request)

    @admin.action(description="再送（送信失敗のメール）", permissions=["resend"])
    def send_again(self, request: HttpRequest, queryset: QuerySet[EmailNotification]) -> None:
        count = notifications.send_again(queryset.filter(state=EmailState.FAILED))
        self.message_user(request, f"{count}件のメールを再送します。", messages.SUCCESS)


@admin.register(NotificationPreference)
class NotificationPreferenceAdmin(admin.ModelAdmin):
    list_display = ("user", "kind", "enabled")
    list_editable = ("enabled",)
    list_filter = ("kind", "enabled")
    list_select_related = ("user",)
    search_fields = ("user__username", "user__email")
    raw_id_fields = ("user",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[NotificationPreference]:
        actor = actor_for(request)
        return policy.notification_preferences_visible_to(actor).select_related("user")

    def changelist_view(self, request: HttpRequest, extra_context=None):
        if request.user.is_authenticated:
            notifications.ensure_preferences(request.user)
        return super().changelist_view(request, extra_context)

    def get_readonly_fields(self, request: HttpRequest, obj=None) -> tuple[str, ...]:
        if request.user.is_superuser:
            return ()
        return ("user", "kind")

    def has_module_permission(self, request: HttpRequest) -> bool:
        return may_use_admin(request.user)

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return may_use_admin(request.user) and self._own(request, obj)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return may_use_admin(request.user) and self._own(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.is_superuser

    @staticmethod
    def _own(request: HttpRequest, obj: NotificationPreference | None) -> bool:
        return obj is None or request.user.is_superuser or obj.user_id == request.user.pk
