"""Optimistic concurrency for versioned records: a strong ``ETag`` on their responses, and
``If-Match`` required on their writes (428 without it, 412 when it is stale)."""

import re

from django.utils.http import parse_etags
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import exceptions, status
from rest_framework.response import Response

from dxapi.versions import Precondition


class PreconditionRequired(exceptions.APIException):
    status_code = status.HTTP_428_PRECONDITION_REQUIRED
    default_code = "precondition_required"
    default_detail = _("Send If-Match with the ETag of the version you are changing.")


class PreconditionFailed(exceptions.APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_code = "precondition_failed"
    default_detail = _("The record has changed since that ETag: fetch it again.")


def etag_for(kind: str, pk: int, version: int) -> str:
    return f'"{kind}-{pk}-v{version}"'


def with_etag(response: Response, kind: str, instance) -> Response:
    response["ETag"] = etag_for(kind, instance.pk, instance.version)
    return response


NO_SUCH_VERSION = 0  # versions start at 1: a tag of another record matches no version


def expected_version(request, kind: str, pk: int) -> Precondition:
    """What the caller's ``If-Match`` says of this record (checked later, by the service)."""
    header = request.headers.get("If-Match", "").strip()
    if not header:
        return Precondition.missing()
    if header == "*":
        return Precondition.any()
    pattern = re.compile(rf"^{re.escape(kind)}-{pk}-v(\d+)$")
    for tag in parse_etags(header):
        match = pattern.match(tag.strip('"')) if tag.startswith('"') else None
        if match:
            return Precondition(version=int(match.group(1)))
    return Precondition(version=NO_SUCH_VERSION)


IF_MATCH = OpenApiParameter(
    "If-Match",
    OpenApiTypes.STR,
    location=OpenApiParameter.HEADER,
    required=True,
    description="The ETag of the version being changed, from a GET of the record.",
)
ETAG = OpenApiParameter(
    "ETag",
    OpenApiTypes.STR,
    location=OpenApiParameter.HEADER,
    response=True,
    description="Strong ETag of the record's version; send it back as If-Match to change it.",
)


def _precondition_responses() -> dict[int, OpenApiResponse]:
    # The error envelope lives in dxapi.exceptions, which imports this module.
    from dxapi.exceptions import ClientErrorResponseSerializer

    return {
        412: OpenApiResponse(
            ClientErrorResponseSerializer,
            description=(
                "If-Match names an older version (`precondition_failed`): fetch and retry."
            ),
        ),
        428: OpenApiResponse(
            ClientErrorResponseSerializer,
            description="If-Match is missing (`precondition_required`).",
        ),
    }


def __getattr__(name: str):
    """``PRECONDITION_RESPONSES``: the 412 and 428 of writes that take If-Match, with the
    error envelope as their body (built on first use, after ``dxapi.exceptions``)."""
    if name == "PRECONDITION_RESPONSES":
        return _precondition_responses()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
