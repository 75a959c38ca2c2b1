"""Aggregates: the report's headline figures, groupings, transitions and trend."""

import pytest

from initiatives.models import PolicyArea
from tests.conftest import error_attrs

RATINGS = "/api/v1/aggregates/ratings/"
TRANSITIONS = "/api/v1/aggregates/transitions/"
TREND = "/api/v1/aggregates/trend/"


def get_ok(client, path: str, params: dict) -> dict:
    response = client.get(path, params)
    assert response.status_code == 200, response.content
    return response.json()


def counts(row: dict) -> tuple:
    return (row["a"], row["b"], row["c"], row["total"])


def group_named(body: dict, name: str, **extra) -> dict:
    (row,) = [
        row
        for row in body["groups"]
        if row["group"]["name"] == name and all(row["group"][k] == v for k, v in extra.items())
    ]
    return row


# --- rating counts -------------------------------------------------------------------------


def test_r6_headline_figures(api) -> None:
    body = get_ok(api, RATINGS, {"plan": "akita-dx", "fiscal_year": "R6"})

    assert body["plan"]["code"] == "akita-dx"
    assert (body["fiscal_year"], body["fiscal_year_label"], body["fiscal_year_label_ja"]) == (
        2024,
        "R6",
        "令和6年度",
    )
    assert body["group_by"] is None
    assert body["groups"] == []
    assert body["overall"] == {
        "a": 18,
        "b": 68,
        "c": 5,
        "not_evaluated": 0,
        "unrated": 0,
        "total": 91,
        "rated": 91,
        "a_and_b": 86,
        "a_percentage": 19.8,
        "b_percentage": 74.7,
        "c_percentage": 5.5,
        "a_and_b_percentage": 94.5,
    }


def test_r5_percentages_are_of_the_rated_initiatives(api) -> None:
    overall = get_ok(api, RATINGS, {"plan": "akita-dx", "fiscal_year": "R5"})["overall"]
    assert counts(overall) == (15, 62, 6, 91)
    assert (overall["not_evaluated"], overall["unrated"], overall["rated"]) == (7, 1, 83)
    assert overall["a_percentage"] == 18.1  # 15 / 83
    assert overall["c_percentage"] == 7.2  # 6 / 83
    assert overall["a_and_b_percentage"] == 92.8  # 77 / 83


@pytest.mark.parametrize("fiscal_year", ["2024", "令和6年度", "r6"])
def test_plan_by_id_and_other_year_spellings(api, plan, fiscal_year: str) -> None:
    body = get_ok(api, RATINGS, {"plan": plan.pk, "fiscal_year": fiscal_year})
    assert body["plan"]["id"] == plan.pk
    assert counts(body["overall"]) == (18, 68, 5, 91)


def test_a_year_without_evaluations_has_no_percentages(api) -> None:
    overall = get_ok(api, RATINGS, {"plan": "akita-dx", "fiscal_year": "R4"})["overall"]
    assert counts(overall) == (0, 0, 0, 0)
    assert overall["a_percentage"] is None
    assert overall["a_and_b_percentage"] is None


def test_group_by_pillar(api) -> None:
    body = get_ok(api, RATINGS, {"plan": "akita-dx", "fiscal_year": "R6", "group_by": "pillar"})

    assert body["group_by"] == "pillar"
    assert [(row["group"]["name"], *counts(row)) for row in body["groups"]] == [
        ("行政", 4, 21, 0, 25),
        ("産業", 5, 17, 3, 25),
        ("くらし", 8, 22, 1, 31),
        ("環境基盤", 1, 8, 1, 10),
    ]
    gyosei = body["groups"][0]
    assert gyosei["a_and_b_percentage"] == 100.0
    assert gyosei["a_percentage"] == 16.0
    assert counts(body["overall"]) == (18, 68, 5, 91)


def test_group_by_policy_area(api, plan) -> None:
    body = get_ok(
        api, RATINGS, {"plan": "akita-dx", "fiscal_year": "R6", "group_by": "policy_area"}
    )

    assert len(body["groups"]) == 20
    assert sum(row["total"] for row in body["groups"]) == 91
    keys = [(row["group"]["pillar_name"], row["group"]["number"]) for row in body["groups"]]
    assert keys[:3] == [("行政", 1), ("行政", 2), ("行政", 3)]
    assert keys[-1] == ("環境基盤", 4)
    row = group_named(body, "行政事務の効率化と働き方改革")
    area = PolicyArea.objects.get(pillar__plan=plan, pillar__name="行政", number=3)
    assert row["group"] == {
        "id": area.pk,
        "name": "行政事務の効率化と働き方改革",
        "number": 3,
        "pillar_name": "行政",
    }
    assert counts(row) == (2, 6, 0, 8)
    tourism = group_named(body, "デジタル技術を活用した観光施策の推進")
    assert counts(tourism) == (2, 2, 1, 5)
    assert tourism["c_percentage"] == 20.0


def test_group_by_department(api, plan) -> None:
    body = get_ok(api, RATINGS, {"plan": "akita-dx", "fiscal_year": "R6", "group_by": "department"})

    names = [row["group"]["name"] for row in body["groups"]]
    assert names[0] == "企画振興部"
    assert len(names) == 12  # 11 departments and the unassigned group, last
    kikaku = group_named(body, "企画振興部")
    assert kikaku["group"] == {
        "id": plan.departments.get(code="kikaku-shinko").pk,
        "code": "kikaku-shinko",
        "name": "企画振興部",
    }
    assert counts(kikaku) == (4, 6, 1, 11)
    assert kikaku["a_and_b_percentage"] == 90.9
    unassigned = body["groups"][-1]
    assert unassigned["group"]["id"] is None
    assert counts(unassigned) == (8, 55, 4, 67)
    # An initiative with two departments counts in each: 26 responsibilities + 67 unassigned.
    assert sum(row["total"] for row in body["groups"]) == 93
    assert counts(group_named(body, "出納局")) == (1, 0, 0, 1)
    assert counts(group_named(body, "総務部")) == (1, 0, 0, 1)
    assert counts(body["overall"]) == (18, 68, 5, 91)


def test_invalid_group_by_is_400(api) -> None:
    response = api.get(RATINGS, {"plan": "akita-dx", "fiscal_year": "R6", "group_by": "city"})
    assert response.status_code == 400
    assert error_attrs(response) == ["group_by"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"fiscal_year": "R6"}, "plan"),
        ({"plan": "akita-dx"}, "fiscal_year"),
        ({"plan": "akita-dx", "fiscal_year": "R"}, "fiscal_year"),
        ({"plan": "akita-dx", "fiscal_year": "2024x"}, "fiscal_year"),
        ({"plan": "akita-dx", "fiscal_year": "R99"}, "fiscal_year"),
    ],
)
def test_ratings_bad_query_is_400_naming_the_field(api, params: dict, field: str) -> None:
    response = api.get(RATINGS, params)
    assert response.status_code == 400
    assert field in error_attrs(response)


@pytest.mark.parametrize(
    ("path", "params"),
    [
        (RATINGS, {"plan": "no-such-plan", "fiscal_year": "R6"}),
        (RATINGS, {"plan": "999999", "fiscal_year": "R6"}),
        (TRANSITIONS, {"plan": "no-such-plan", "to_year": "R6"}),
        (TREND, {"plan": "no-such-plan"}),
    ],
)
def test_unknown_plan_is_404(api, path: str, params: dict) -> None:
    assert api.get(path, params).status_code == 404


# --- transitions ---------------------------------------------------------------------------


def cell(body: dict, from_rating: str, to_rating: str) -> int:
    found = [
        item["count"]
        for item in body["matrix"]
        if (item["from_rating"], item["to_rating"]) == (from_rating, to_rating)
    ]
    return found[0] if found else 0


def test_transitions_r5_to_r6(api) -> None:
    body = get_ok(api, TRANSITIONS, {"plan": "akita-dx", "from_year": "R5", "to_year": "R6"})

    assert (body["from_year"], body["from_year_label"]) == (2023, "R5")
    assert (body["to_year"], body["to_year_label"], body["to_year_label_ja"]) == (
        2024,
        "R6",
        "令和6年度",
    )
    assert cell(body, "C", "A") == 2  # No. 3, 81
    assert cell(body, "B", "C") == 2  # No. 30, 46
    assert cell(body, "-", "B") == 7
    assert cell(body, "none", "B") == 1  # No. 36
    assert cell(body, "A", "A") == 11
    assert cell(body, "A", "B") == 4
    assert cell(body, "B", "A") == 5
    assert cell(body, "B", "B") == 55
    assert cell(body, "C", "B") == 1
    assert cell(body, "C", "C") == 3
    assert cell(body, "A", "C") == 0
    assert sum(item["count"] for item in body["matrix"]) == 91
    assert (body["improved"], body["unchanged"], body["worsened"]) == (8, 69, 6)
    assert body["not_comparable"] == 8
    assert body["total"] == 91


def test_transitions_from_year_defaults_to_the_year_before(api) -> None:
    default = get_ok(api, TRANSITIONS, {"plan": "akita-dx", "to_year": "2024"})
    explicit = get_ok(api, TRANSITIONS, {"plan": "akita-dx", "to_year": "R6", "from_year": "R5"})
    assert default["from_year"] == 2023
    assert default == explicit


def test_transitions_from_a_year_without_evaluations(api, plan) -> None:
    body = get_ok(api, TRANSITIONS, {"plan": plan.pk, "to_year": "R5"})
    assert body["from_year"] == 2022
    assert cell(body, "none", "B") == 62
    assert body["not_comparable"] == 91
    assert body["improved"] == body["unchanged"] == body["worsened"] == 0


@pytest.mark.parametrize("from_year", ["R6", "R7", "2025"])
def test_transitions_from_year_not_before_to_year_is_400(api, from_year: str) -> None:
    response = api.get(TRANSITIONS, {"plan": "akita-dx", "to_year": "R6", "from_year": from_year})
    assert response.status_code == 400
    assert error_attrs(response) == ["from_year"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"plan": "akita-dx"}, "to_year"),
        ({"to_year": "R6"}, "plan"),
        ({"plan": "akita-dx", "to_year": "R"}, "to_year"),
        ({"plan": "akita-dx", "to_year": "R6", "from_year": "x"}, "from_year"),
    ],
)
def test_transitions_bad_query_is_400_naming_the_field(api, params: dict, field: str) -> None:
    response = api.get(TRANSITIONS, params)
    assert response.status_code == 400
    assert field in error_attrs(response)


# --- trend ---------------------------------------------------------------------------------


def test_trend(api) -> None:
    body = get_ok(api, TREND, {"plan": "akita-dx"})

    assert body["plan"]["code"] == "akita-dx"
    r5, r6 = body["years"]
    assert (r5["fiscal_year"], r5["fiscal_year_label"], r5["fiscal_year_label_ja"]) == (
        2023,
        "R5",
        "令和5年度",
    )
    assert counts(r5) == (15, 62, 6, 91)
    assert (r5["rated"], r5["unrated"], r5["not_evaluated"]) == (83, 1, 7)
    assert r6["fiscal_year_label"] == "R6"
    assert counts(r6) == (18, 68, 5, 91)
    assert (r6["rated"], r6["a_and_b_percentage"]) == (91, 94.5)


def test_trend_requires_a_plan(api) -> None:
    response = api.get(TREND)
    assert response.status_code == 400
    assert error_attrs(response) == ["plan"]


# --- query counts --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params"),
    [
        (RATINGS, {"plan": "akita-dx", "fiscal_year": "R6"}),
        (RATINGS, {"plan": "akita-dx", "fiscal_year": "R6", "group_by": "pillar"}),
        (RATINGS, {"plan": "akita-dx", "fiscal_year": "R6", "group_by": "policy_area"}),
        (RATINGS, {"plan": "akita-dx", "fiscal_year": "R6", "group_by": "department"}),
        (TRANSITIONS, {"plan": "akita-dx", "to_year": "R6"}),
        (TREND, {"plan": "akita-dx"}),
    ],
)
def test_aggregates_use_a_bounded_number_of_queries(
    api, django_assert_max_num_queries, path: str, params: dict
) -> None:
    # The plan lookup, the overall counts and the grouped counts: never one per initiative.
    with django_assert_max_num_queries(3):
        response = api.get(path, params)
    assert response.status_code == 200
