"""Admin list of jobs (imports and exports run after their request), read-only.

Who sees which job is the API's rule (``policy.jobs_visible_to``): the superuser every job,
the plan's secretariat every job of its plan, any other member its own jobs. The page is
offered to the superuser, staff and the secretariats; nobody adds, changes or deletes a job
here (the expiry task deletes them)."""

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from evaluations import policy
from evaluations.models import Job
from initiatives.access import actor_for
from initiatives.admin_site import may_use_admin


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "kind",
        "plan",
        "state",
        "done",
        "total",
        "requested_by",
        "api_key",
        "created_at",
        "finished_at",
        "expires_at",
    )
    list_filter = ("state", "kind", "plan")
    list_select_related = ("plan", "requested_by", "api_key")
    date_hierarchy = "created_at"
    fields = (
        "kind",
        "plan",
        "state",
        "stage",
        "done",
        "total",
        "attempts",
        "requested_by",
        "api_key",
        "request_id",
        "params",
        "result",
        "error",
        "result_file",
        "created_at",
        "started_at",
        "finished_at",
        "expires_at",
    )
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[Job]:
        return policy.jobs_visible_to(actor_for(request)).select_related(
            "plan", "requested_by", "api_key"
        )

    def _may_view(self, request: HttpRequest) -> bool:
        actor = actor_for(request)
        user = request.user
        return may_use_admin(user) and (
            actor.is_any_secretariat or user.is_staff or user.has_perm("evaluations.view_job")
        )

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._may_view(request)

    def has_view_permission(self, request: HttpRequest, obj: Job | None = None) -> bool:
        return self._may_view(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Job | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Job | None = None) -> bool:
        return False
