"""Admin for what happens each fiscal year: rounds, evaluations and KPI actuals.

Every page asks ``evaluations.policy`` (see ``initiatives.admin.PolicyAdmin``): a department
member sees what the API shows it; evaluations and KPI actuals are changed through
``evaluations.services`` (with the version the form was loaded at), the workflow (提出,
差戻し, 承認, 承認取消; 締切, 再開, 公表; opening a round) through buttons on the change pages
and actions on the lists, each a service call. Fields that only the workflow changes are
read-only but for the superuser, whose saves also go through ``evaluation_update`` when only
the content changes (and else are recorded as an override, with a new version). The
secretariat's reviewer fields (審査コメント, 提出者, 承認者) are written by its buttons: 差戻し
and 承認取消 take the comment, 提出 and 承認 record who and when.
"""

from datetime import datetime
from typing import Any

from django.contrib import admin, messages
from django.db import models, transaction
from django.db.models import QuerySet
from django.forms import BaseInlineFormSet
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _

from dxapi.versions import claim_version
from evaluations import policy, services
from evaluations.admin_forms import (
    EVALUATION_STEPS,
    ROUND_STEPS,
    EvaluationForm,
    KPIActualForm,
    RoundOpenForm,
    Step,
    WorkflowActionForm,
    conflict_text,
)
from evaluations.admin_views import (
    dashboard_view,
    import_view,
    may_exchange,
    suggestion_context,
    template_view,
    workflow_view,
)
from evaluations.models import (
    EVALUATION_EDITABLE_FIELDS,
    Evaluation,
    KPIActual,
    Round,
    RoundStatus,
)
from evaluations.policy import Action
from initiatives.access import Actor, actor_for, may_see_who_changed
from initiatives.admin import (
    PolicyAdmin,
    Refusal,
    decimal_label,
    fiscal_year_list_filter,
    restrict_inline_choices,
)
from initiatives.fiscal_years import long_label, short_label
from initiatives.models import KPI, Department

# What only the workflow (or the superuser) changes.
WORKFLOW_FIELDS = (
    "round",
    "initiative",
    "status",
    "review_comment",
    "submitted_by",
    "submitted_at",
    "approved_by",
    "approved_at",
    "note",
)


def allows(request: HttpRequest, action: Action, record: Evaluation | Round) -> bool:
    """``policy.allows``, asked once per request and record (pages ask it many times)."""
    cache = request.__dict__.setdefault("_dxapi_allows", {})
    key = (type(record).__name__, record.pk, action)
    if key not in cache:
        cache[key] = policy.allows(actor_for(request), action, record)
    return cache[key]


def differs(form, name: str) -> bool:
    """Whether a field's value really moved: a date and time shown to the second, and a
    user or record picked again, count as unchanged."""
    before, after = form.initial.get(name), form.cleaned_data.get(name)
    after = getattr(after, "pk", after)
    if isinstance(before, datetime) and isinstance(after, datetime):
        return before.replace(microsecond=0) != after.replace(microsecond=0)
    return before != after


def editable_now(actor: Actor) -> QuerySet[Evaluation]:
    """The evaluations whose KPI actuals the actor may add now: its role's, in an open round,
    draft or returned."""
    return (
        policy.evaluations_editable_by(actor)
        .filter(round__status=RoundStatus.OPEN, status__in=policy.EDITABLE_STATES)
        .select_related("round", "initiative")
        .order_by("-round__fiscal_year", "initiative__number")
    )


class CycleAdmin(PolicyAdmin):
    """A page of the yearly cycle: 409s named by state, workflow steps as buttons on the
    change page (``steps``, offered as ``policy.allowed_actions`` says) and as actions."""

    steps: dict[Action, Step] = {}
    action_form = WorkflowActionForm

    def conflict_text(self, error, verb: str, **context) -> str:
        return conflict_text(error, verb, **context)

    def may_revert(self, actor: Actor) -> bool:
        return policy.may_revert_history(actor)

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "<path:object_id>/workflow/<str:action>/",
                self.admin_site.admin_view(self.workflow_view),
                name="{}_{}_workflow".format(*info),
            ),
            *super().get_urls(),
        ]

    def workflow_view(self, request: HttpRequest, object_id: str, action: str):
        return workflow_view(self, request, object_id, action)

    def run_step(self, request, obj, step: Step, text: str, expected_version: int | None):
        raise NotImplementedError

    def workflow_steps(self, request: HttpRequest, obj) -> list[dict[str, Any]]:
        actor = self.actor(request)
        info = self.opts.app_label, self.opts.model_name
        return [
            {
                "action": action.value,
                "label": step.label,
                "text_label": step.text_label,
                "text_required": step.text_required or self.text_required(obj, step),
                "url": reverse("admin:{}_{}_workflow".format(*info), args=[obj.pk, action.value]),
            }
            for action in policy.allowed_actions(actor, obj)
            if (step := self.steps.get(action)) is not None
        ]

    def text_required(self, obj, step: Step) -> bool:
        return False

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if self.steps and obj is not None and obj.pk is not None:
            context["workflow_steps"] = self.workflow_steps(request, obj)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def run_selected(self, request: HttpRequest, queryset: QuerySet, action: Action) -> None:
        """A workflow action on each selected record, each through its service; what
        happened to each is reported."""
        step = self.steps[action]
        text = request.POST.get("comment", "").strip()
        done = []
        for obj in queryset:
            try:
                self.run_step(request, obj, step, text, None)
            except Refusal as refusal:
                messages.error(request, f"「{obj}」: {refusal.message}")
            else:
                done.append(str(obj))
        if done:
            messages.success(request, f"{len(done)}件を{step.verb}しました: {'、'.join(done)}")

    def override(self, request: HttpRequest, obj: models.Model, expected, reason: str) -> None:
        """The superuser's save of what the services do not change (or a revert to an old
        version): still a new version, with the reason in the history."""
        with self.refusing(), transaction.atomic():
            if obj.pk is not None and hasattr(obj, "version"):
                claim_version(obj, expected)
            obj._change_reason = reason
            obj.save()

    def save_record(self, request, obj) -> None:
        self.override(request, obj, None, getattr(obj, "_change_reason", None) or "admin")

    def delete_record(self, request, obj) -> None:
        with self.refusing("削除"):
            obj.delete()


# A round as everyone but the superuser sees it: it changes through the workflow only.
WORKFLOW_ROUND_FIELDS = (
    "plan",
    "fiscal_year_label",
    "status",
    "opened_at",
    "closed_at",
    "published_at",
    "department_due_date",
    "review_due_date",
)


# --- Rounds ---------------------------------------------------------------------------------


@admin.register(Round)
class RoundAdmin(CycleAdmin):
    """Rounds change only through the workflow: 年度ラウンドの開始 (the add page, by
    ``services.round_open``), 締切, 再開 and 公表 (buttons and actions). Only the superuser
    edits a round's fields."""

    list_display = ("plan", "fiscal_year", "fiscal_year_label", "status", "published_at")
    list_display_links = ("fiscal_year", "fiscal_year_label")
    list_filter = ("plan", fiscal_year_list_filter("fiscal_year"), "status")
    list_select_related = ("plan",)
    search_fields = ("plan__name", "plan__code", "fiscal_year__exact")
    ordering = ("plan", "-fiscal_year")
    steps = ROUND_STEPS
    actions = ("close_selected", "reopen_selected", "publish_selected")

    def scope(self, request, queryset):
        # ``Round.__str__`` reads the plan (also for autocomplete and delete pages).
        actor = self.actor(request)
        if not actor.is_superuser:
            queryset = queryset.filter(pk__in=policy.rounds_visible_to(actor).values("pk"))
        return queryset.select_related("plan")

    def plan_id(self, obj: Round) -> int:
        return obj.plan_id

    def may_see_who_changed(self, request, obj: Round) -> bool:
        departments = Department.objects.filter(plan_id=obj.plan_id).values_list("id", flat=True)
        return may_see_who_changed(
            self.actor(request), plan_id=obj.plan_id, department_ids=departments
        )

    def has_change_permission(self, request, obj=None) -> bool:
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or self.actor(request).is_superuser)

    def get_urls(self):
        return [
            path(
                "<path:object_id>/dashboard/",
                self.admin_site.admin_view(self.dashboard_view),
                name="evaluations_round_dashboard",
            ),
            *super().get_urls(),
        ]

    def dashboard_view(self, request: HttpRequest, object_id: str):
        return dashboard_view(self, request, object_id)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """The change page links to the round's dashboard for those who may see it."""
        round_ = self.get_object(request, object_id)
        if round_ is not None and policy.allows_dashboard(self.actor(request), round_):
            url = reverse("admin:evaluations_round_dashboard", args=[round_.pk])
            extra_context = {**(extra_context or {}), "dashboard_url": url}
        return super().change_view(request, object_id, form_url, extra_context)

    def has_workflow_permission(self, request) -> bool:
        return self.actor(request).is_any_secretariat

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = RoundOpenForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            description = (
                "計画と年度を選んで開始すると、計画のすべての取組に「作成中」の評価ができます。"
            )
            return [(None, {"fields": ("plan", "fiscal_year"), "description": description})]
        if not self.actor(request).is_superuser:
            return [(None, {"fields": WORKFLOW_ROUND_FIELDS})]
        return super().get_fieldsets(request, obj)

    def add_view(self, request, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "title": "年度ラウンドの開始"}
        return super().add_view(request, form_url, extra_context)

    def get_readonly_fields(self, request, obj=None):
        if obj is None or self.actor(request).is_superuser:
            return ()
        return WORKFLOW_ROUND_FIELDS

    def save_model(self, request, obj, form, change) -> None:
        if change:
            return super().save_model(request, obj, form, change)
        try:
            with self.refusing("開始"):
                opened = services.round_open(
                    actor=self.actor(request), plan=obj.plan, fiscal_year=obj.fiscal_year
                )
        except Refusal as refusal:
            if isinstance(refusal.__cause__, policy.WorkflowConflict):  # opened meanwhile
                raise Refusal(f"{long_label(obj.fiscal_year)}のラウンドは既にあります。") from None
            raise
        obj.pk, obj.status, obj.opened_at = opened.pk, opened.status, opened.opened_at
        count = opened.evaluations.count()
        messages.info(request, f"{long_label(opened.fiscal_year)}の評価を{count}件作成しました。")

    def text_required(self, obj: Round, step: Step) -> bool:
        return step.action == Action.REOPEN and obj.is_published

    def run_step(self, request, obj: Round, step: Step, text: str, expected_version=None):
        actor = self.actor(request)
        with self.refusing(step.verb, record=obj, action=step.action):
            match step.action:
                case Action.CLOSE:
                    services.round_close(actor=actor, round_=obj)
                case Action.REOPEN:
                    services.round_reopen(actor=actor, round_=obj, reason=text)
                case Action.PUBLISH:
                    services.round_publish(actor=actor, round_=obj)

    @admin.action(description="締切", permissions=("workflow",))
    def close_selected(self, request, queryset) -> None:
        self.run_selected(request, queryset, Action.CLOSE)

    @admin.action(description="再開（公表済は理由が必要）", permissions=("workflow",))
    def reopen_selected(self, request, queryset) -> None:
        self.run_selected(request, queryset, Action.REOPEN)

    @admin.action(description="公表", permissions=("workflow",))
    def publish_selected(self, request, queryset) -> None:
        self.run_selected(request, queryset, Action.PUBLISH)

    @admin.display(description=_("年度（和暦）"), ordering="fiscal_year")
    def fiscal_year_label(self, obj: Round) -> str:
        return long_label(obj.fiscal_year)


# --- Evaluations and their KPI actuals ---------------------------------------------------------


class KPIActualInline(admin.TabularInline):
    """The evaluation's KPI actuals, changed by whoever may edit the evaluation now."""

    model = KPIActual
    form = KPIActualForm
    readonly_fields = ("version", "updated_at")
    extra = 0

    def get_queryset(self, request: HttpRequest) -> QuerySet[KPIActual]:
        # Each row's title is ``KPIActual.__str__``, which reads the KPI.
        return super().get_queryset(request).select_related("kpi")

    def may_edit(self, request: HttpRequest, obj: Evaluation | None) -> bool:
        return obj is not None and obj.pk is not None and allows(request, Action.EDIT, obj)

    def get_fields(self, request, obj=None):
        fields = ["kpi", "value", "as_of", "note", "roadmap_status", "version", "updated_at"]
        return [*fields, "loaded_version"] if self.may_edit(request, obj) else fields

    def has_add_permission(self, request, obj=None) -> bool:
        return super().has_add_permission(request, obj) and self.may_edit(request, obj)

    def has_change_permission(self, request, obj=None) -> bool:
        return super().has_change_permission(request, obj) and self.may_edit(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return super().has_delete_permission(request, obj) and self.may_edit(request, obj)

    def get_formset(
        self, request: HttpRequest, obj: Evaluation | None = None, **kwargs: Any
    ) -> type[BaseInlineFormSet]:
        formset = super().get_formset(request, obj, **kwargs)
        if obj is not None:
            # Only the KPIs of the evaluated initiative can have actuals in this evaluation.
            restrict_inline_choices(
                formset, "kpi", KPI.objects.filter(initiative_id=obj.initiative_id)
            )
        return formset


def save_actual(actor: Actor, evaluation: Evaluation, form, actual=None) -> KPIActual:
    """``services.kpi_actual_save`` of a KPI actual's form (new, or ``actual`` changed)."""
    data = form.cleaned_data
    return services.kpi_actual_save(
        actor=actor,
        evaluation=evaluation,
        kpi=data["kpi"] if actual is None else actual.kpi,
        value=data["value"],
        as_of=data.get("as_of"),
        note=data.get("note") or "",
        roadmap_status=data.get("roadmap_status") or None,
        actual=actual,
        expected_version=data.get("loaded_version"),
    )


@admin.register(Evaluation)
class EvaluationAdmin(CycleAdmin):
    form = EvaluationForm
    list_display = (
        "initiative_number",
        "initiative_title",
        "fiscal_year_label",
        "rating",
        "status",
        "updated_at",
    )
    list_display_links = ("initiative_number", "initiative_title")
    list_filter = (
        "round__plan",
        fiscal_year_list_filter("round__fiscal_year"),
        "rating",
        "status",
        "initiative__policy_area__pillar",
        "initiative__departments",
    )
    list_select_related = ("round", "initiative")
    search_fields = ("initiative__title", "initiative__number__exact")
    ordering = ("-round__fiscal_year", "initiative__number")
    list_per_page = 100
    autocomplete_fields = ("round", "initiative")
    raw_id_fields = ("submitted_by", "approved_by")
    inlines = (KPIActualInline,)
    steps = EVALUATION_STEPS
    actions = ("submit_selected", "return_selected", "approve_selected", "reopen_selected")

    def scope(self, request, queryset):
        # Scoped as in the API. ``Evaluation.__str__`` reads the initiative and the round.
        actor = self.actor(request)
        if not actor.is_superuser:
            visible = policy.evaluations_visible_to(actor)
            queryset = queryset.filter(pk__in=visible.values("pk"))
        return queryset.select_related("round", "initiative")

    def plan_id(self, obj: Evaluation) -> int:
        return obj.round.plan_id

    def may_see_who_changed(self, request, obj: Evaluation) -> bool:
        return policy.may_see_who_changed_evaluation(self.actor(request), obj)

    # --- permissions

    def has_change_permission(self, request, obj=None) -> bool:
        if not super().has_change_permission(request, obj):
            return False
        return obj is None or self.actor(request).is_superuser or allows(request, Action.EDIT, obj)

    def has_submit_permission(self, request) -> bool:
        actor = self.actor(request)
        return actor.is_any_secretariat or bool(actor.editor_department_ids)

    def has_review_permission(self, request) -> bool:
        return self.actor(request).is_any_secretariat

    # --- the form

    def get_fieldsets(self, request, obj=None):
        record = ["version", "created_at", "updated_at"]
        if obj is not None and self.has_change_permission(request, obj):
            record.append("loaded_version")
        return (
            (None, {"fields": ("round", "initiative")}),
            (
                _("評価"),
                {
                    "fields": (
                        ("rating", "suggestion"),
                        "rating_reason",
                        "plan_text",
                        "progress_text",
                        "next_actions",
                        "note",
                    )
                },
            ),
            (
                _("審査"),
                {
                    "fields": (
                        "status",
                        "review_comment",
                        ("submitted_by", "submitted_at"),
                        ("approved_by", "approved_at"),
                    )
                },
            ),
            (_("記録"), {"fields": tuple(record)}),
        )

    def get_readonly_fields(self, request, obj=None):
        shown = ("suggestion", "version", "created_at", "updated_at")
        return shown if self.actor(request).is_superuser else (*shown, *WORKFLOW_FIELDS)

    @admin.display(description="指標に基づく目安")
    def suggestion(self, obj: Evaluation | None) -> str:
        if obj is None or obj.pk is None:
            return "—"
        return render_to_string(
            "admin/evaluations/evaluation/suggestion.html", suggestion_context(obj)
        )

    # --- saving

    def save_model(self, request, obj: Evaluation, form, change) -> None:
        reverting = getattr(request, "_dxapi_reverting", None)
        if not change or reverting:  # the superuser's: an evaluation by hand, or a revert
            reason = f"revert to history {reverting}" if reverting else "create (admin)"
            self.override(request, obj, None, reason)
            return
        changed = [name for name in form.changed_data if name != "loaded_version"]
        data = {
            name: form.cleaned_data[name] for name in changed if name in EVALUATION_EDITABLE_FIELDS
        }
        others = [
            name
            for name in changed
            if name not in EVALUATION_EDITABLE_FIELDS and differs(form, name)
        ]
        if others:
            if not self.actor(request).is_superuser:  # read-only for everyone else
                raise Refusal("保存できませんでした: この項目は手続きでのみ変わります。")
            reason = f"admin override: {', '.join(others)}"
            self.override(request, obj, form.expected_version, reason)
        elif data:
            with self.refusing(record=obj, action=Action.EDIT):
                saved = services.evaluation_update(
                    actor=self.actor(request),
                    evaluation=obj,
                    data=data,
                    expected_version=form.expected_version,
                    reason="update (admin)",
                )
            obj.version, obj.updated_at = saved.version, saved.updated_at

    def save_formset(self, request, form, formset, change) -> None:
        if formset.model is not KPIActual:
            return super().save_formset(request, form, formset, change)
        actor, evaluation = self.actor(request), form.instance
        # What Django's change message reads of a saved formset.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        with self.refusing(record=evaluation, action=Action.EDIT):
            for inline in formset.initial_forms:
                if inline in formset.deleted_forms:
                    services.kpi_actual_delete(
                        actor=actor,
                        actual=inline.instance,
                        expected_version=inline.cleaned_data.get("loaded_version"),
                    )
                    formset.deleted_objects.append(inline.instance)
                elif inline.has_changed():
                    saved = save_actual(actor, evaluation, inline, actual=inline.instance)
                    formset.changed_objects.append((saved, inline.changed_data))
            for inline in formset.extra_forms:
                if inline.has_changed() and inline not in formset.deleted_forms:
                    formset.new_objects.append(save_actual(actor, evaluation, inline))

    # --- the workflow

    def run_step(self, request, obj: Evaluation, step: Step, text: str, expected_version=None):
        actor = self.actor(request)
        common = {"actor": actor, "evaluation": obj, "expected_version": expected_version}
        with self.refusing(step.verb, record=obj, action=step.action):
            match step.action:
                case Action.SUBMIT:
                    services.evaluation_submit(**common)
                case Action.RETURN:
                    services.evaluation_return(**common, comment=text)
                case Action.APPROVE:
                    services.evaluation_approve(**common)
                case Action.REOPEN:
                    services.evaluation_reopen(**common, reason=text)

    @admin.action(description="提出", permissions=("submit",))
    def submit_selected(self, request, queryset) -> None:
        self.run_selected(request, queryset, Action.SUBMIT)

    @admin.action(description="差戻し（コメントが必要）", permissions=("review",))
    def return_selected(self, request, queryset) -> None:
        self.run_selected(request, queryset, Action.RETURN)

    @admin.action(description="承認", permissions=("review",))
    def approve_selected(self, request, queryset) -> None:
        self.run_selected(request, queryset, Action.APPROVE)

    @admin.action(description="承認取消（理由が必要）", permissions=("review",))
    def reopen_selected(self, request, queryset) -> None:
        self.run_selected(request, queryset, Action.REOPEN)

    # --- the sheet import

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "import/",
                self.admin_site.admin_view(self.import_view),
                name="{}_{}_import".format(*info),
            ),
            path(
                "template/",
                self.admin_site.admin_view(self.template_view),
                name="{}_{}_template".format(*info),
            ),
            *super().get_urls(),
        ]

    def import_view(self, request):
        return import_view(self, request)

    def template_view(self, request):
        return template_view(self, request)

    def changelist_view(self, request, extra_context=None):
        actor = self.actor(request)
        extra_context = {**(extra_context or {}), "may_exchange": may_exchange(actor)}
        return super().changelist_view(request, extra_context)

    # --- the list

    @admin.display(description=_("取組番号"), ordering="initiative__number")
    def initiative_number(self, obj: Evaluation) -> int:
        return obj.initiative.number

    @admin.display(description=_("取組事項"), ordering="initiative__title")
    def initiative_title(self, obj: Evaluation) -> str:
        return obj.initiative.title

    @admin.display(description=_("年度"), ordering="round__fiscal_year")
    def fiscal_year_label(self, obj: Evaluation) -> str:
        return long_label(obj.round.fiscal_year)


@admin.register(KPIActual)
class KPIActualAdmin(CycleAdmin):
    """KPI actuals, added, changed and deleted through the services by whoever may edit
    their evaluation now; an actual's evaluation and KPI are fixed once it exists."""

    form = KPIActualForm
    list_display = ("evaluation", "kpi", "value_label", "roadmap_status", "as_of", "note")
    list_filter = (
        "evaluation__round__plan",
        fiscal_year_list_filter("evaluation__round__fiscal_year"),
    )
    list_select_related = ("evaluation__round", "evaluation__initiative", "kpi")
    search_fields = ("kpi__name", "evaluation__initiative__title", "note")
    ordering = ("-evaluation__round__fiscal_year", "evaluation__initiative__number", "kpi__order")

    def scope(self, request, queryset):
        actor = self.actor(request)
        if not actor.is_superuser:
            visible = policy.kpi_actuals_visible_to(actor)
            queryset = queryset.filter(pk__in=visible.values("pk"))
        return queryset

    def plan_id(self, obj: KPIActual) -> int:
        return obj.evaluation.round.plan_id

    def may_see_who_changed(self, request, obj: KPIActual) -> bool:
        return policy.may_see_who_changed_evaluation(self.actor(request), obj.evaluation)

    def _may_edit(self, request, obj: KPIActual) -> bool:
        return allows(request, Action.EDIT, obj.evaluation)

    def has_change_permission(self, request, obj=None) -> bool:
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or self._may_edit(request, obj))

    def has_delete_permission(self, request, obj=None) -> bool:
        # The superuser may delete an evaluation with its actuals; an actual alone is
        # deleted through the service, which asks the policy.
        allowed = super().has_delete_permission(request, obj)
        superuser = self.actor(request).is_superuser
        return allowed and (obj is None or superuser or self._may_edit(request, obj))

    def get_fields(self, request, obj=None):
        fields = [
            "evaluation",
            "kpi",
            "value",
            "as_of",
            "note",
            "roadmap_status",
            "version",
            "updated_at",
        ]
        if obj is not None and self.has_change_permission(request, obj):
            fields.append("loaded_version")
        return fields

    def get_readonly_fields(self, request, obj=None):
        fixed = ("version", "updated_at")
        return fixed if obj is None else ("evaluation", "kpi", *fixed)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        editable = editable_now(self.actor(request))
        if db_field.name == "evaluation":
            field = super().formfield_for_foreignkey(db_field, request, queryset=editable)
            field.label_from_instance = lambda e: (
                f"{short_label(e.round.fiscal_year)} No.{e.initiative.number} "
                f"{e.initiative.title[:30]}"
            )
            return field
        if db_field.name == "kpi":
            kpis = (
                KPI.objects.filter(initiative__in=editable.values("initiative"))
                .select_related("initiative")
                .order_by("initiative__number", "order")
            )
            field = super().formfield_for_foreignkey(db_field, request, queryset=kpis)
            field.label_from_instance = lambda k: f"No.{k.initiative.number}-{k.order} {k}"
            return field
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj: KPIActual, form, change) -> None:
        reverting = getattr(request, "_dxapi_reverting", None)
        if reverting:
            self.override(request, obj, None, f"revert to history {reverting}")
            return
        with self.refusing(record=obj.evaluation, action=Action.EDIT):
            saved = save_actual(
                self.actor(request), obj.evaluation, form, actual=obj if change else None
            )
        obj.pk, obj.version = saved.pk, saved.version

    def delete_record(self, request, obj: KPIActual) -> None:
        with self.refusing("削除", record=obj.evaluation, action=Action.EDIT):
            services.kpi_actual_delete(actor=self.actor(request), actual=obj)

    @admin.display(description=_("実績値"), ordering="value")
    def value_label(self, obj: KPIActual) -> str | None:
        return decimal_label(obj.value)


from evaluations import (  # noqa: E402 (the pages of other modules)
    admin_jobs,  # noqa: F401 (registers the jobs page)
    admin_notifications,  # noqa: F401 (registers the e-mail pages)
    admin_opinions,  # noqa: F401 (opinions and their analyses)
    admin_webhooks,  # noqa: F401 (events and webhooks pages)
)
