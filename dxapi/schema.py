"""Helpers that give every operation a summary and a description in the OpenAPI schema."""

from drf_spectacular.utils import extend_schema, extend_schema_view
from drf_standardized_errors.openapi import AutoSchema as StandardErrorsAutoSchema


def read_only_docs(*, plural: str, singular: str, description: str):
    """Summaries and descriptions for a read-only viewset's ``list`` and ``retrieve``."""
    return extend_schema_view(
        list=extend_schema(summary=f"List {plural}", description=description),
        retrieve=extend_schema(
            summary=f"Retrieve a {singular}",
            description=f"One {singular} by id. {description}",
        ),
    )


def crud_docs(*, plural: str, singular: str, description: str, read, write, who: str):
    """Summaries, descriptions and request/response bodies for a read-write viewset whose
    writes take ``write`` and answer with ``read``."""
    return extend_schema_view(
        list=extend_schema(summary=f"List {plural}", description=description),
        retrieve=extend_schema(
            summary=f"Retrieve a {singular}", description=f"One {singular} by id. {description}"
        ),
        create=extend_schema(
            summary=f"Create a {singular}",
            description=f"{who} creates a {singular}.",
            request=write,
            responses={201: read},
        ),
        update=extend_schema(
            summary=f"Replace a {singular}",
            description=f"{who} replaces a {singular}.",
            request=write,
            responses=read,
        ),
        partial_update=extend_schema(
            summary=f"Update a {singular}",
            description=f"{who} changes some fields of a {singular}.",
            request=write,
            responses=read,
        ),
        destroy=extend_schema(
            summary=f"Delete a {singular}",
            description=(
                f"{who} deletes a {singular}. Refused with 409 while it is in use, e.g. by "
                "evaluations: nothing is deleted by cascade."
            ),
        ),
    )


class AutoSchema(StandardErrorsAutoSchema):
    """Documents 409 on writes only, and 412/428 on the writes of versioned records (views
    with an ``etag_kind``) that take If-Match; declares reads open to anonymous callers where
    the view's permission says so (``public_reads``)."""

    def get_auth(self):
        auths = super().get_auth()
        public = any(getattr(p, "public_reads", False) for p in self.view.get_permissions())
        if public and self.method in ("GET", "HEAD", "OPTIONS") and {} not in auths:
            auths.append({})
        return auths

    def _should_add_error_response(self, responses: dict, status_code: str) -> bool:
        is_write = self.method not in ("GET", "HEAD", "OPTIONS")
        if status_code == "409":
            return is_write and super()._should_add_error_response(responses, status_code)
        if status_code in ("412", "428"):
            versioned = getattr(self.view, "etag_kind", None) is not None
            creating = getattr(self.view, "action", None) == "create"
            return (
                is_write
                and versioned
                and not creating
                and super()._should_add_error_response(responses, status_code)
            )
        return super()._should_add_error_response(responses, status_code)
