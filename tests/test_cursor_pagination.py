"""Cursor pages of the largest lists (evaluations, KPI actuals): the whole list in id order,
each row once, without COUNT(*); and the page-number pages stay as they were."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from evaluations.models import Evaluation, KPIActual
from tests.helpers import PLAN_CODE

CURSOR_LISTS = {
    "evaluations": Evaluation.objects.filter(round__status="published"),
    "kpi-actuals": KPIActual.objects.filter(evaluation__round__status="published"),
}


def walk(client, path: str, params: dict) -> tuple[list[int], int]:
    """Follow ``next`` from the first cursor page; the ids read and the pages it took."""
    ids, pages = [], 0
    response = client.get(path, {**params, "pagination": "cursor"})
    while True:
        assert response.status_code == 200, response.content
        body = response.json()
        assert "count" not in body
        ids += [row["id"] for row in body["results"]]
        pages += 1
        if body["next"] is None:
            return ids, pages
        response = client.get(body["next"])


@pytest.mark.parametrize("endpoint", CURSOR_LISTS)
def test_a_cursor_walks_the_whole_list_in_id_order(api, endpoint: str) -> None:
    ids, pages = walk(api, f"/api/v1/{endpoint}/", {"page_size": 7})

    expected = sorted(CURSOR_LISTS[endpoint].values_list("id", flat=True))
    assert ids == expected
    assert pages == -(-len(expected) // 7)


def test_a_cursor_keeps_the_filters(api) -> None:
    ids, _ = walk(api, "/api/v1/evaluations/", {"fiscal_year": "R6", "rating": "C"})

    assert len(ids) == 5
    assert set(
        Evaluation.objects.filter(id__in=ids).values_list("round__fiscal_year", "rating")
    ) == {(2024, "C")}


def test_a_cursor_goes_back_with_previous(api) -> None:
    first = api.get("/api/v1/evaluations/", {"pagination": "cursor", "page_size": 5}).json()
    second = api.get(first["next"]).json()
    back = api.get(second["previous"]).json()

    assert first["previous"] is None
    assert [row["id"] for row in back["results"]] == [row["id"] for row in first["results"]]


def test_a_cursor_page_does_not_count_the_list(api) -> None:
    with CaptureQueriesContext(connection) as queries:
        response = api.get("/api/v1/evaluations/", {"pagination": "cursor", "page_size": 50})

    assert response.status_code == 200
    # (The page's suggestion counts each evaluation's KPI ratios: COUNT(…), never COUNT(*).)
    assert not any("COUNT(*)" in query["sql"].upper() for query in queries.captured_queries)
    assert len(queries.captured_queries) == 2  # the page, then the actuals of those without ratio


def test_a_cursor_shows_only_what_the_caller_may_see(api, secretariat, r7) -> None:
    public, _ = walk(api, "/api/v1/evaluations/", {"plan": PLAN_CODE})
    everything, _ = walk(secretariat, "/api/v1/evaluations/", {"plan": PLAN_CODE})

    assert set(public) == set(CURSOR_LISTS["evaluations"].values_list("id", flat=True))
    assert set(everything) == set(Evaluation.objects.values_list("id", flat=True))
    assert len(everything) > len(public)


def test_page_numbers_with_a_count_stay_the_default(api) -> None:
    body = api.get("/api/v1/evaluations/", {"page_size": 10, "page": 2}).json()

    assert body["count"] == CURSOR_LISTS["evaluations"].count()
    assert len(body["results"]) == 10


@pytest.mark.parametrize(
    ("params", "attr"),
    [
        ({"pagination": "offset"}, "pagination"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        # Cursors made by hand: base64 of "p=abc", of a position beyond 64 bits, of "p=-1".
        ({"cursor": "cD1hYmM="}, "cursor"),
        ({"cursor": "cD05OTk5OTk5OTk5OTk5OTk5OTk5OTk5"}, "cursor"),
        ({"cursor": "cD0tMQ=="}, "cursor"),
        ({"pagination": "cursor", "page": 2}, "page"),
        ({"pagination": "cursor", "ordering": "rating"}, "ordering"),
        ({"pagination": "cursor", "page_size": 500}, "page_size"),
    ],
)
@pytest.mark.parametrize("endpoint", ["/api/v1/evaluations/", "/api/v1/kpi-actuals/"])
def test_bad_cursor_requests_are_a_400_naming_the_parameter(
    api, endpoint: str, params: dict, attr: str
) -> None:
    response = api.get(endpoint, params)

    assert response.status_code == 400
    assert [error["attr"] for error in response.json()["errors"]] == [attr]


def test_lists_without_a_cursor_refuse_its_parameters(api) -> None:
    """Lists that are never huge keep page numbers only: ``pagination`` is not theirs."""
    response = api.get("/api/v1/departments/", {"pagination": "cursor"})

    assert response.status_code == 400
    assert [(e["attr"], e["code"]) for e in response.json()["errors"]] == [
        ("pagination", "unknown_parameter")
    ]
