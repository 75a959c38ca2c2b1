"""Inputs found by fuzzing the live server: each is a clear 4xx (or a normal answer), never a
500, and API errors are JSON in the API's error format."""

import pytest


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/rounds/",
        "/api/v1/evaluations/",
        "/api/v1/initiatives/",
        "/api/v1/kpi-actuals/",
        "/api/v1/kpi-targets/",
    ],
)
def test_a_percent_sign_in_a_fiscal_year_is_a_400(api, path: str) -> None:
    response = api.get(path, {"fiscal_year": "%"})

    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == "fiscal_year"
    assert "%" in response.json()["errors"][0]["detail"]


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("/api/v1/departments/", {"plan": "³"}, 200),
        ("/api/v1/initiatives/", {"plan": "³"}, 200),
        ("/api/v1/initiatives/", {"department": "²"}, 200),
        ("/api/v1/evaluations/", {"department": "³"}, 200),
        ("/api/v1/aggregates/ratings/", {"plan": "³", "fiscal_year": "R6"}, 404),
        ("/api/v1/reports/yearly/", {"plan": "³", "fiscal_year": "R6"}, 404),
    ],
)
def test_unicode_digits_are_codes_not_ids(api, path: str, params: dict, status: int) -> None:
    response = api.get(path, params)

    assert response.status_code == status
    if status == 200:
        assert response.json()["count"] == 0


@pytest.mark.parametrize("path", ["aggregates/ratings", "aggregates/trend", "reports/yearly"])
def test_a_nul_byte_in_a_plan_is_a_400(api, path: str) -> None:
    params = {"plan": "a\x00b"} | ({} if path == "aggregates/trend" else {"fiscal_year": "R6"})
    response = api.get(f"/api/v1/{path}/", params)

    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == "plan"


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "html"])
def test_options_of_the_report_in_any_format_is_json(api, fmt: str) -> None:
    response = api.options(f"/api/v1/reports/yearly/?format={fmt}")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json()["name"]


def test_api_paths_without_a_route_are_a_json_404(api) -> None:
    for path in ("/api/v1/departments/1.5/", "/api/v1/exports/plans/akita-dx/tables/a,b/"):
        response = api.delete(path)
        assert response.status_code == 404
        assert response.json()["errors"][0]["code"] == "not_found"


def test_chunked_bodies_are_asked_for_a_length(staff_api) -> None:
    response = staff_api.generic(
        "POST",
        "/api/v1/rounds/",
        b'{"plan": 1, "fiscal_year": "R6"}',
        content_type="application/json",
        HTTP_TRANSFER_ENCODING="chunked",
    )

    assert response.status_code == 411
    assert response.json()["errors"][0]["code"] == "length_required"


@pytest.mark.parametrize(
    ("path", "params", "attr"),
    [
        ("/api/v1/initiatives/", {"policy_area": "0.5"}, "policy_area"),
        ("/api/v1/evaluations/", {"pillar": "1.5"}, "pillar"),
        ("/api/v1/initiatives/", {"number": "one"}, "number"),
        ("/api/v1/kpis/", {"is_cumulative": "345"}, "is_cumulative"),
        ("/api/v1/initiatives/", {"is_major": "maybe"}, "is_major"),
        (
            "/api/v1/evaluations/",
            {"differs_from_suggestion": "yes please"},
            "differs_from_suggestion",
        ),
    ],
)
def test_filter_values_that_cannot_be_read_are_a_400(api, path, params, attr) -> None:
    response = api.get(path, params)

    assert response.status_code == 400
    assert [error["attr"] for error in response.json()["errors"]] == [attr]


@pytest.mark.parametrize(
    ("value", "count"), [("true", 24), ("1", 24), ("false", 67), ("0", 67), ("", 91)]
)
def test_boolean_filters_read_true_false_1_0_or_nothing(api, value, count) -> None:
    body = api.get("/api/v1/initiatives/", {"is_major": value}).json()

    assert body["count"] == count


@pytest.mark.parametrize(
    ("path", "body", "attr"),
    [
        ("/api/v1/plans/1/", {"description": 0}, "description"),
        ("/api/v1/departments/1/", {"name": 12}, "name"),
        ("/api/v1/pillars/1/", {"theme": 1.5}, "theme"),
        ("/api/v1/initiatives/1/", {"title": True}, "title"),
    ],
)
def test_numbers_where_text_belongs_are_refused(staff_api, path, body, attr) -> None:
    response = staff_api.patch(path, body, format="json")

    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"code": "invalid", "detail": "Not a valid string.", "attr": attr}
    ]


def test_an_initiative_number_below_one_names_the_number(staff_api) -> None:
    response = staff_api.patch("/api/v1/initiatives/1/", {"number": 0}, format="json")

    assert response.status_code == 400
    assert [error["attr"] for error in response.json()["errors"]] == ["number"]


def test_a_rule_of_the_whole_record_is_a_non_field_error(staff_api) -> None:
    """A database constraint checked by the model (an initiative re-listing itself) is named
    ``non_field_errors``, as DRF names such errors, not Django's ``__all__``."""
    response = staff_api.patch("/api/v1/initiatives/1/", {"relists": 1}, format="json")

    assert response.status_code == 400
    assert [error["attr"] for error in response.json()["errors"]] == ["non_field_errors"]


def test_a_nul_byte_in_a_search_names_the_search(api) -> None:
    response = api.get("/api/v1/initiatives/", {"search": "電子\x00申請"})

    assert response.status_code == 400
    assert [error["attr"] for error in response.json()["errors"]] == ["search"]


def test_an_item_of_a_list_that_is_not_an_object_is_named_by_its_index(staff_api) -> None:
    response = staff_api.patch("/api/v1/initiatives/1/", {"departments": [None]}, format="json")

    assert response.status_code == 400
    assert [error["attr"] for error in response.json()["errors"]] == ["departments.0"]


def test_a_list_that_is_null_is_named_by_itself(staff_api) -> None:
    response = staff_api.patch("/api/v1/initiatives/1/", {"departments": None}, format="json")

    assert response.status_code == 400
    assert [error["attr"] for error in response.json()["errors"]] == ["departments"]


def test_a_list_without_search_refuses_the_search_parameter(api) -> None:
    response = api.get("/api/v1/pillars/", {"search": "a\x00b"})

    assert response.status_code == 400
    assert [(e["attr"], e["code"]) for e in response.json()["errors"]] == [
        ("search", "unknown_parameter")
    ]


@pytest.mark.parametrize(("params", "count"), [({"rating": ""}, 91), ({"rating": "C"}, 5)])
def test_an_empty_choice_means_any(api, params: dict, count: int) -> None:
    body = api.get("/api/v1/evaluations/", {"fiscal_year": "R6", **params}).json()

    assert body["count"] == count


def test_a_choice_that_is_not_one_is_a_400(api) -> None:
    response = api.get("/api/v1/evaluations/", {"status": "finished"})

    assert response.status_code == 400
    assert [error["attr"] for error in response.json()["errors"]] == ["status"]
