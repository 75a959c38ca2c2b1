"""List endpoints run a fixed number of queries, however many rows a page holds.

Each list is measured at ``page_size=5`` and ``page_size=50``: the counts must be equal (no
query per row) and equal to the pinned number (count, page, and one per prefetched relation).
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

# endpoint -> queries for one page, as an anonymous caller:
# the count, the page, then one per prefetch.
EXPECTED_QUERIES = {
    "plans": 2,
    "departments": 2,
    "pillars": 3,  # + policy areas
    "policy-areas": 2,  # pillar joined
    "initiatives": 5,  # + responsibilities with departments, KPIs, visible evaluations
    "kpis": 4,  # + targets, visible actuals with their targets
    "rounds": 2,
    # + the KPI actuals of the page's evaluations with their targets (the suggestions)
    "evaluations": 3,
    "kpi-actuals": 2,
    "kpi-targets": 2,  # KPI and initiative joined
}


def queries_for(client, path: str, params: dict) -> tuple[int, dict]:
    with CaptureQueriesContext(connection) as context:
        response = client.get(path, params)
    assert response.status_code == 200, response.content
    return len(context.captured_queries), response.json()


@pytest.mark.parametrize(("endpoint", "expected"), EXPECTED_QUERIES.items())
def test_list_query_count_does_not_grow_with_page_size(api, endpoint: str, expected: int) -> None:
    path = f"/api/v1/{endpoint}/"
    small, small_body = queries_for(api, path, {"page_size": 5})
    large, large_body = queries_for(api, path, {"page_size": 50})

    assert len(small_body["results"]) == min(5, small_body["count"])
    assert len(large_body["results"]) == min(50, large_body["count"])
    assert small == large, f"{endpoint}: {small} queries for 5 rows, {large} for 50"
    assert large == expected


def test_evaluation_query_count_with_filters(api) -> None:
    params = {"fiscal_year": "R6", "department": "kikaku-shinko"}
    small, _ = queries_for(api, "/api/v1/evaluations/", {**params, "page_size": 2})
    large, body = queries_for(api, "/api/v1/evaluations/", {**params, "page_size": 50})
    assert body["count"] == 11
    assert small == large == EXPECTED_QUERIES["evaluations"]


def test_initiative_query_count_with_rating_filter(api) -> None:
    params = {"fiscal_year": "R6", "rating": "B"}
    small, _ = queries_for(api, "/api/v1/initiatives/", {**params, "page_size": 5})
    large, body = queries_for(api, "/api/v1/initiatives/", {**params, "page_size": 50})
    assert body["count"] == 68
    assert small == large == EXPECTED_QUERIES["initiatives"]


@pytest.mark.parametrize("expand", ["texts", "kpi_actuals", "texts,kpi_actuals"])
def test_evaluation_query_count_with_expand(api, expand: str) -> None:
    """The texts are columns of the page, the reviewers joined to it, and the KPI actuals are
    prefetched for the suggestion anyway: expanding costs the public no query."""
    small, _ = queries_for(api, "/api/v1/evaluations/", {"expand": expand, "page_size": 5})
    large, body = queries_for(api, "/api/v1/evaluations/", {"expand": expand, "page_size": 50})
    assert "progress_text" in body["results"][0] or expand == "kpi_actuals"
    assert small == large == EXPECTED_QUERIES["evaluations"]


@pytest.mark.parametrize(
    ("endpoint", "params"),
    [
        ("kpis", {"department": "kikaku-shinko", "fiscal_year": "R6"}),
        ("kpi-actuals", {"department": "kikaku-shinko", "fiscal_year": "R6"}),
    ],
)
def test_kpi_query_counts_with_department_and_fiscal_year(api, endpoint: str, params) -> None:
    path = f"/api/v1/{endpoint}/"
    small, _ = queries_for(api, path, {**params, "page_size": 2})
    large, body = queries_for(api, path, {**params, "page_size": 50})
    assert body["count"] > 2
    assert small == large == EXPECTED_QUERIES[endpoint]
