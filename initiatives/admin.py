"""Admin for the structure of a plan (plans, departments, pillars, policy areas, initiatives,
KPIs and targets) and for who works on it (memberships, API keys); and ``PolicyAdmin``, the
base of every page of the project's admin.

Every page asks the one rulebook instead of Django's hand-granted permissions: what a user
may see is the API's scope (``get_queryset``: a record outside it is a 404), what they may
do is ``initiatives.services`` for the structure and ``evaluations.policy`` for the yearly
cycle, and every write goes through the services, which lock, validate, claim the version
and record the history. Model-level permissions come from the user's memberships
(``initiatives.backends.RoleBackend``): everyone who works in a plan reads its structure,
only its secretariat changes it.

Every model of the app has an admin page except the initiative–department link (担当部局),
which is edited inline on its initiative.
"""

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.db import models, transaction
from django.db.models import Prefetch, ProtectedError, QuerySet
from django.forms import BaseInlineFormSet, ModelForm
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils.translation import gettext_lazy as _
from rest_framework_api_key.admin import APIKeyModelAdmin
from simple_history.admin import SimpleHistoryAdmin

from dxapi.errors import StateConflict
from dxapi.versions import StaleVersion
from initiatives import services
from initiatives.access import Actor, actor_for, may_see_who_changed
from initiatives.fiscal_years import long_label
from initiatives.models import (
    KPI,
    ApiKey,
    Department,
    DepartmentMembership,
    Initiative,
    InitiativeDepartment,
    KPITarget,
    Pillar,
    Plan,
    PolicyArea,
    SecretariatMembership,
)


class Refusal(Exception):
    """A write the rules refused: the transaction is rolled back and the user told why.

    ``form_errors`` (field name or ``None``: the whole form) are shown on the form the user
    sent, with their input kept; otherwise the page is shown again as it is now."""

    def __init__(self, message: str, form_errors: dict[str | None, list[str]] | None = None):
        super().__init__(message)
        self.message = message
        self.form_errors = form_errors


def state_conflict_text(error: StateConflict, verb: str, **context: Any) -> str:
    """Hook for the apps' workflow states (``context``: the record and the action refused);
    the structure has none."""
    state = getattr(error, "state_label", None) or error.current_state
    return f"現在の状態（{state}）では{verb}できません。"


def refusal_for(error: Exception, verb: str, conflict_text=state_conflict_text) -> Refusal:
    """The Japanese refusal of a service's error while doing ``verb`` (保存, 提出 …)."""
    if isinstance(error, ValidationError):
        if hasattr(error, "error_dict"):
            errors = {
                (None if field == NON_FIELD_ERRORS else field): [
                    str(message) for message in messages_
                ]
                for field, messages_ in error.message_dict.items()
            }
        else:
            errors = {None: [str(message) for message in error.messages]}
        details = "、".join(message for messages_ in errors.values() for message in messages_)
        return Refusal(f"{verb}できませんでした: {details}", form_errors=errors)
    if isinstance(error, StaleVersion):
        text = (
            f"{verb}できませんでした: 画面を開いた後に、ほかの人がこの記録を変更しました（現在の版:"
            f" {error.current_version}）。入力した内容を控えてから画面を開き直し、"
            "最新の内容に反映してください。"
        )
        return Refusal(text, form_errors={None: [text]})
    if isinstance(error, PermissionDenied):
        reason = str(error) if str(error) else "権限がありません。"
        return Refusal(f"{verb}できませんでした: {reason}")
    if isinstance(error, StateConflict):
        return Refusal(conflict_text(error, verb))
    if isinstance(error, ProtectedError):
        used = sorted({str(obj) for obj in error.protected_objects})[:5]
        return Refusal(f"{verb}できませんでした: 使われている記録があります（{'、'.join(used)}）。")
    raise error


REFUSED_ERRORS = (ValidationError, StaleVersion, PermissionDenied, StateConflict, ProtectedError)


@contextmanager
def refusing(verb: str, conflict_text=state_conflict_text) -> Iterator[None]:
    """Turn the services' errors into a ``Refusal`` (which rolls the request's changes
    back)."""
    try:
        yield
    except REFUSED_ERRORS as error:
        raise refusal_for(error, verb, conflict_text) from error


def field_label(form: ModelForm, name: str) -> str:
    try:
        return str(form._meta.model._meta.get_field(name).verbose_name)
    except Exception:  # not a field of the model: e.g. a service's "comment"
        return {"comment": "コメント", "reason": "理由", "departments": "担当部局"}.get(name, name)


def with_form_errors(form_class: type[ModelForm], errors: dict[str | None, list[str]]):
    """``form_class`` that shows ``errors`` (a refused save's) as its own."""

    class RefusedForm(form_class):
        def clean(self):
            cleaned = super().clean()
            for field, field_errors in errors.items():
                name = field if field in self.fields else None
                label = "" if name or field is None else f"{field_label(self, field)}: "
                for message in field_errors:
                    self.add_error(name, f"{label}{message}")
            return cleaned

    RefusedForm.__name__ = form_class.__name__
    return RefusedForm


def read_only(form_class: type[ModelForm]):
    """``form_class`` with every field disabled. Each form's own copies of the fields are
    changed: the class's are shared (declared fields by every form made from the class)."""

    class ReadOnlyForm(form_class):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            for field in self.fields.values():
                field.disabled = True

    ReadOnlyForm.__name__ = form_class.__name__
    return ReadOnlyForm


# --- Scope ------------------------------------------------------------------------------

# How each record reaches its plan.
PLAN_PATHS: dict[type[models.Model], str] = {
    Plan: "pk",
    Department: "plan_id",
    Pillar: "plan_id",
    PolicyArea: "pillar__plan_id",
    Initiative: "plan_id",
    InitiativeDepartment: "initiative__plan_id",
    KPI: "initiative__plan_id",
    KPITarget: "kpi__initiative__plan_id",
    DepartmentMembership: "department__plan_id",
    SecretariatMembership: "plan_id",
}


def working_plan_ids(request: HttpRequest) -> frozenset[int]:
    """The plans a user works in: its secretariat's, and those of its departments."""
    cached = getattr(request, "_dxapi_working_plans", None)
    if cached is None:
        actor = actor_for(request)
        departments = actor.readable_department_ids
        from_departments = (
            set(Department.objects.filter(id__in=departments).values_list("plan_id", flat=True))
            if departments
            else set()
        )
        cached = frozenset(actor.secretariat_plan_ids | from_departments)
        request._dxapi_working_plans = cached
    return cached


def in_plans(queryset: QuerySet, plan_ids: Iterable[int]) -> QuerySet:
    return queryset.filter(**{f"{PLAN_PATHS[queryset.model]}__in": list(plan_ids)})


def history_departments(obj: models.Model) -> Iterable[int]:
    """The departments whose members may see who changed a structural record: the
    initiative's for an initiative and its KPIs, every department of the plan for the rest."""
    match obj:
        case Initiative():
            return obj.departments.values_list("id", flat=True)
        case KPI():
            return obj.initiative.departments.values_list("id", flat=True)
        case KPITarget():
            return obj.kpi.initiative.departments.values_list("id", flat=True)
        case DepartmentMembership():
            return [obj.department_id]
        case SecretariatMembership():
            return []
    return Department.objects.filter(plan_id=services.plan_id_of(obj)).values_list("id", flat=True)


# --- The base of every page ---------------------------------------------------------------


class PolicyAdmin(SimpleHistoryAdmin):
    """A page that asks the rules: scoped queryset (404 outside it), permissions per record,
    writes through the services (refusals shown as messages or form errors, nothing saved
    half-way), and a history that follows the same scope.

    History: the history list and each old version (``history/<hid>/``) are a 404 for a
    record outside the user's scope, whatever the history table holds; they are a 403 for a
    user who may see the record but not who changed it (``access.may_see_who_changed``: the
    plan's secretariat and the members of its departments may; e.g. another department's
    member reading a published evaluation may not): simpler and safer than hiding columns of
    the history and of each old version's form. Reverting to an old version (POST of the
    version's form) bypasses the workflow: the superuser's alone, else 403."""

    object_history_template = "admin/dxapi_history/object_history.html"
    object_history_list_template = "admin/dxapi_history/object_history_list.html"
    object_history_form_template = "admin/dxapi_history/object_history_form.html"

    # --- who

    def actor(self, request: HttpRequest) -> Actor:
        return actor_for(request)

    def scope(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        """The records this user may see."""
        actor = self.actor(request)
        return queryset if actor.is_superuser else in_plans(queryset, working_plan_ids(request))

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return self.scope(request, super().get_queryset(request))

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None):
        """A record outside the user's scope is a 404, as at every other door."""
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            raise Http404(f"{self.opts.verbose_name}（ID「{object_id}」）は見つかりません。")
        return obj

    def plan_id(self, obj: models.Model) -> int | None:
        return services.plan_id_of(obj)

    def may_see_who_changed(self, request: HttpRequest, obj: models.Model) -> bool:
        return may_see_who_changed(
            self.actor(request), plan_id=self.plan_id(obj), department_ids=history_departments(obj)
        )

    def may_revert(self, actor: Actor) -> bool:
        """As ``evaluations.policy.may_revert_history`` (which this app may not import)."""
        return actor.is_superuser

    # --- foreign keys: only what the user may pick

    def choices_for(self, request: HttpRequest, model: type[models.Model]) -> QuerySet | None:
        """The records of ``model`` this user may choose in a form (``None``: no limit)."""
        actor = self.actor(request)
        if actor.is_superuser or model not in PLAN_PATHS:
            return None
        return in_plans(model._default_manager.all(), actor.secretariat_plan_ids)

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs: Any):
        if "queryset" not in kwargs:
            choices = self.choices_for(request, db_field.related_model)
            if choices is not None:
                kwargs["queryset"] = choices
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    # --- writes

    verb = "保存"

    def conflict_text(self, error: StateConflict, verb: str, **context: Any) -> str:
        return state_conflict_text(error, verb, **context)

    def refusing(self, verb: str | None = None, **context: Any):
        """Refuse with the reason in Japanese; ``context`` (``record``, ``action``) lets a
        409 name the state that refused."""
        return refusing(
            verb or self.verb, lambda error, verb_: self.conflict_text(error, verb_, **context)
        )

    def get_form(self, request: HttpRequest, obj=None, change: bool = False, **kwargs: Any):
        form = super().get_form(request, obj, change=change, **kwargs)
        if getattr(request, "_dxapi_history_readonly", False):
            form = read_only(form)  # an old version, shown to someone who may not revert
        errors = getattr(request, "_dxapi_form_errors", None)
        return with_form_errors(form, errors) if errors else form

    def _refused(self, request: HttpRequest, refusal: Refusal, again: Callable[[], HttpResponse]):
        messages.error(request, refusal.message)
        if refusal.form_errors and request.method == "POST":
            # The form again, with the user's input and the reasons: nothing was saved.
            request._dxapi_form_errors = refusal.form_errors
            return again()
        return HttpResponseRedirect(request.get_full_path())

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        view = super().changeform_view
        try:
            return view(request, object_id, form_url, extra_context)
        except Refusal as refusal:
            return self._refused(
                request, refusal, lambda: view(request, object_id, form_url, extra_context)
            )

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except Refusal as refusal:
            messages.error(request, refusal.message)
            return HttpResponseRedirect(request.path)

    def changelist_view(self, request, extra_context=None):
        try:
            return super().changelist_view(request, extra_context)
        except Refusal as refusal:
            messages.error(request, refusal.message)
            return HttpResponseRedirect(request.get_full_path())

    def save_record(self, request: HttpRequest, obj: models.Model) -> None:
        """Write one record the user changed through the app's services."""
        with self.refusing():
            services.structure_save(actor=self.actor(request), instance=obj)

    def delete_record(self, request: HttpRequest, obj: models.Model) -> None:
        with self.refusing("削除"):
            services.structure_delete(actor=self.actor(request), instance=obj)

    def save_model(self, request, obj, form, change) -> None:
        if getattr(request, "_dxapi_reverting", False):
            obj._change_reason = f"revert to history {request._dxapi_reverting}"
        self.save_record(request, obj)

    def delete_model(self, request, obj) -> None:
        self.delete_record(request, obj)

    def delete_queryset(self, request, queryset) -> None:
        with transaction.atomic():
            for obj in queryset:
                self.delete_record(request, obj)

    def save_formset(self, request, form, formset, change) -> None:
        saved = formset.save(commit=False)  # nothing is written yet: the services write
        for obj in formset.deleted_objects:
            self.delete_record(request, obj)
        for obj in saved:
            self.save_record(request, obj)
        formset.save_m2m()

    # --- history

    def _history_object(self, request: HttpRequest, object_id: str):
        """The record whose history is asked for, if this user may read it: else 404 (not in
        its scope) or 403 (may not see who changed it)."""
        actor = self.actor(request)
        try:
            obj = self.get_object(request, unquote(object_id))
        except Http404:
            if actor.is_superuser:
                return None  # a deleted record: its history, as django-simple-history shows
            raise
        if not self.may_see_who_changed(request, obj):
            raise PermissionDenied("変更した人を見られない記録の履歴です。")
        return obj

    def history_view(self, request, object_id, extra_context=None):
        self._history_object(request, object_id)
        return super().history_view(request, object_id, extra_context)

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        self._history_object(request, object_id)
        may_revert = self.may_revert(self.actor(request))
        if request.method == "POST":
            if not may_revert:
                raise PermissionDenied("履歴から元に戻せるのはスーパーユーザーだけです。")
            request._dxapi_reverting = version_id
        request._dxapi_history_readonly = not may_revert
        view = super().history_form_view
        try:
            return view(request, object_id, version_id, extra_context)
        except Refusal as refusal:
            return self._refused(
                request, refusal, lambda: view(request, object_id, version_id, extra_context)
            )

    def revert_disabled(self, request, obj=None) -> bool:
        return not self.may_revert(self.actor(request))

    def history_view_title(self, request, obj) -> str:
        return f"変更の履歴: {obj}"

    def history_form_view_title(self, request, obj) -> str:
        verb = "過去の版" if self.revert_disabled(request, obj) else "元に戻す"
        return f"{verb}: {obj}"


class PolicyInline(admin.TabularInline):
    """An inline whose rows may be changed by whoever may change the record they belong to
    (asked of the parent page: ``parent_may_change``)."""

    def parent_may_change(self, request: HttpRequest, obj: models.Model | None) -> bool:
        actor = actor_for(request)
        if obj is None:
            return actor.is_any_secretariat
        try:
            services.require_may_change(actor, obj)
        except PermissionDenied:
            return False
        return True

    def has_add_permission(self, request, obj=None) -> bool:
        return super().has_add_permission(request, obj) and self.parent_may_change(request, obj)

    def has_change_permission(self, request, obj=None) -> bool:
        return super().has_change_permission(request, obj) and self.parent_may_change(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return super().has_delete_permission(request, obj) and self.parent_may_change(request, obj)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        actor = actor_for(request)
        model = db_field.related_model
        if "queryset" not in kwargs and not actor.is_superuser and model in PLAN_PATHS:
            kwargs["queryset"] = in_plans(model._default_manager.all(), actor.secretariat_plan_ids)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class StructureAdmin(PolicyAdmin):
    """Structure: read by everyone who works in the plan, changed by its secretariat
    (``services.require_may_change``) through ``services.structure_save``/``_delete``."""

    def _may_change(self, request: HttpRequest, obj: models.Model) -> bool:
        try:
            services.require_may_change(self.actor(request), obj)
        except PermissionDenied:
            return False
        return True

    def has_change_permission(self, request, obj=None) -> bool:
        if not super().has_change_permission(request, obj):
            return False
        return obj is None or self._may_change(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        if not super().has_delete_permission(request, obj):
            return False
        return obj is None or self._may_change(request, obj)


# --- Helpers of the lists ----------------------------------------------------------------


def decimal_label(value: Decimal | None) -> str | None:
    """``Decimal("80.9000")`` -> ``"80.9"``; ``None`` stays ``None`` (shown as the empty value)."""
    return None if value is None else f"{value.normalize():f}"


def fiscal_year_list_filter(field_path: str) -> type[admin.SimpleListFilter]:
    """A list filter on a fiscal-year field whose choices read ``令和6年度`` rather than ``2024``.

    The choices are the years present in the admin's own queryset, newest first.
    """

    class FiscalYearListFilter(admin.SimpleListFilter):
        title = _("年度")
        parameter_name = field_path

        def lookups(
            self, request: HttpRequest, model_admin: admin.ModelAdmin
        ) -> list[tuple[str, str]]:
            years = (
                model_admin.get_queryset(request)
                .prefetch_related(None)
                .order_by()
                .values_list(field_path, flat=True)
                .distinct()
            )
            return [
                (str(year), long_label(year))
                for year in sorted({year for year in years if year is not None}, reverse=True)
            ]

        def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
            value = self.value()
            return queryset.filter(**{field_path: value}) if value else queryset

    return FiscalYearListFilter


def restrict_inline_choices(
    formset: type[BaseInlineFormSet], field_name: str, queryset: QuerySet
) -> None:
    """Limit the choices of a foreign key in every form of an inline formset class."""
    field = formset.form.base_fields.get(field_name)
    if field is not None:
        field.queryset = queryset


# --- The structure ------------------------------------------------------------------------


@admin.register(Plan)
class PlanAdmin(StructureAdmin):
    list_display = ("code", "organisation", "name", "start_year", "end_year", "period")
    list_display_links = ("code", "name")
    search_fields = ("code", "organisation", "name")

    @admin.display(description=_("期間"), ordering="start_year")
    def period(self, obj: Plan) -> str:
        return obj.period_label


@admin.register(Department)
class DepartmentAdmin(StructureAdmin):
    list_display = ("name", "code", "plan", "order")
    list_filter = ("plan",)
    list_select_related = ("plan",)
    search_fields = ("name", "code")


class PolicyAreaInline(PolicyInline):
    model = PolicyArea
    fields = ("number", "name")
    extra = 0
    show_change_link = True

    def get_queryset(self, request: HttpRequest) -> QuerySet[PolicyArea]:
        # Each row's title is ``PolicyArea.__str__``, which reads the pillar.
        return super().get_queryset(request).select_related("pillar")


@admin.register(Pillar)
class PillarAdmin(StructureAdmin):
    list_display = ("order", "name", "theme", "plan")
    list_display_links = ("order", "name")
    list_filter = ("plan",)
    list_select_related = ("plan",)
    search_fields = ("name", "theme")
    inlines = (PolicyAreaInline,)


@admin.register(PolicyArea)
class PolicyAreaAdmin(StructureAdmin):
    list_display = ("number_label", "name", "pillar_name", "plan")
    list_display_links = ("number_label", "name")
    list_filter = ("pillar__plan", "pillar")
    list_select_related = ("pillar__plan",)
    search_fields = ("name", "pillar__name")

    def get_queryset(self, request: HttpRequest) -> QuerySet[PolicyArea]:
        # ``PolicyArea.__str__`` reads the pillar (also for autocomplete and delete pages).
        return super().get_queryset(request).select_related("pillar__plan")

    @admin.display(description=_("番号"), ordering="number")
    def number_label(self, obj: PolicyArea) -> str:
        return f"({obj.number})"

    @admin.display(description=_("分類"), ordering="pillar__order")
    def pillar_name(self, obj: PolicyArea) -> str:
        return obj.pillar.name

    @admin.display(description=_("計画"), ordering="pillar__plan")
    def plan(self, obj: PolicyArea) -> Plan:
        return obj.pillar.plan


class InitiativeDepartmentInline(PolicyInline):
    """The responsible departments, replaced together by ``structure_save`` (which checks
    that at most one is the lead and that all are the plan's)."""

    model = InitiativeDepartment
    fields = ("department", "is_lead")
    extra = 0

    def get_queryset(self, request: HttpRequest) -> QuerySet[InitiativeDepartment]:
        # Each row's title is ``InitiativeDepartment.__str__``: initiative number, department.
        return super().get_queryset(request).select_related("initiative", "department")

    def get_formset(
        self, request: HttpRequest, obj: Initiative | None = None, **kwargs: Any
    ) -> type[BaseInlineFormSet]:
        formset = super().get_formset(request, obj, **kwargs)
        if obj is not None:
            restrict_inline_choices(
                formset, "department", Department.objects.filter(plan_id=obj.plan_id)
            )
        return formset


class KPIInline(PolicyInline):
    model = KPI
    fields = ("order", "name", "unit", "is_cumulative", "direction")
    extra = 0
    show_change_link = True


def describe_replaced(formset: BaseInlineFormSet) -> None:
    """What Django's change message reads of a saved formset, for one that a service
    writes as a whole."""
    formset.new_objects = [
        f.instance
        for f in formset.extra_forms
        if f.has_changed() and not f.cleaned_data.get("DELETE")
    ]
    formset.deleted_objects = [f.instance for f in formset.deleted_forms if f.instance.pk]
    formset.changed_objects = [
        (f.instance, f.changed_data)
        for f in formset.initial_forms
        if f.has_changed() and f not in formset.deleted_forms
    ]


@admin.register(Initiative)
class InitiativeAdmin(StructureAdmin):
    list_display = (
        "number",
        "title",
        "policy_area_label",
        "pillar_name",
        "lead_department",
        "is_major",
    )
    list_display_links = ("number", "title")
    list_filter = ("plan", "policy_area__pillar", "is_major", "departments")
    list_select_related = ("plan", "policy_area__pillar")
    search_fields = ("title", "number__exact")
    ordering = ("number",)
    list_per_page = 100
    autocomplete_fields = ("relists",)
    fields = ("plan", "policy_area", "number", "title", "is_major", "relists")
    inlines = (InitiativeDepartmentInline, KPIInline)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Initiative]:
        lead_responsibilities = InitiativeDepartment.objects.filter(is_lead=True).select_related(
            "department"
        )
        return (
            super()
            .get_queryset(request)
            .select_related("plan", "policy_area__pillar")
            .prefetch_related(
                Prefetch(
                    "responsibilities",
                    queryset=lead_responsibilities,
                    to_attr="lead_responsibilities",
                )
            )
        )

    def get_form(
        self,
        request: HttpRequest,
        obj: Initiative | None = None,
        change: bool = False,
        **kwargs: Any,
    ) -> type[ModelForm]:
        form = super().get_form(request, obj, change=change, **kwargs)
        policy_area = form.base_fields.get("policy_area")
        if policy_area is not None:
            # ``PolicyArea.__str__`` reads the pillar: join it once for the whole select.
            areas = policy_area.queryset.select_related("pillar")
            if obj is not None:
                areas = areas.filter(pillar__plan_id=obj.plan_id)
            policy_area.queryset = areas
        return form

    def save_model(self, request, obj, form, change) -> None:
        if getattr(request, "_dxapi_reverting", False):
            super().save_model(request, obj, form, change)
        # Else saved with its responsible departments, in one ``structure_save``, below.

    def save_related(self, request, form, formsets, change) -> None:
        initiative = form.instance
        responsibilities = None
        others = []
        for formset in formsets:
            if formset.model is InitiativeDepartment:
                describe_replaced(formset)
                if formset.has_changed():
                    responsibilities = [
                        {
                            "department": f.cleaned_data["department"],
                            "is_lead": bool(f.cleaned_data.get("is_lead")),
                        }
                        for f in formset.forms
                        if f.cleaned_data and not f.cleaned_data.get("DELETE")
                    ]
            else:
                others.append(formset)
        if not change or form.has_changed() or responsibilities is not None:
            with self.refusing():
                services.structure_save(
                    actor=self.actor(request),
                    instance=initiative,
                    responsibilities=responsibilities,
                )
        form.save_m2m()
        for formset in others:
            self.save_formset(request, form, formset, change=change)

    @admin.display(description=_("施策"), ordering="policy_area__number")
    def policy_area_label(self, obj: Initiative) -> str:
        return f"({obj.policy_area.number}) {obj.policy_area.name}"

    @admin.display(description=_("分類"), ordering="policy_area__pillar__order")
    def pillar_name(self, obj: Initiative) -> str:
        return obj.policy_area.pillar.name

    @admin.display(description=_("主担当部局"))
    def lead_department(self, obj: Initiative) -> str | None:
        leads: list[InitiativeDepartment] | None = getattr(obj, "lead_responsibilities", None)
        if leads is None:  # not fetched through get_queryset
            leads = list(obj.responsibilities.filter(is_lead=True).select_related("department"))
        return leads[0].department.name if leads else None


class KPITargetInline(PolicyInline):
    model = KPITarget
    fields = ("fiscal_year", "value", "text")
    extra = 0


@admin.register(KPI)
class KPIAdmin(StructureAdmin):
    list_display = (
        "initiative_number",
        "name",
        "unit",
        "is_cumulative",
        "direction",
        "baseline_label",
    )
    list_display_links = ("name",)
    list_filter = (
        "initiative__plan",
        "initiative__policy_area__pillar",
        "is_cumulative",
        "direction",
    )
    list_select_related = ("initiative",)
    search_fields = ("name", "initiative__title", "initiative__number__exact")
    ordering = ("initiative__number", "order")
    autocomplete_fields = ("initiative",)
    inlines = (KPITargetInline,)

    @admin.display(description=_("取組番号"), ordering="initiative__number")
    def initiative_number(self, obj: KPI) -> int:
        return obj.initiative.number

    @admin.display(description=_("基準値"), ordering="baseline_year")
    def baseline_label(self, obj: KPI) -> str | None:
        """``850（R4）``: the baseline value and its year."""
        if obj.baseline_value is None:
            return None
        return f"{decimal_label(obj.baseline_value)}（{obj.baseline_year_label}）"


@admin.register(KPITarget)
class KPITargetAdmin(StructureAdmin):
    list_display = ("kpi", "initiative_number", "fiscal_year_label", "value_label", "text")
    list_filter = (fiscal_year_list_filter("fiscal_year"), "kpi__initiative__plan")
    list_select_related = ("kpi__initiative",)
    search_fields = ("kpi__name", "text", "kpi__initiative__number__exact")
    ordering = ("kpi__initiative__number", "kpi__order", "fiscal_year")
    autocomplete_fields = ("kpi",)

    @admin.display(description=_("取組番号"), ordering="kpi__initiative__number")
    def initiative_number(self, obj: KPITarget) -> int:
        return obj.kpi.initiative.number

    @admin.display(description=_("年度"), ordering="fiscal_year")
    def fiscal_year_label(self, obj: KPITarget) -> str:
        return obj.fiscal_year_label

    @admin.display(description=_("目標値"), ordering="value")
    def value_label(self, obj: KPITarget) -> str | None:
        return decimal_label(obj.value)


# --- Who works on a plan --------------------------------------------------------------------


class MembershipAdmin(PolicyAdmin):
    """Memberships of a plan, managed by its secretariat (the superuser: every plan). The
    user is picked from a list (autocomplete would need the right to browse users)."""

    def scope(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        actor = self.actor(request)
        return queryset if actor.is_superuser else in_plans(queryset, actor.secretariat_plan_ids)

    def get_autocomplete_fields(self, request: HttpRequest) -> tuple[str, ...]:
        return self.autocomplete_fields if request.user.is_superuser else ()

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "user" and not request.user.is_superuser:
            kwargs["queryset"] = db_field.related_model._default_manager.filter(
                is_active=True
            ).order_by("username")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def _manages(self, request: HttpRequest, obj: models.Model) -> bool:
        return self.actor(request).is_secretariat_of(self.plan_id(obj))

    def plan_id(self, obj: models.Model) -> int | None:
        if isinstance(obj, DepartmentMembership):
            return obj.department.plan_id
        return obj.plan_id

    def has_change_permission(self, request, obj=None) -> bool:
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or self._manages(request, obj))

    def has_delete_permission(self, request, obj=None) -> bool:
        allowed = super().has_delete_permission(request, obj)
        return allowed and (obj is None or self._manages(request, obj))

    def save_record(self, request, obj) -> None:
        if not self._manages(request, obj):
            raise Refusal("保存できませんでした: 計画の事務局だけがメンバーを管理できます。")
        obj.save()

    def delete_record(self, request, obj) -> None:
        if not self._manages(request, obj):
            raise Refusal("削除できませんでした: 計画の事務局だけがメンバーを管理できます。")
        obj.delete()


@admin.register(DepartmentMembership)
class DepartmentMembershipAdmin(MembershipAdmin):
    list_display = ("user", "department", "role")
    list_filter = ("department__plan", "department", "role")
    list_select_related = ("user", "department")
    search_fields = ("user__username", "department__name")
    autocomplete_fields = ("user", "department")


@admin.register(SecretariatMembership)
class SecretariatMembershipAdmin(MembershipAdmin):
    list_display = ("user", "plan")
    list_filter = ("plan",)
    list_select_related = ("user", "plan")
    search_fields = ("user__username", "plan__name")
    autocomplete_fields = ("user",)


@admin.register(ApiKey)
class ApiKeyAdmin(APIKeyModelAdmin):
    """Keys are shown once, on creation, and stored hashed. Each has a role within its plan;
    only editor and viewer keys may be bound to a department (checked by ``ApiKey.clean``).

    A key may act as its plan's secretariat, so a staff user who is not a superuser manages
    the keys of the plans whose secretariat they are, and no others."""

    list_display = (*APIKeyModelAdmin.list_display, "plan", "role", "department")
    list_filter = (*APIKeyModelAdmin.list_filter, "plan", "role")
    list_select_related = ("plan", "department")
    fields = ("prefix", "name", "plan", "role", "department", "expiry_date", "revoked")

    def managed_plans(self, request: HttpRequest) -> QuerySet[Plan]:
        plans = Plan.objects.all()
        if not request.user.is_superuser:
            plans = plans.filter(secretariat__user=request.user)
        return plans

    def get_queryset(self, request: HttpRequest) -> QuerySet[ApiKey]:
        keys = super().get_queryset(request)
        if not request.user.is_superuser:
            keys = keys.filter(plan__in=self.managed_plans(request))
        return keys

    def get_readonly_fields(
        self, request: HttpRequest, obj: ApiKey | None = None
    ) -> tuple[str, ...]:
        fields = tuple(super().get_readonly_fields(request, obj))
        if obj is not None and obj.revoked:
            fields += ("plan", "role", "department")
        return fields

    def get_form(
        self,
        request: HttpRequest,
        obj: ApiKey | None = None,
        change: bool = False,
        **kwargs: Any,
    ) -> type[ModelForm]:
        form = super().get_form(request, obj, change=change, **kwargs)
        plans = self.managed_plans(request)
        plan = form.base_fields.get("plan")
        if plan is not None:
            plan.queryset = plans
        department = form.base_fields.get("department")
        if department is not None:
            # A key's department is one of its plan's: the plan's only, once the key has one;
            # on the add form those of every plan offered, each named with its plan.
            departments = (
                Department.objects.filter(plan__in=plans)
                .select_related("plan")
                .order_by("plan__code", "order", "code")
            )
            if obj is not None:
                departments = departments.filter(plan_id=obj.plan_id)
            department.queryset = departments
            department.label_from_instance = lambda d: f"{d.plan.code} / {d.name}"
        return form
