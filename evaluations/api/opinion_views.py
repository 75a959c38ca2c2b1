"""Citizens' opinions and their analyses (``evaluations.listening``).

- ``POST /api/v1/opinions/``: anyone sends an opinion (throttled per person, masked of personal
  data, with simple spam checks); the answer carries the receipt number.
- ``/api/v1/opinions/``: the plan's secretariat reads, moderates and links them; a department
  reads those about its initiatives; the original text is the secretariat's alone.
- ``/api/v1/opinion-analyses/``: the secretariat runs (202, a job), publishes and withdraws
  analyses; everyone reads published ones, as JSON (``result``) or as a page (``page``).
"""

from django.http import HttpResponse
from django.template.loader import render_to_string
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_view,
)
from drf_standardized_errors.openapi_serializers import (
    ParseErrorResponseSerializer,
    ValidationErrorResponseSerializer,
)
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from dxapi.client_address import client_address
from dxapi.etags import ETAG, IF_MATCH, expected_version, with_etag
from dxapi.history_api import HistoryMixin
from dxapi.strict import StrictQueryMixin, checked_body, refuse_body
from dxapi.throttling import OpinionRateThrottle
from evaluations import jobs
from evaluations.api.filters import OpinionAnalysisFilter, OpinionFilter
from evaluations.api.job_views import LOCATION, JobSerializer, accepted
from evaluations.api.opinion_serializers import (
    AnalysisRequestSerializer,
    OpinionAnalysisSerializer,
    OpinionImportResultSerializer,
    OpinionImportSerializer,
    OpinionReceiptSerializer,
    OpinionSecretariatSerializer,
    OpinionSendSerializer,
    OpinionSerializer,
    OpinionUpdateSerializer,
    ReceiptSerializer,
)
from evaluations.listening import intake, opinion_csv, runs
from evaluations.listening.page import page_context
from evaluations.listening.results import analysis_result, receipt_status
from evaluations.models import Opinion
from evaluations.policy import (
    may_see_original_opinion,
    opinion_analyses_visible_to,
    opinions_visible_to,
    require_may_send_opinion,
    require_secretariat,
)
from initiatives.access import actor_for
from initiatives.api.permissions import IsAuthenticatedActor, ReadAnyoneWriteAuthenticated

# A refused file or row (validation_error), or a body that is no multipart (client_error).
IMPORT_ERRORS = PolymorphicProxySerializer(
    component_name="OpinionImportErrorResponse",
    serializers={
        "validation_error": ValidationErrorResponseSerializer,
        "client_error": ParseErrorResponseSerializer,
    },
    resource_type_field_name="type",
)


class ResultQuery(serializers.Serializer):
    arguments = serializers.ChoiceField(
        choices=["all", "none"],
        default="all",
        help_text="`all`: every opinion placed; `none`: the clusters and counts only.",
    )


class SendAnyoneReadAuthenticated(IsAuthenticatedActor):
    """Anyone may send an opinion (``create``); everything else needs a user or an API key."""

    public_actions = ("create",)

    def has_permission(self, request, view) -> bool:
        if getattr(view, "action", None) in self.public_actions:
            return True
        return super().has_permission(request, view)


OPINIONS = (
    "Citizens' opinions on a plan. Anyone may send one (no API key: keys act for systems); "
    "its text is masked of personal data (phone numbers, e-mail and postal addresses, "
    "personal names) before it is stored for reading and analysis, and the original is kept "
    "for the plan's secretariat alone. The secretariat reads every opinion of its plans, "
    "moderates them (published, hidden with a reason) and confirms which initiative each is "
    "about; a department reads the opinions about its initiatives that are not hidden."
)


@extend_schema_view(
    list=extend_schema(summary="List opinions", description=OPINIONS),
    retrieve=extend_schema(
        summary="Retrieve an opinion", description=OPINIONS, responses={200: OpinionSerializer}
    ),
)
class OpinionViewSet(
    HistoryMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    serializer_class = OpinionSerializer
    permission_classes = [SendAnyoneReadAuthenticated]
    filterset_class = OpinionFilter
    ordering_fields = ["id", "submitted_at"]
    ordering = ["-id"]
    etag_kind = "opinion"
    # What only the secretariat reads, withheld from the history the departments see.
    history_withheld_fields = ("original_body", "personal_data", "hidden_reason", "sender_digest")
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        return opinions_visible_to(actor_for(self.request)).select_related(
            "plan", "initiative", "policy_area", "confirmed_initiative"
        )

    def may_see_who_changed(self, instance: Opinion) -> bool:
        return may_see_original_opinion(actor_for(self.request), instance)

    def get_throttles(self):
        throttles = super().get_throttles()
        if self.action == "create":
            throttles.append(OpinionRateThrottle())
        return throttles

    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response([self._shown(opinion) for opinion in page])

    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        opinion = self.get_object()
        return with_etag(Response(self._shown(opinion)), "opinion", opinion)

    def _shown(self, opinion: Opinion) -> dict:
        """Its original and moderation for its plan's secretariat; masked for the others
        (a secretariat of one plan may be a department member of another)."""
        actor = actor_for(self.request)
        if may_see_original_opinion(actor, opinion):
            return OpinionSecretariatSerializer(opinion).data
        return OpinionSerializer(opinion).data

    @extend_schema(
        summary="Send an opinion",
        description=OPINIONS
        + " Throttled per person; the same text from the same sender within a day is refused. "
        "`website` must stay empty (a field people do not see in forms).",
        request=OpinionSendSerializer,
        responses={201: OpinionReceiptSerializer},
    )
    def create(self, request: Request) -> Response:
        actor = actor_for(request)
        require_may_send_opinion(actor)  # before the body: a key learns nothing from it
        data = checked_body(OpinionSendSerializer, request)
        user = getattr(request, "user", None)
        sender = f"user:{user.pk}" if user is not None and user.is_authenticated else ""
        opinion = intake.opinion_submit(
            actor=actor,
            plan=data.pop("plan"),
            draft=intake.OpinionDraft(**data),
            sender=sender or client_address(request) or "",
        )
        return Response(OpinionReceiptSerializer(opinion).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Moderate, correct or link an opinion",
        description="The plan's secretariat: `status` (`hidden` needs `hidden_reason`), `body` "
        "(the masked text corrected; it is masked again), `confirmed_initiative` (an "
        "initiative number of the plan, or null). Kept in the opinion's history.",
        parameters=[IF_MATCH, ETAG],
        request=OpinionUpdateSerializer,
        responses=OpinionSecretariatSerializer,
    )
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        opinion = self.get_object()
        actor = actor_for(request)
        require_secretariat(actor, opinion.plan_id)  # before the body is read
        data = checked_body(OpinionUpdateSerializer, request, opinion=opinion)
        opinion = intake.opinion_update(
            actor=actor,
            opinion=opinion,
            data=data,
            expected_version=expected_version(request, "opinion", opinion.pk),
        )
        opinion = self.get_queryset().get(pk=opinion.pk)
        return with_etag(Response(self._shown(opinion)), "opinion", opinion)

    @extend_schema(
        summary="Import opinions from CSV",
        description="The plan's secretariat imports opinions collected elsewhere (a form "
        "tool's export): a CSV file in UTF-8 or Shift_JIS (CP932) with a heading row: "
        "`意見` (required), `取組番号`, `年代`, `市町村`, `公開への同意` (はい/いいえ), "
        "`受付日時`. Other columns are ignored and named in the answer. Every row is checked "
        "first; nothing is written when any row has an error (400, by row). At most "
        f"{opinion_csv.MAX_ROWS:,} rows and {opinion_csv.MAX_BYTES >> 20} MB. A large file "
        "(500 lines or 256 KiB by default) is imported by a job: 202 Accepted with the job "
        "(`Location`), whose `result` is then this 201 body, or its `error` this 400 body.",
        request={"multipart/form-data": OpinionImportSerializer},
        parameters=[LOCATION],
        responses={
            201: OpinionImportResultSerializer,
            202: OpenApiResponse(JobSerializer, description="Imported by a job."),
            400: IMPORT_ERRORS,
        },
    )
    @action(detail=False, methods=["post"], url_path="import", parser_classes=[MultiPartParser])
    def import_csv(self, request: Request) -> Response:
        data = checked_body(OpinionImportSerializer, request)
        plan, upload = data["plan"], data["file"]
        opinion_csv.require_size(upload.size)  # before the upload is read
        actor, content = actor_for(request), upload.read()
        if opinion_csv.is_large(content):
            require_secretariat(actor, plan.pk)  # now, and again when the job runs
            job = jobs.start_opinion_import(
                actor=actor, plan=plan, data=content, filename=upload.name or "opinions.csv"
            )
            return accepted(request, job)
        opinions, ignored = opinion_csv.import_file(actor=actor, plan=plan, data=content)
        body = opinion_csv.import_summary(opinions, ignored)
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="The opinion import template",
        description="An empty CSV file with the headings the import reads (UTF-8 with BOM).",
        responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR)},
    )
    @action(detail=False, methods=["get"], url_path="import-template", filter_backends=[])
    def import_template(self, request: Request) -> HttpResponse:
        response = HttpResponse(opinion_csv.template_csv(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="opinions.csv"'
        return response


ANALYSES = (
    "Analyses of a plan's opinions, run on the service's own machine (no network): Japanese "
    "tokenised with SudachiPy, TF-IDF/LSA vectors, clusters in two levels (k-means, then "
    "Ward), each labelled by its distinctive terms (c-TF-IDF) and its most representative "
    "opinions, and each opinion linked to its likeliest initiatives by text similarity. The "
    "plan's secretariat runs and publishes them; everyone reads published ones."
)


@extend_schema_view(
    list=extend_schema(summary="List opinion analyses", description=ANALYSES),
    retrieve=extend_schema(summary="Retrieve an opinion analysis", description=ANALYSES),
)
class OpinionAnalysisViewSet(
    StrictQueryMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    serializer_class = OpinionAnalysisSerializer
    permission_classes = [ReadAnyoneWriteAuthenticated]
    filterset_class = OpinionAnalysisFilter
    ordering_fields = ["id", "created_at"]
    ordering = ["-id"]
    parser_classes = [JSONParser]
    query_serializer: type[serializers.Serializer] | None = None  # per action (``result``)

    def get_queryset(self):
        return opinion_analyses_visible_to(actor_for(self.request)).select_related("plan", "job")

    @extend_schema(
        summary="Run an analysis",
        description=ANALYSES + " Answers 202 with the analysis; its `job` tells the progress.",
        request=AnalysisRequestSerializer,
        responses={202: OpinionAnalysisSerializer},
    )
    def create(self, request: Request) -> Response:
        data = checked_body(AnalysisRequestSerializer, request)
        analysis = runs.analysis_request(actor=actor_for(request), **data)
        response = Response(
            OpinionAnalysisSerializer(analysis).data, status=status.HTTP_202_ACCEPTED
        )
        response["Location"] = reverse("opinion-analysis-detail", args=[analysis.pk])
        return response

    @extend_schema(
        summary="Publish an analysis",
        description="The public may then read it (409 unless it succeeded).",
        request=None,
        responses=OpinionAnalysisSerializer,
    )
    @action(detail=True, methods=["post"])
    def publish(self, request: Request, pk: str | None = None) -> Response:
        analysis = self.get_object()
        refuse_body(request)
        analysis = runs.analysis_publish(actor=actor_for(request), analysis=analysis)
        return Response(OpinionAnalysisSerializer(analysis).data)

    @extend_schema(
        summary="Withdraw an analysis",
        description="The public no longer reads it.",
        request=None,
        responses=OpinionAnalysisSerializer,
    )
    @action(detail=True, methods=["post"])
    def unpublish(self, request: Request, pk: str | None = None) -> Response:
        analysis = self.get_object()
        refuse_body(request)
        analysis = runs.analysis_unpublish(actor=actor_for(request), analysis=analysis)
        return Response(OpinionAnalysisSerializer(analysis).data)

    @extend_schema(
        summary="An analysis's result",
        description="In the shape of kouchou-ai's `hierarchical_result.json`: `clusters` "
        "(level 0 the whole, 1 coarse, 2 fine: `id`, `label`, `takeaway`, `value`, "
        "`parent`, plus `terms` and `representatives`) and `arguments` (`arg_id`, "
        "`argument`, `x`, `y`, `cluster_ids`, `attributes`, plus suggested `initiatives`); "
        "with `crosstabs` of the coarse clusters by age band and municipality and the "
        "opinions per initiative. The public reads the text of opinions published with "
        "their sender's consent only (null otherwise), and cross-tab cells of 3 or more. "
        "`arguments=none` leaves the opinions out (an empty list): all else stays, in a few "
        "kilobytes where 100,000 opinions make some 60 MB.",
        parameters=[ResultQuery],
        responses={200: OpenApiTypes.OBJECT},
    )
    @action(detail=True, methods=["get"], query_serializer=ResultQuery)
    def result(self, request: Request, pk: str | None = None) -> Response:
        query = ResultQuery(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        analysis = self._finished(self.get_object())
        with_arguments = query.validated_data["arguments"] == "all"
        result = analysis_result(analysis, actor_for(request), with_arguments=with_arguments)
        return Response(result)

    @extend_schema(
        summary="An analysis's page",
        description="The result as a printable HTML page with charts (no scripts).",
        responses={(200, "text/html"): OpenApiResponse(OpenApiTypes.STR)},
    )
    @action(detail=True, methods=["get"])
    def page(self, request: Request, pk: str | None = None) -> HttpResponse:
        analysis = self._finished(self.get_object())
        result = analysis_result(analysis, actor_for(request))
        html = render_to_string("evaluations/opinion_analysis.html", page_context(result))
        return HttpResponse(html, content_type="text/html; charset=utf-8")

    def _finished(self, analysis):
        runs.require_finished(analysis)
        return analysis


class OpinionReceiptViewSet(StrictQueryMixin, viewsets.GenericViewSet):
    """What became of an opinion, for whoever holds its receipt number (it is unguessable):
    its state, and the published analyses that read it, with the group it was put in."""

    permission_classes = [permissions.AllowAny]
    lookup_field = "receipt"
    lookup_value_regex = "[0-9a-fA-F-]{32,36}"
    filter_backends = []

    @extend_schema(
        summary="Follow an opinion by its receipt number",
        description="The opinion's state (`received`, `published` or `hidden`) and the "
        "published analyses that include it, with the label of its group and the analysis "
        "page. Only the receipt number's holder knows it; no text is shown.",
        responses=ReceiptSerializer,
    )
    def retrieve(self, request: Request, receipt: str | None = None) -> Response:
        return Response(ReceiptSerializer(receipt_status(receipt)).data)
