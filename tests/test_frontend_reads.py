"""Reads a frontend needs in few calls: KPIs and KPI actuals by department and fiscal year,
the evaluation list with its texts and KPI actuals on request (``?expand=``), and the API root
open to the public."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from initiatives.models import KPI, Department, KPITarget
from tests.conftest import PLAN_CODE, error_attrs, evaluation
from tests.helpers import R7

R7_SPELLINGS = ["2025", "R7", "令和7年度"]
TEXTS = ["rating_reason", "plan_text", "progress_text", "next_actions", "note"]
REVIEW = ["review_comment", "submitted_by", "submitted_at", "approved_by", "approved_at"]


def get_ok(client, path: str, params: dict | None = None) -> dict:
    response = client.get(path, params or {})
    assert response.status_code == 200, response.content
    return response.json()


def results(client, path: str, params: dict | None = None) -> list[dict]:
    return get_ok(client, path, {**(params or {}), "page_size": 200})["results"]


def kikaku() -> Department:
    return Department.objects.get(plan__code=PLAN_CODE, code="kikaku-shinko")


def kikaku_numbers() -> set[int]:
    return set(kikaku().initiatives.values_list("number", flat=True))


@pytest.fixture
def r7_actual(actual, kpi89):
    """The R7 draft actual of No. 89 (企画振興部), and an R7 target for its KPI."""
    KPITarget.objects.create(kpi=kpi89, fiscal_year=R7, value=2000)
    return actual


# --- department and fiscal year on /kpis/ and /kpi-actuals/ ---------------------------------


@pytest.mark.parametrize("by", ["id", "code"])
def test_kpis_filter_by_department(api, by: str) -> None:
    department = kikaku()
    value = department.pk if by == "id" else department.code
    kpis = results(api, "/api/v1/kpis/", {"department": value})
    assert kpis
    assert {kpi["initiative"]["number"] for kpi in kpis} <= kikaku_numbers()
    assert 89 in {kpi["initiative"]["number"] for kpi in kpis}
    expected = KPI.objects.filter(initiative__departments=department).distinct().count()
    assert len(kpis) == expected < KPI.objects.count()


@pytest.mark.parametrize("by", ["id", "code"])
def test_kpi_actuals_filter_by_department(api, by: str) -> None:
    department = kikaku()
    value = department.pk if by == "id" else department.code
    actuals = results(api, "/api/v1/kpi-actuals/", {"department": value})
    assert actuals
    numbers = {a["kpi"]["id"] for a in actuals}
    assert numbers == set(
        KPI.objects.filter(initiative__departments=department, actuals__isnull=False)
        .distinct()
        .values_list("id", flat=True)
    )
    assert len(actuals) < get_ok(api, "/api/v1/kpi-actuals/")["count"]


def test_unknown_department_matches_nothing(api) -> None:
    assert get_ok(api, "/api/v1/kpis/", {"department": "no-such"})["count"] == 0
    assert get_ok(api, "/api/v1/kpi-actuals/", {"department": "999999"})["count"] == 0


@pytest.mark.parametrize("fiscal_year", R7_SPELLINGS)
def test_kpi_actuals_filter_by_fiscal_year(editor, r7_actual, fiscal_year: str) -> None:
    actuals = results(editor, "/api/v1/kpi-actuals/", {"fiscal_year": fiscal_year})
    assert [(a["id"], a["fiscal_year"]) for a in actuals] == [(r7_actual.pk, R7)]
    r6 = results(editor, "/api/v1/kpi-actuals/", {"fiscal_year": "R6"})
    assert len(r6) == 18
    assert {a["fiscal_year"] for a in r6} == {2024}


@pytest.mark.parametrize("fiscal_year", R7_SPELLINGS)
def test_kpis_fiscal_year_narrows_targets_and_actuals(editor, r7_actual, fiscal_year) -> None:
    params = {"initiative_number": 89, "fiscal_year": fiscal_year}
    (kpi,) = results(editor, "/api/v1/kpis/", params)
    assert [t["fiscal_year"] for t in kpi["targets"]] == [R7]
    assert [(a["id"], a["fiscal_year"]) for a in kpi["actuals"]] == [(r7_actual.pk, R7)]
    assert kpi["actuals"][0]["target_value"] == "2000"

    (r6,) = results(editor, "/api/v1/kpis/", {"initiative_number": 89, "fiscal_year": "R6"})
    assert [t["fiscal_year"] for t in r6["targets"]] == [2024]
    assert [a["fiscal_year"] for a in r6["actuals"]] == [2024]
    (every,) = results(editor, "/api/v1/kpis/", {"initiative_number": 89})
    assert [t["fiscal_year"] for t in every["targets"]] == [2024, R7]
    assert [a["fiscal_year"] for a in every["actuals"]] == [2024, R7]


def test_kpis_fiscal_year_lists_every_kpi(api) -> None:
    assert get_ok(api, "/api/v1/kpis/", {"fiscal_year": "R7"})["count"] == KPI.objects.count()


@pytest.mark.parametrize("fiscal_year", R7_SPELLINGS)
def test_the_public_never_sees_r7_drafts_through_the_filters(api, r7_actual, fiscal_year) -> None:
    for params in (
        {"fiscal_year": fiscal_year},
        {"fiscal_year": fiscal_year, "department": "kikaku-shinko"},
    ):
        assert get_ok(api, "/api/v1/kpi-actuals/", params)["count"] == 0
        assert get_ok(api, "/api/v1/evaluations/", params)["count"] == 0
        (kpi,) = results(api, "/api/v1/kpis/", {**params, "initiative_number": 89})
        assert [t["fiscal_year"] for t in kpi["targets"]] == [R7]  # the plan is public
        assert kpi["actuals"] == []
    actuals = results(api, "/api/v1/kpi-actuals/", {"department": "kikaku-shinko"})
    assert r7_actual.pk not in {a["id"] for a in actuals}


def test_another_department_does_not_see_the_drafts_either(other_editor, r7_actual) -> None:
    params = {"fiscal_year": "R7", "department": "kikaku-shinko"}
    assert get_ok(other_editor, "/api/v1/kpi-actuals/", params)["count"] == 0
    (kpi,) = results(other_editor, "/api/v1/kpis/", {**params, "initiative_number": 89})
    assert kpi["actuals"] == []


@pytest.mark.parametrize("value", ["R99x", "令和"])
def test_invalid_fiscal_year_is_400_naming_it(api, value: str) -> None:
    for path in ("/api/v1/kpis/", "/api/v1/kpi-actuals/"):
        response = api.get(path, {"fiscal_year": value})
        assert response.status_code == 400, (path, response.content)
        assert error_attrs(response) == ["fiscal_year"]


# --- ?expand= on the evaluation list ---------------------------------------------------------


def r6_89(client, **params) -> dict:
    query = {"fiscal_year": "R6", "initiative_number": 89, **params}
    (item,) = results(client, "/api/v1/evaluations/", query)
    return item


@pytest.fixture
def reviewed_r6(secretariat_user):
    """No. 89's published R6 evaluation (企画振興部), approved by the secretariat."""
    row = evaluation(89, 2024)
    row.approved_by = secretariat_user
    row.review_comment = "指標の根拠を追記"
    row.note = "再確認済み"
    row.save()
    return row


def test_the_list_has_no_texts_unless_asked(api) -> None:
    item = r6_89(api)
    assert not set(item) & {*TEXTS, *REVIEW, "kpi_actuals"}
    assert {"suggestion", "rating", "status"} <= set(item)


def test_expand_texts(api) -> None:
    item = r6_89(api, expand="texts")
    detail = get_ok(api, f"/api/v1/evaluations/{item['id']}/")
    assert {name: item[name] for name in TEXTS} == {name: detail[name] for name in TEXTS}
    assert item["progress_text"]
    assert "kpi_actuals" not in item


def test_expand_kpi_actuals_nested_like_the_detail(api) -> None:
    item = r6_89(api, expand="kpi_actuals")
    detail = get_ok(api, f"/api/v1/evaluations/{item['id']}/")
    assert item["kpi_actuals"] == detail["kpi_actuals"]
    (actual,) = item["kpi_actuals"]
    assert (actual["value"], actual["target_value"]) == ("1032", "1800")
    assert actual["assessment"]["rating"] == "C"
    assert actual["assessment"]["ratio"] is not None
    assert not set(item) & set(TEXTS)


@pytest.mark.parametrize("expand", ["texts,kpi_actuals", "kpi_actuals, texts", "texts,texts,"])
def test_expand_both_or_repeated(api, expand: str) -> None:
    item = r6_89(api, expand=expand)
    assert set(TEXTS) <= set(item)
    assert ("kpi_actuals" in item) == ("kpi_actuals" in expand)


@pytest.mark.parametrize("expand", ["initiative", "texts,bogus", "TEXTS"])
def test_unknown_expansion_is_400_naming_expand(api, expand: str) -> None:
    response = api.get("/api/v1/evaluations/", {"expand": expand})
    assert response.status_code == 400, response.content
    assert error_attrs(response) == ["expand"]


def test_reviewers_withheld_from_the_public(api, other_editor, reviewed_r6) -> None:
    for client in (api, other_editor):
        item = r6_89(client, expand="texts")
        assert (item["approved_by"], item["submitted_by"], item["review_comment"]) == (
            None,
            None,
            "",
        )
        assert item["note"] == "再確認済み"


def test_reviewers_shown_to_the_plan_and_the_department(
    secretariat, editor, key_clients, reviewed_r6
) -> None:
    for client in (secretariat, editor, key_clients["bound_key"]):
        item = r6_89(client, expand="texts")
        assert (item["approved_by"], item["review_comment"]) == ("jimukyoku", "指標の根拠を追記")


def test_reviewers_decided_per_row(editor, reviewed_r6, secretariat_user) -> None:
    number = min(set(range(1, 92)) - kikaku_numbers())  # not 企画振興部's
    other = evaluation(number, 2024)
    other.approved_by = secretariat_user
    other.review_comment = "別部局"
    other.save()
    items = results(editor, "/api/v1/evaluations/", {"fiscal_year": "R6", "expand": "texts"})
    by_number = {item["initiative"]["number"]: item for item in items}
    assert by_number[89]["approved_by"] == "jimukyoku"
    assert (by_number[number]["approved_by"], by_number[number]["review_comment"]) == (None, "")


def test_department_dashboard_in_one_call(editor, r7_actual) -> None:
    params = {"department": "kikaku-shinko", "fiscal_year": "R7", "expand": "texts,kpi_actuals"}
    items = results(editor, "/api/v1/evaluations/", params)
    assert {item["initiative"]["number"] for item in items} == kikaku_numbers()
    (item,) = [item for item in items if item["initiative"]["number"] == 89]
    assert item["status"] == "draft"
    assert [a["id"] for a in item["kpi_actuals"]] == [r7_actual.pk]
    assert item["kpi_actuals"][0]["target_value"] == "2000"


# --- query counts ---------------------------------------------------------------------------


def queries_for(client, path: str, params: dict) -> tuple[int, dict]:
    with CaptureQueriesContext(connection) as context:
        response = client.get(path, params)
    assert response.status_code == 200, response.content
    return len(context.captured_queries), response.json()


# (client fixture, expand) -> queries: the count, the page (reviewers joined), the KPI actuals
# with their targets (read for the suggestion anyway, so expanding them costs nothing); for a
# department member, its roles (2) and, with texts, the responsibilities that decide per row
# whether it sees the reviewers. The public's rights need no responsibility.
EXPAND_QUERIES = {
    ("api", ""): 3,
    ("api", "texts"): 3,
    ("api", "kpi_actuals"): 3,
    ("api", "texts,kpi_actuals"): 3,
    ("editor", ""): 5,
    ("editor", "texts"): 6,
    ("editor", "texts,kpi_actuals"): 6,
}


@pytest.mark.parametrize(
    ("client_name", "expand", "expected"), [(*key, n) for key, n in EXPAND_QUERIES.items()]
)
def test_evaluation_list_query_count_with_expand(
    plan, request, client_name, expand, expected
) -> None:
    client = request.getfixturevalue(client_name)
    params = {"expand": expand} if expand else {}
    small, small_body = queries_for(client, "/api/v1/evaluations/", {**params, "page_size": 5})
    large, large_body = queries_for(client, "/api/v1/evaluations/", {**params, "page_size": 50})
    assert len(small_body["results"]) == 5
    assert len(large_body["results"]) == 50
    assert small == large == expected, f"{expand!r}: {small} queries for 5 rows, {large} for 50"


@pytest.mark.parametrize("params", [{}, {"fiscal_year": "R6"}, {"department": "kikaku-shinko"}])
def test_kpi_query_counts_with_the_new_filters(api, params) -> None:
    for path, expected in (("/api/v1/kpis/", 4), ("/api/v1/kpi-actuals/", 2)):
        small, _ = queries_for(api, path, {**params, "page_size": 2})
        large, _ = queries_for(api, path, {**params, "page_size": 50})
        assert small == large == expected, path


# --- the API root ---------------------------------------------------------------------------


def test_the_api_root_is_open_to_the_public(api) -> None:
    body = get_ok(api, "/api/v1/")
    for route in (
        "plans",
        "departments",
        "pillars",
        "policy-areas",
        "kpi-targets",
        "initiatives",
        "kpis",
        "rounds",
        "evaluations",
        "kpi-actuals",
    ):
        assert body[route].endswith(f"/api/v1/{route}/"), route
