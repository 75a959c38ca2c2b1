"""Endpoints of the progress exchange: template download, sheet import, plan export.

A large sheet (``IMPORT_JOB_MIN_ROWS`` data rows or ``IMPORT_JOB_MIN_BYTES``) is imported by a
job (202 Accepted, ``evaluations.jobs``), dry runs too: a dry run validates every row, which
takes as long as the import's own validation. An export is streamed, or made into a file by an
export job (``POST …/jobs/``)."""

from itertools import chain, islice

from django.conf import settings
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from dxapi.strict import StrictQueryMixin, refuse_body
from evaluations import jobs, policy
from evaluations.api.aggregate_views import PlanParamField
from evaluations.api.job_views import LOCATION, JobSerializer, accepted
from evaluations.exchange import exporter, importer, templates
from evaluations.exchange.sheets import CSV_MIME, XLSX_MIME, Sheet, SheetError, read_sheet
from evaluations.policy import plans_visible_to, rounds_visible_to
from initiatives.access import Actor, actor_for
from initiatives.api.fields import FiscalYearParamField
from initiatives.api.permissions import IsAuthenticatedActor
from initiatives.models import Department, Plan

JSON_MIME = "application/json"


class TemplateQuery(serializers.Serializer):
    plan = PlanParamField(help_text="Plan id or code, e.g. `akita-dx`.")
    fiscal_year = FiscalYearParamField(help_text="The round's fiscal year: 2025, R7 or 令和7年度.")
    department = serializers.CharField(
        required=False,
        help_text="Department code. Required for department members; the secretariat may "
        "leave it out to get every initiative of the plan.",
    )
    file_format = serializers.ChoiceField(
        choices=["xlsx", "csv"], default="xlsx", help_text="`xlsx` or `csv` (UTF-8 with BOM)."
    )


class ImportRequestSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="The filled-in sheet: XLSX, or CSV in UTF-8/CP932.")
    plan = PlanParamField(help_text="Plan id or code.")
    fiscal_year = FiscalYearParamField(help_text="The round's fiscal year, e.g. R7.")
    dry_run = serializers.BooleanField(
        default=False, help_text="Validate and count the changes without writing anything."
    )
    report_rows = serializers.BooleanField(
        default=False, help_text="Add the outcome of every row to the response."
    )
    on_conflict = serializers.ChoiceField(
        choices=[importer.SKIP, importer.OVERWRITE],
        default=importer.SKIP,
        help_text=(
            "A row whose record changed since the sheet was made (its 版 is not the record's "
            "version): `skip` it and report it (default), or `overwrite` (the secretariat only)."
        ),
    )


class ImportCountsSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    conflict = serializers.IntegerField(help_text="Rows not applied: changed since the sheet.")
    skipped = serializers.IntegerField(help_text="Rows of submitted or approved evaluations.")


class ImportSummarySerializer(serializers.Serializer):
    evaluations = ImportCountsSerializer()
    kpi_actuals = ImportCountsSerializer()


class ImportFieldChangeSerializer(serializers.Serializer):
    field = serializers.CharField()
    column = serializers.CharField(help_text="The column's heading, e.g. 実績値.")
    old = serializers.CharField(allow_null=True, help_text="The stored value.")
    new = serializers.CharField(allow_null=True, help_text="The sheet's value.")


class ImportRowResultSerializer(serializers.Serializer):
    row = serializers.IntegerField(help_text="Row number as shown in the sheet.")
    kind = serializers.ChoiceField(choices=[importer.EVALUATIONS, importer.KPI_ACTUALS])
    initiative_number = serializers.IntegerField()
    kpi_order = serializers.IntegerField(allow_null=True)
    outcome = serializers.ChoiceField(choices=importer.OUTCOMES)
    fields = serializers.ListField(child=serializers.CharField())
    changes = ImportFieldChangeSerializer(
        many=True, help_text="Each changed field, stored value → sheet value."
    )
    notices = serializers.ListField(child=serializers.CharField())


class ImportResultSerializer(serializers.Serializer):
    plan = serializers.CharField()
    fiscal_year = serializers.IntegerField()
    fiscal_year_label = serializers.CharField()
    sheet = serializers.CharField()
    dry_run = serializers.BooleanField()
    on_conflict = serializers.ChoiceField(choices=[importer.SKIP, importer.OVERWRITE])
    rows = serializers.IntegerField(help_text="Data rows read (blank rows skipped).")
    summary = ImportSummarySerializer()
    notices = serializers.ListField(child=serializers.CharField(), help_text="About the file.")
    attention = ImportRowResultSerializer(
        many=True,
        help_text=f"Rows in conflict, skipped or with a notice (at most {importer.MAX_LISTED}).",
    )
    row_results = ImportRowResultSerializer(many=True, required=False)


class ImportErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    detail = serializers.CharField()
    attr = serializers.CharField(allow_null=True, help_text="e.g. `rows[5].value`.")
    row = serializers.IntegerField(
        allow_null=True, required=False, help_text="Header = 1. Errors of the sheet only."
    )
    column = serializers.CharField(
        allow_null=True,
        required=False,
        help_text="The column's header, e.g. 実績値. Errors of the sheet only.",
    )
    sheet = serializers.CharField(allow_null=True, required=False)


class ImportErrorResponseSerializer(serializers.Serializer):
    """Every error of the request or of the sheet; nothing was written."""

    type = serializers.ChoiceField(choices=["validation_error", "client_error"])
    errors = ImportErrorSerializer(many=True)
    truncated = serializers.BooleanField(
        required=False,
        help_text=f"Present and true when only the first {importer.MAX_ERRORS} errors are listed.",
    )


def _download(content: bytes, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = content_disposition_header(True, filename)
    return response


class ProgressTemplateView(StrictQueryMixin, APIView):
    permission_classes = [IsAuthenticatedActor]
    query_serializer = TemplateQuery

    @extend_schema(
        summary="Download a progress sheet",
        description=(
            "The sheet a department fills in for a round: one row per record, the evaluation "
            "row of each initiative (指標番号 blank) and one row per KPI, pre-filled with the "
            "targets and current values. XLSX or CSV (UTF-8 with BOM). The secretariat gets "
            "any department, or the whole plan without `department`; department members "
            "their own departments."
        ),
        parameters=[TemplateQuery],
        responses={
            (200, XLSX_MIME): OpenApiTypes.BINARY,
            (200, "text/csv"): OpenApiTypes.STR,
        },
    )
    def get(self, request: Request) -> HttpResponse:
        query = self.query_serializer(data=request.query_params, context={"request": request})
        query.is_valid(raise_exception=True)
        plan: Plan = query.validated_data["plan"]
        round_ = get_object_or_404(
            rounds_visible_to(actor_for(request)),
            plan=plan,
            fiscal_year=query.validated_data["fiscal_year"],
        )
        code = query.validated_data.get("department")
        department = get_object_or_404(Department, plan=plan, code=code) if code else None
        actor = actor_for(request)
        scope = templates.template_scope(
            actor=actor, plan=plan, round_=round_, department=department
        )
        if query.validated_data["file_format"] == "csv":
            content = templates.template_csv(actor, scope)
            return _download(content, CSV_MIME, f"{scope.filename_stem}.csv")
        content = templates.template_xlsx(actor, scope)
        return _download(content, XLSX_MIME, f"{scope.filename_stem}.xlsx")


class ProgressImportView(APIView):
    permission_classes = [IsAuthenticatedActor]
    parser_classes = [MultiPartParser]

    @extend_schema(
        summary="Import a filled-in progress sheet",
        description=(
            "The secretariat or a department editor uploads a sheet (XLSX, or CSV in UTF-8 "
            "with or without BOM or in Shift_JIS/CP932). Every row is validated first; any "
            "error gives 400 listing every error with its sheet, row (header = 1) and column, "
            "and nothing is written. Otherwise all changes are written in one transaction "
            "(none with `dry_run`) and counted per kind. Editors may import only their "
            "departments' initiatives, in an open round, in draft or returned evaluations. "
            "A large sheet (2,000 data rows or 1 MiB by default) is imported by a job, dry "
            "runs too: 202 Accepted with the job (`Location`); the job's `result` is then "
            "this 200 body, or its `error` this 400 body and the job failed."
        ),
        request={"multipart/form-data": ImportRequestSerializer},
        parameters=[LOCATION],
        responses={
            200: ImportResultSerializer,
            202: OpenApiResponse(JobSerializer, description="Imported by a job."),
            400: OpenApiResponse(
                ImportErrorResponseSerializer, description="The sheet has errors."
            ),
        },
    )
    def post(self, request: Request) -> Response:
        data = ImportRequestSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        values = data.validated_data
        upload = values["file"]
        content, name = upload.read(), upload.name or "upload.csv"
        try:
            sheet = read_sheet(content, name)
        except SheetError as error:
            body = importer.ImportValidationError(
                [importer.RowError("invalid", str(error), "file", sheet=upload.name)]
            ).as_body()
            return Response(body, status=status.HTTP_400_BAD_REQUEST)
        actor = actor_for(request)
        if _is_large(content, sheet):
            return self._start_job(request, actor, values, content, name)
        try:
            result = importer.progress_import(
                actor=actor,
                plan=values["plan"],
                fiscal_year=values["fiscal_year"],
                sheet=sheet,
                dry_run=values["dry_run"],
                report_rows=values["report_rows"],
                on_conflict=values["on_conflict"],
            )
        except importer.ImportValidationError as error:
            return Response(error.as_body(), status=status.HTTP_400_BAD_REQUEST)
        return Response(result.as_dict())

    def _start_job(
        self, request: Request, actor: Actor, values: dict, content: bytes, name: str
    ) -> Response:
        """Who may import is asked now (403 at once), and again by the job when it runs."""
        plan: Plan = values["plan"]
        policy.require_may_import(actor, plan)
        if values["on_conflict"] == importer.OVERWRITE:
            policy.require_secretariat(actor, plan.pk)
        options = {
            key: values[key] for key in ("fiscal_year", "dry_run", "report_rows", "on_conflict")
        }
        job = jobs.start_import(
            actor=actor,
            plan=plan,
            data=content,
            filename=name,
            options={**options, "filename": name},
        )
        return accepted(request, job)


def _is_large(content: bytes, sheet: Sheet) -> bool:
    """Whether the sheet is imported by a job; the rows looked at are given back to it."""
    if len(content) >= settings.IMPORT_JOB_MIN_BYTES:
        return True
    head = list(islice(sheet.rows, settings.IMPORT_JOB_MIN_ROWS))
    sheet.rows = chain(head, sheet.rows)
    return len(head) >= settings.IMPORT_JOB_MIN_ROWS


PLAN_CODE = OpenApiParameter(
    "code", OpenApiTypes.STR, OpenApiParameter.PATH, description="Plan code, e.g. `akita-dx`."
)
EXPORT_VISIBILITY = (
    "The plan's secretariat gets every round; everyone else what they may read: published "
    "rounds (and department members their departments' evaluations)."
)
TABLE = OpenApiParameter(
    "table",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    enum=list(exporter.TABLES),
    description="The table.",
)


def _plan_for(request: Request, code: str) -> Plan:
    return get_object_or_404(plans_visible_to(actor_for(request)), code=code)


class PlanDocumentExportView(StrictQueryMixin, APIView):
    permission_classes = [permissions.AllowAny]

    @extend_schema(
        summary="Export a plan as a plan document",
        description=(
            "The whole plan (structure, KPIs, targets, actuals, evaluations with status) as a "
            "`dxapi-plan/1` JSON document, the format `load_plan` reads, streamed. "
            + EXPORT_VISIBILITY
        ),
        parameters=[PLAN_CODE],
        responses={(200, JSON_MIME): OpenApiTypes.OBJECT},
    )
    def get(self, request: Request, code: str) -> StreamingHttpResponse:
        plan = _plan_for(request, code)
        chunks = exporter.plan_document_chunks(actor=actor_for(request), plan=plan)
        response = StreamingHttpResponse(
            (chunk.encode() for chunk in chunks), content_type="application/json; charset=utf-8"
        )
        response["Content-Disposition"] = content_disposition_header(True, f"{plan.code}.json")
        return response


class PlanTableExportView(StrictQueryMixin, APIView):
    permission_classes = [permissions.AllowAny]

    @extend_schema(
        summary="Export one table of a plan as CSV",
        description=(
            "One table of the plan as CSV (UTF-8 with BOM), streamed, rows keyed by natural "
            "keys (initiative number, KPI order, fiscal year). Tables: "
            + ", ".join(f"`{name}`" for name in exporter.TABLES)
            + ". "
            + EXPORT_VISIBILITY
        ),
        parameters=[
            PLAN_CODE,
            TABLE,
        ],
        responses={(200, "text/csv"): OpenApiTypes.STR},
    )
    def get(self, request: Request, code: str, table: str) -> StreamingHttpResponse:
        plan = _plan_for(request, code)
        if table not in exporter.TABLES:
            raise NotFound(_("No table '%(table)s'.") % {"table": table})
        chunks = exporter.table_chunks(actor=actor_for(request), plan=plan, table=table)
        response = StreamingHttpResponse(chunks, content_type=CSV_MIME)
        response["Content-Disposition"] = content_disposition_header(
            True, f"{plan.code}-{table}.csv"
        )
        return response


EXPORT_JOB = (
    "202 Accepted with the job (`Location`); when it succeeded, its `file` is the download "
    "(`GET /api/v1/jobs/{id}/file/`). The job exports what its caller may read when it runs. "
)


class PlanDocumentExportJobView(APIView):
    permission_classes = [IsAuthenticatedActor]

    @extend_schema(
        summary="Export a plan document to a file (job)",
        description="The plan document of `GET …/document/`, made by a job. "
        + EXPORT_JOB
        + EXPORT_VISIBILITY,
        parameters=[PLAN_CODE, LOCATION],
        request=None,
        responses={202: JobSerializer},
    )
    def post(self, request: Request, code: str) -> Response:
        refuse_body(request)
        plan = _plan_for(request, code)
        return accepted(request, jobs.start_export(actor=actor_for(request), plan=plan, table=None))


class PlanTableExportJobView(APIView):
    permission_classes = [IsAuthenticatedActor]

    @extend_schema(
        summary="Export one table of a plan to a CSV file (job)",
        description="The CSV of `GET …/tables/{table}/`, made by a job. "
        + EXPORT_JOB
        + EXPORT_VISIBILITY,
        parameters=[
            PLAN_CODE,
            TABLE,
            LOCATION,
        ],
        request=None,
        responses={202: JobSerializer},
    )
    def post(self, request: Request, code: str, table: str) -> Response:
        refuse_body(request)
        plan = _plan_for(request, code)
        if table not in exporter.TABLES:
            raise NotFound(_("No table '%(table)s'.") % {"table": table})
        job = jobs.start_export(actor=actor_for(request), plan=plan, table=table)
        return accepted(request, job)
