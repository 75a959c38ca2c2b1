"""Admin pages of citizens' opinions and their analyses (``evaluations.listening``).

Who sees what is the API's rule (``policy``): the plan's secretariat every opinion, with its
original text; department members the masked opinions about their initiatives, read-only.
The secretariat moderates and links opinions, and runs, publishes and withdraws analyses,
through the same services as the API."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from dxapi.errors import StateConflict
from evaluations import policy
from evaluations.listening import intake, runs
from evaluations.models import Opinion, OpinionAnalysis, OpinionCluster, OpinionStatus
from initiatives.access import actor_for
from initiatives.admin_site import may_use_admin

SECRETARIAT_EDITS = ("status", "hidden_reason", "body", "confirmed_initiative")


def _may_view(request: HttpRequest) -> bool:
    actor = actor_for(request)
    return may_use_admin(request.user) and (
        actor.is_superuser or actor.is_any_secretariat or bool(actor.readable_department_ids)
    )


def _is_secretariat(request: HttpRequest, plan_id: int | None = None) -> bool:
    actor = actor_for(request)
    if not may_use_admin(request.user):
        return False
    if plan_id is None:
        return actor.is_superuser or actor.is_any_secretariat
    return actor.is_secretariat_of(plan_id)


class OpinionForm(forms.ModelForm):
    class Meta:
        model = Opinion
        fields = SECRETARIAT_EDITS

    def clean(self) -> dict:
        data = super().clean()
        if "status" in data:
            try:
                intake.moderation_validate(data["status"], data.get("hidden_reason", ""))
            except ValidationError as error:
                for field, messages_ in error.message_dict.items():
                    self.add_error(field if field in self.fields else None, messages_)
        return data


@admin.register(Opinion)
class OpinionAdmin(admin.ModelAdmin):
    form = OpinionForm
    list_display = (
        "id",
        "plan",
        "status",
        "excerpt",
        "initiative",
        "confirmed_initiative",
        "age_band",
        "municipality",
        "submitted_at",
    )
    list_filter = ("status", "source", "age_band", "plan")
    list_select_related = ("plan", "initiative", "confirmed_initiative")
    search_fields = ("body",)
    actions = ("publish_selected",)

    @admin.display(description=_("意見"))
    def excerpt(self, opinion: Opinion) -> str:
        return opinion.body if len(opinion.body) <= 60 else opinion.body[:60] + "…"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Opinion]:
        return policy.opinions_visible_to(actor_for(request)).select_related(
            "plan", "initiative", "confirmed_initiative", "policy_area"
        )

    def get_fields(self, request: HttpRequest, obj: Opinion | None = None):
        shown = ["plan", "receipt", "body", "initiative", "policy_area", "age_band"]
        shown += ["municipality", "submitted_at", "status", "hidden_reason"]
        shown += ["confirmed_initiative", "version"]
        if obj is not None and policy.may_see_original_opinion(actor_for(request), obj):
            shown += ["original_body", "personal_data", "consent_to_publish", "source"]
        return shown

    def get_readonly_fields(self, request: HttpRequest, obj: Opinion | None = None):
        fields = self.get_fields(request, obj)
        if obj is not None and _is_secretariat(request, obj.plan_id):
            return [name for name in fields if name not in SECRETARIAT_EDITS]
        return fields

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs):
        if db_field.name == "confirmed_initiative":
            obj_id = (
                request.resolver_match.kwargs.get("object_id") if request.resolver_match else None
            )
            opinion = Opinion.objects.filter(pk=obj_id).only("plan_id").first()
            if opinion is not None:
                kwargs["queryset"] = opinion.plan.initiatives.order_by("number")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _may_view(request)

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return _may_view(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # opinions come from citizens (the API) or a CSV import

    def has_change_permission(self, request: HttpRequest, obj: Opinion | None = None) -> bool:
        if obj is None:
            return _is_secretariat(request)
        return _is_secretariat(request, obj.plan_id)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # hidden with a reason, never deleted

    def save_model(self, request: HttpRequest, obj: Opinion, form, change: bool) -> None:
        data = {name: form.cleaned_data[name] for name in form.changed_data}
        if not data:
            return
        if "hidden_reason" in data:
            data["status"] = form.cleaned_data["status"]
        current = intake.opinion_update(
            actor=actor_for(request),
            opinion=Opinion.objects.get(pk=obj.pk),
            data=data,
            expected_version=form.initial.get("version", obj.version),
        )
        obj.__dict__.update(current.__dict__)

    @admin.action(description=_("選択した意見を公開"))
    def publish_selected(self, request: HttpRequest, queryset) -> None:
        done = 0
        for opinion in queryset:
            try:
                intake.opinion_update(
                    actor=actor_for(request),
                    opinion=opinion,
                    data={"status": OpinionStatus.PUBLISHED},
                )
                done += 1
            except (PermissionDenied, ValidationError) as refusal:
                messages.error(request, f"#{opinion.pk}: {refusal}")
        messages.success(request, _("%(count)d件を公開しました。") % {"count": done})


class OpinionClusterInline(admin.TabularInline):
    model = OpinionCluster
    fields = ("key", "level", "parent_key", "size", "label", "terms", "takeaway")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class AnalysisRequestForm(forms.ModelForm):
    title = forms.CharField(
        label=_("題名"), max_length=200, required=False, help_text=_("空欄は年度と日付から")
    )

    class Meta:
        model = OpinionAnalysis
        fields = ("plan", "title", "seed")


@admin.register(OpinionAnalysis)
class OpinionAnalysisAdmin(admin.ModelAdmin):
    form = AnalysisRequestForm
    list_display = ("id", "plan", "title", "state", "opinion_count", "is_published", "page")
    list_filter = ("state", "is_published", "plan")
    list_select_related = ("plan",)
    inlines = (OpinionClusterInline,)
    actions = ("publish_selected", "unpublish_selected")
    readonly_fields = (
        "state",
        "opinion_count",
        "parameters",
        "overview",
        "llm_model",
        "llm_errors",
        "error",
        "is_published",
        "published_at",
        "job",
        "created_at",
        "finished_at",
        "page",
    )

    @admin.display(description=_("ページ"))
    def page(self, analysis: OpinionAnalysis) -> str:
        if analysis.pk is None or analysis.state != "succeeded":
            return "-"
        url = reverse("opinion-analysis-page", args=[analysis.pk])
        return format_html('<a href="{}">{}</a>', url, _("結果を表示"))

    def get_queryset(self, request: HttpRequest) -> QuerySet[OpinionAnalysis]:
        return policy.opinion_analyses_visible_to(actor_for(request)).select_related("plan")

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        if obj is not None:
            return ("plan", "title", "seed", *self.readonly_fields)
        return ()

    def get_fields(self, request: HttpRequest, obj=None):
        return ("plan", "title", "seed") if obj is None else super().get_fields(request, obj)

    def get_inlines(self, request: HttpRequest, obj=None):
        return self.inlines if obj is not None else ()

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs):
        if db_field.name == "plan":
            kwargs["queryset"] = policy.plans_managed_by(actor_for(request))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _is_secretariat(request)

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return _is_secretariat(request, None if obj is None else obj.plan_id)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return _is_secretariat(request)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # an analysis is what it found; publish or withdraw it (actions)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: OpinionAnalysis, form, change: bool) -> None:
        saved = runs.analysis_request(
            actor=actor_for(request),
            plan=form.cleaned_data["plan"],
            title=form.cleaned_data.get("title", ""),
            seed=form.cleaned_data.get("seed") or 0,
        )
        obj.pk = saved.pk
        obj.__dict__.update(saved.__dict__)

    def _publication(self, request: HttpRequest, queryset, service) -> None:
        for analysis in queryset:
            try:
                service(actor=actor_for(request), analysis=analysis)
            except (PermissionDenied, StateConflict) as refusal:
                messages.error(request, f"{analysis}: {refusal}")

    @admin.action(description=_("選択した分析を公開"))
    def publish_selected(self, request: HttpRequest, queryset) -> None:
        self._publication(request, queryset, runs.analysis_publish)

    @admin.action(description=_("選択した分析の公開を取り下げ"))
    def unpublish_selected(self, request: HttpRequest, queryset) -> None:
        self._publication(request, queryset, runs.analysis_unpublish)
