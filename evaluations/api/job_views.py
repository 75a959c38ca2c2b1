"""Jobs: the state, progress and outcome of the imports and exports run after their request
(``evaluations.jobs``), and the file an export job made. A caller sees its own jobs (its
user's, or its API key's); the plan's secretariat every job of its plan; others get a 404."""

from django.http import FileResponse
from django.urls import reverse
from django.utils.http import content_disposition_header
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from evaluations import jobs
from evaluations.api.filters import JobFilter
from evaluations.models import Job, JobState
from evaluations.policy import jobs_visible_to
from initiatives.access import actor_for
from initiatives.api.permissions import IsAuthenticatedActor

LOCATION = OpenApiParameter(
    "Location",
    OpenApiTypes.URI,
    location=OpenApiParameter.HEADER,
    response=[202],
    description="The job started (`GET /api/v1/jobs/{id}/`).",
)


class JobProgressSerializer(serializers.Serializer):
    stage = serializers.CharField(
        allow_null=True,
        help_text="`validating` or `writing` (imports), `exporting` (exports); null before.",
    )
    done = serializers.IntegerField(help_text="Rows (or records) done in the stage.")
    total = serializers.IntegerField(allow_null=True, help_text="Their number, when known.")


class JobErrorItemSerializer(serializers.Serializer):
    code = serializers.CharField()
    detail = serializers.CharField()
    attr = serializers.CharField(allow_null=True)
    row = serializers.IntegerField(allow_null=True, required=False)
    column = serializers.CharField(allow_null=True, required=False)
    sheet = serializers.CharField(allow_null=True, required=False)


class JobErrorSerializer(serializers.Serializer):
    """Why the job failed: for an import, the error body the synchronous import answers."""

    type = serializers.CharField()
    errors = JobErrorItemSerializer(many=True)
    truncated = serializers.BooleanField(required=False)


@extend_schema_field(JobErrorSerializer(allow_null=True))
class JobErrorField(serializers.JSONField):
    """The error body as the job recorded it (an import's, as the import answers it)."""


class JobSerializer(serializers.ModelSerializer):
    plan_code = serializers.CharField(source="plan.code", read_only=True)
    requested_by = serializers.SlugRelatedField(
        slug_field="username",
        read_only=True,
        allow_null=True,
        help_text="The user who started the job (null for an API key).",
    )
    api_key = serializers.SlugRelatedField(
        slug_field="prefix",
        read_only=True,
        allow_null=True,
        help_text="The prefix of the API key that started the job (null for a user).",
    )
    progress = serializers.SerializerMethodField()
    result = serializers.JSONField(
        read_only=True,
        allow_null=True,
        help_text="When succeeded: an import's result (as the synchronous import answers), "
        "or an export's file name, type and size.",
    )
    error = JobErrorField(read_only=True, allow_null=True)
    file = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()

    class Meta:
        model = Job
        fields = [
            "id",
            "url",
            "kind",
            "plan",
            "plan_code",
            "state",
            "progress",
            "result",
            "error",
            "file",
            "requested_by",
            "api_key",
            "attempts",
            "created_at",
            "started_at",
            "finished_at",
            "expires_at",
        ]
        read_only_fields = fields

    @extend_schema_field(JobProgressSerializer)
    def get_progress(self, job: Job) -> dict:
        return jobs.progress_of(job)

    @extend_schema_field(OpenApiTypes.URI)
    def get_url(self, job: Job) -> str:
        return self._absolute(reverse("job-detail", args=[job.pk]))

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_file(self, job: Job) -> str | None:
        """Where the result file is downloaded, once there is one."""
        if job.state != JobState.SUCCEEDED or not job.result_file:
            return None
        return self._absolute(reverse("job-file", args=[job.pk]))

    def _absolute(self, path: str) -> str:
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path


DESCRIPTION = (
    "Imports of large sheets and export files run as jobs: the request that starts one "
    "answers 202 Accepted with the job and its `Location`; poll the job until its `state` is "
    "`succeeded` or `failed`. A caller sees the jobs it started (its user's, or its API "
    "key's); the plan's secretariat every job of its plan; any other job is a 404. Jobs are "
    "kept for a few days (`expires_at`), then deleted with their files."
)


@extend_schema_view(
    list=extend_schema(summary="List jobs", description=DESCRIPTION),
    retrieve=extend_schema(summary="Retrieve a job", description=DESCRIPTION),
)
class JobViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = JobSerializer
    permission_classes = [IsAuthenticatedActor]
    filterset_class = JobFilter
    ordering_fields = ["created_at", "id"]
    ordering = ["-created_at", "-id"]

    def get_queryset(self):
        return jobs_visible_to(actor_for(self.request)).select_related(
            "plan", "requested_by", "api_key"
        )

    @extend_schema(
        summary="Download a job's file",
        description=(
            "The file an export job made (CSV, or the plan document as JSON), once the job "
            "succeeded; 404 before, for other jobs and for callers who may not see the job."
        ),
        responses={
            (200, "text/csv"): OpenApiTypes.STR,
            (200, "application/json"): OpenApiTypes.OBJECT,
        },
    )
    @action(detail=True, url_path="file", url_name="file")
    def file(self, request: Request, pk: str | None = None) -> FileResponse:
        job = self.get_object()
        if job.state != JobState.SUCCEEDED or not job.result_file:
            raise NotFound()
        result = job.result or {}
        handle = job.result_file.open("rb")
        response = FileResponse(handle, content_type=result.get("content_type"))
        name = result.get("filename") or job.result_file.name.rsplit("/", 1)[-1]
        response["Content-Disposition"] = content_disposition_header(True, name)
        return response


def accepted(request: Request, job: Job) -> Response:
    """202 Accepted with the job and its Location."""
    body = JobSerializer(job, context={"request": request}).data
    return Response(body, status=202, headers={"Location": body["url"]})
