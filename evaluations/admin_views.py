"""Admin pages of the yearly cycle beyond the model forms: the KPI-based suggestion shown
beside the rating, the workflow buttons' view, the sheet import and the template download.
Each asks ``evaluations.policy`` (through the services) like every other door."""

import base64
import hashlib
import uuid
from decimal import ROUND_HALF_UP, Decimal

from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
)
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import content_disposition_header

from evaluations import policy
from evaluations.admin_forms import ImportForm, TemplateForm
from evaluations.dashboard import (
    MISSING_ACTUAL,
    MISSING_RATING,
    MISSING_REASON,
    MISSING_TARGET,
    OVERDUE_REVIEW,
    OVERDUE_SUBMISSION,
    round_dashboard,
)
from evaluations.exchange import importer, templates
from evaluations.exchange.columns import header_of
from evaluations.exchange.sheets import CSV_MIME, XLSX_MIME, SheetError, read_sheet
from evaluations.models import Evaluation, EvaluationStatus, Round, RoundStatus
from evaluations.policy import rounds_visible_to
from evaluations.rating_rules import assess_kpi
from evaluations.selectors import suggestion_for, with_target
from initiatives.access import Actor, actor_for
from initiatives.admin import Refusal
from initiatives.fiscal_years import long_label
from initiatives.models import Department, KPITarget, Plan

# --- The suggestion beside the rating --------------------------------------------------------


def percent(ratio: Decimal | None) -> str:
    if ratio is None:
        return ""
    return f"{(ratio * 100).quantize(Decimal('0.1'), ROUND_HALF_UP)}%"


def number_text(value: Decimal | None) -> str:
    return "" if value is None else f"{Decimal(value).normalize():f}"


def suggestion_context(evaluation: Evaluation) -> dict:
    """The KPI-based suggestion of an evaluation and, per KPI, target, actual and ratio."""
    suggestion = suggestion_for(evaluation)
    actuals = {
        actual.kpi_id: actual
        for actual in with_target(evaluation.kpi_actuals.select_related("kpi"))
    }
    targets = {
        target.kpi_id: target
        for target in KPITarget.objects.filter(
            kpi__initiative_id=evaluation.initiative_id,
            fiscal_year=evaluation.round.fiscal_year,
        )
    }
    rows = []
    for kpi in evaluation.initiative.kpis.order_by("order"):
        actual = actuals.get(kpi.pk)
        target = targets.get(kpi.pk)
        target_value = actual.target_value if actual else getattr(target, "value", None)
        target_text = actual.target_text if actual else getattr(target, "text", "")
        assessment = assess_kpi(
            actual=actual.value if actual else None,
            target=target_value,
            direction=kpi.direction,
            target_text=target_text or "",
            roadmap_status=actual.roadmap_status if actual else None,
        )
        rows.append(
            {
                "name": str(kpi),
                "direction": kpi.get_direction_display(),
                "target": number_text(target_value) or target_text or "（目標なし）",
                "actual": number_text(actual.value) if actual else "（未入力）",
                "ratio": percent(assessment.ratio),
                "rating": assessment.rating or "",
                "reason": assessment.reason,
            }
        )
    return {
        "rating": suggestion.rating or "",
        "ratio": percent(suggestion.ratio),
        "reason": suggestion.reason,
        "rows": rows,
        "fiscal_year": long_label(evaluation.round.fiscal_year),
    }


# --- The round's dashboard ----------------------------------------------------------------------

MISSING_LABELS = {
    MISSING_RATING: "評価が未入力",
    MISSING_ACTUAL: "実績値のない指標",
    MISSING_REASON: "目安と異なる評価の理由が未記入",
    MISSING_TARGET: "今年度の目標のない指標",
}
OVERDUE_LABELS = {OVERDUE_SUBMISSION: "提出期限超過", OVERDUE_REVIEW: "審査期限超過"}


def dashboard_view(model_admin, request: HttpRequest, object_id: str) -> HttpResponse:
    """The round's dashboard (``evaluations.dashboard``) as a page: 404 for a round the user
    may not see, 403 unless the user is the plan's secretariat (or a superuser)."""
    round_ = model_admin.get_object(request, unquote(object_id))
    if round_ is None:
        raise Http404("その年度ラウンドはありません。")
    policy.require_may_see_dashboard(actor_for(request), round_)
    dashboard = round_dashboard(round_)
    statuses = dict(EvaluationStatus.choices)
    rows = [
        {
            "gaps": gaps,
            "status": statuses.get(gaps.status, gaps.status),
            "overdue": OVERDUE_LABELS.get(gaps.overdue or "", ""),
            "missing": [MISSING_LABELS[key] for key in gaps.missing],
            "url": reverse("admin:evaluations_evaluation_change", args=[gaps.evaluation_id]),
        }
        for gaps in dashboard.initiatives
    ]
    opts = model_admin.opts
    return TemplateResponse(
        request,
        "admin/evaluations/round/dashboard.html",
        {
            **model_admin.admin_site.each_context(request),
            "opts": opts,
            "original": round_,
            "title": f"{round_} の進捗状況",
            "dashboard": dashboard,
            "rows": rows,
            "change_url": reverse("admin:evaluations_round_change", args=[round_.pk]),
            "changelist_url": reverse("admin:evaluations_round_changelist"),
        },
    )


# --- The workflow buttons --------------------------------------------------------------------


def workflow_view(model_admin, request: HttpRequest, object_id: str, action: str) -> HttpResponse:
    """POST of a workflow button on a change page: the step through its service, then back
    to the page with what happened (a refusal says why; nothing is changed then)."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    obj = model_admin.get_object(request, unquote(object_id))  # 404 outside the user's scope
    step = model_admin.steps.get(action)
    if step is None:
        raise Http404("その操作はありません。")
    version = request.POST.get("version", "")
    try:
        model_admin.run_step(
            request,
            obj,
            step,
            request.POST.get("comment", "").strip(),
            int(version) if version.isdigit() else None,
        )
    except Refusal as refusal:
        messages.error(request, refusal.message)
    else:
        messages.success(request, f"「{obj}」を{step.verb}しました。")
    opts = model_admin.opts
    return HttpResponseRedirect(
        reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
    )


# --- The sheet import and the template -------------------------------------------------------

# An uploaded sheet checked by a dry run is kept in the session (up to this size) so that
# 取込を確定 imports the same file without uploading it again; larger ones are uploaded again.
SESSION_KEY = "dxapi_admin_import"
SESSION_MAX_BYTES = 2 * 1024 * 1024
OUTCOMES = {
    "created": "新規",
    "updated": "更新",
    "unchanged": "変更なし",
    "conflict": "競合（反映しない）",
    "skipped": "対象外（反映しない）",
}
WRITTEN = ("created", "updated")
KINDS = {importer.EVALUATIONS: "評価", importer.KPI_ACTUALS: "指標の実績"}


def _plans_of(actor: Actor, department_ids: frozenset[int]) -> QuerySet[Plan]:
    """The plans the actor is the secretariat of or has one of ``department_ids`` in."""
    plans = Plan.objects.order_by("code")
    if actor.is_superuser:
        return plans
    return plans.filter(
        Q(pk__in=actor.secretariat_plan_ids) | Q(departments__in=department_ids)
    ).distinct()


def import_plans(actor: Actor) -> QuerySet[Plan]:
    """The plans whose sheets the user may import (``policy.require_may_import``)."""
    return _plans_of(actor, actor.editor_department_ids)


def template_plans(actor: Actor) -> QuerySet[Plan]:
    """The plans whose templates the user may download (``policy.require_may_get_template``)."""
    return _plans_of(actor, actor.readable_department_ids)


def template_departments(actor: Actor) -> QuerySet[Department]:
    departments = Department.objects.select_related("plan").order_by("plan__code", "order")
    if actor.is_superuser:
        return departments
    return departments.filter(
        Q(plan_id__in=actor.secretariat_plan_ids) | Q(pk__in=actor.readable_department_ids)
    )


def _template_form(actor: Actor, data=None) -> TemplateForm:
    plans = template_plans(actor)
    return TemplateForm(
        data,
        plans=plans,
        departments=template_departments(actor),
        all_departments=actor.is_any_secretariat,
        initial={"fiscal_year": _open_year(plans)},
    )


def _import_form(plans: QuerySet[Plan]) -> ImportForm | None:
    if not plans.exists():
        return None
    return ImportForm(plans=plans, initial={"fiscal_year": _open_year(plans)})


def _open_year(plans: QuerySet[Plan]) -> int | None:
    """The newest open round's fiscal year among ``plans``: what is filled in now."""
    return (
        Round.objects.filter(plan__in=plans, status=RoundStatus.OPEN)
        .order_by("-fiscal_year")
        .values_list("fiscal_year", flat=True)
        .first()
    )


def _render(model_admin, request: HttpRequest, **context) -> TemplateResponse:
    opts = model_admin.opts
    return TemplateResponse(
        request,
        "admin/evaluations/evaluation/import.html",
        {
            **model_admin.admin_site.each_context(request),
            "opts": opts,
            "title": "進捗シートの取込と様式",
            "changelist_url": reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"),
            "import_url": reverse(f"admin:{opts.app_label}_{opts.model_name}_import"),
            "template_url": reverse(f"admin:{opts.app_label}_{opts.model_name}_template"),
            **context,
        },
    )


def may_exchange(actor: Actor) -> bool:
    """Whether the import page has anything for the user (a template, at least)."""
    if actor.is_superuser:
        return True
    return template_plans(actor).exists() or import_plans(actor).exists()


def _short(value: object, limit: int = 40) -> str:
    text = "（空）" if value in (None, "") else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _row_results(result: importer.ImportResult) -> list[dict]:
    rows = []
    for row in result.row_results or []:
        changes = [change.as_dict() for change in getattr(row, "changes", [])]
        rows.append(
            {
                "row": row.row,
                "kind": KINDS.get(row.kind, row.kind),
                "initiative_number": row.initiative_number,
                "kpi_order": row.kpi_order or "",
                "outcome": OUTCOMES.get(row.outcome, row.outcome),
                "changed": row.outcome in WRITTEN,
                "fields": "、".join(header_of(name) for name in row.fields),
                "changes": [
                    f"{c['column']}: {_short(c['old'])} → {_short(c['new'])}" for c in changes
                ],
                "notices": list(getattr(row, "notices", [])),
            }
        )
    return rows


def _summary(result: importer.ImportResult) -> str:
    counts = result.as_dict()["summary"]
    parts = []
    for kind, label in KINDS.items():
        numbers = "・".join(
            f"{OUTCOMES.get(outcome, outcome)} {count}件"
            for outcome, count in counts.get(kind, {}).items()
        )
        parts.append(f"{label}: {numbers}")
    return "、".join(parts)


def _upload(request: HttpRequest, form: ImportForm, confirm: bool) -> tuple[bytes, str] | None:
    upload = form.cleaned_data.get("file")
    if upload is not None:
        return upload.read(), upload.name or "upload.csv"
    stored = request.session.get(SESSION_KEY)
    if confirm and stored and stored.get("token") == form.cleaned_data.get("stored"):
        return base64.b64decode(stored["data"]), stored["name"]
    form.add_error("file", "ファイルを選んでください。")
    return None


def import_view(model_admin, request: HttpRequest) -> HttpResponse:
    """「確認（ドライラン）」 checks every row and shows what would change, or every error;
    「取込を確定」 imports (nothing is written if any row has an error)."""
    actor = actor_for(request)
    plans = import_plans(actor)
    if not plans.exists() and not template_plans(actor).exists():
        raise PermissionDenied("取込も様式の取得もできない利用者です。")
    if request.method != "POST":
        return _render(
            model_admin,
            request,
            form=_import_form(plans),
            template_form=_template_form(actor),
        )
    if not plans.exists():
        raise PermissionDenied("取込ができるのは事務局と部局の編集者だけです。")
    form = ImportForm(request.POST, request.FILES, plans=plans)
    context: dict = {"form": form, "template_form": _template_form(actor)}
    confirm = "_confirm" in request.POST
    upload = _upload(request, form, confirm) if form.is_valid() else None
    if upload is None:
        return _render(model_admin, request, **context)
    data, name = upload
    values = form.cleaned_data
    try:
        sheet = read_sheet(data, name)
        result = importer.progress_import(
            actor=actor,
            plan=values["plan"],
            fiscal_year=values["fiscal_year"],
            sheet=sheet,
            dry_run=not confirm,
            report_rows=True,
        )
    except SheetError as error:
        context["errors"] = [importer.RowError("invalid", str(error), "file", sheet=name)]
    except importer.ImportValidationError as error:
        context["errors"] = error.errors
    except PermissionDenied as error:
        form.add_error(None, str(error))
    else:
        if confirm:
            request.session.pop(SESSION_KEY, None)
            messages.success(request, f"「{name}」を取り込みました（{_summary(result)}）。")
            return HttpResponseRedirect(context_url(model_admin))
        context.update(
            result=result,
            rows=_row_results(result),
            summary=_summary(result),
            notices=list(getattr(result, "notices", [])),
        )
        context["stored"] = _keep(request, data, name)
    return _render(model_admin, request, **context)


def context_url(model_admin) -> str:
    opts = model_admin.opts
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")


def _keep(request: HttpRequest, data: bytes, name: str) -> str:
    """Keep a checked upload in the session for 取込を確定; ``""`` when it is too large."""
    if len(data) > SESSION_MAX_BYTES:
        request.session.pop(SESSION_KEY, None)
        return ""
    token = uuid.uuid4().hex
    request.session[SESSION_KEY] = {
        "token": token,
        "name": name,
        "sha256": hashlib.sha256(data).hexdigest(),
        "data": base64.b64encode(data).decode("ascii"),
    }
    return token


def template_view(model_admin, request: HttpRequest) -> HttpResponse:
    """Download the sheet of a round: a department's, or (the secretariat) every one."""
    actor = actor_for(request)
    if not template_plans(actor).exists():
        raise PermissionDenied("様式を取得できない利用者です。")
    form = _template_form(actor, request.GET)
    if form.is_valid():
        plan, department = form.cleaned_data["plan"], form.cleaned_data["department"]
        round_ = (
            rounds_visible_to(actor)
            .filter(plan=plan, fiscal_year=form.cleaned_data["fiscal_year"])
            .first()
        )
        if round_ is None:
            form.add_error("fiscal_year", "この計画のこの年度のラウンドはありません。")
        else:
            try:
                scope = templates.template_scope(
                    actor=actor, plan=plan, round_=round_, department=department
                )
            except PermissionDenied as error:
                form.add_error(None, str(error))
            else:
                if form.cleaned_data["file_format"] == "csv":
                    content, mime, suffix = templates.template_csv(actor, scope), CSV_MIME, "csv"
                else:
                    content, mime, suffix = templates.template_xlsx(actor, scope), XLSX_MIME, "xlsx"
                response = HttpResponse(content, content_type=mime)
                response["Content-Disposition"] = content_disposition_header(
                    True, f"{scope.filename_stem}.{suffix}"
                )
                return response
    return _render(model_admin, request, form=_import_form(import_plans(actor)), template_form=form)
