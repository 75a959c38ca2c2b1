"""Helpers that give every operation a summary and a description in the OpenAPI schema."""

from drf_spectacular.utils import extend_schema, extend_schema_view


def read_only_docs(*, plural: str, singular: str, description: str):
    """Summaries and descriptions for a read-only viewset's ``list`` and ``retrieve``."""
    return extend_schema_view(
        list=extend_schema(summary=f"List {plural}", description=description),
        retrieve=extend_schema(
            summary=f"Retrieve a {singular}",
            description=f"One {singular} by id. {description}",
        ),
    )
