"""The read API end to end: lists, pagination, filters, representations, visibility, ids."""

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from evaluations.api.serializers import InitiativeProgressSerializer
from evaluations.models import Evaluation, EvaluationStatus, KPIActual, Rating, Round, RoundStatus
from initiatives.models import KPI, Department, Initiative, Pillar, Plan, PolicyArea
from tests.conftest import error_attrs, evaluation, initiative, numbers

LIST_ENDPOINTS = {
    "plans": 1,
    "departments": 11,
    "pillars": 4,
    "policy-areas": 20,
    "initiatives": 91,
    "kpis": 18,
    "rounds": 2,
    "evaluations": 182,
    "kpi-actuals": 18,
}
R6_RATED_C = [30, 39, 46, 53, 89]


def get_ok(client, path: str, params: dict | None = None) -> dict:
    response = client.get(path, params or {})
    assert response.status_code == 200, response.content
    return response.json()


def all_results(client, path: str, params: dict | None = None) -> list[dict]:
    return get_ok(client, path, {**(params or {}), "page_size": 200})["results"]


def initiative_numbers(client, **params) -> list[int]:
    return numbers(all_results(client, "/api/v1/initiatives/", params))


def evaluation_count(client, **params) -> int:
    return get_ok(client, "/api/v1/evaluations/", params)["count"]


# --- lists and pagination ------------------------------------------------------------------


@pytest.mark.parametrize(("endpoint", "count"), LIST_ENDPOINTS.items())
def test_list_endpoint(api, endpoint: str, count: int) -> None:
    body = get_ok(api, f"/api/v1/{endpoint}/")
    assert set(body) >= {"count", "next", "previous", "results"}
    assert body["count"] == count
    assert len(body["results"]) == min(count, 50)
    assert (body["next"] is None) == (count <= 50)


@pytest.mark.parametrize("endpoint", LIST_ENDPOINTS)
def test_list_endpoint_detail_of_first_result(api, endpoint: str) -> None:
    first = get_ok(api, f"/api/v1/{endpoint}/")["results"][0]
    assert get_ok(api, f"/api/v1/{endpoint}/{first['id']}/")["id"] == first["id"]


def test_pagination_default_is_50_in_number_order(api) -> None:
    first = get_ok(api, "/api/v1/initiatives/")
    assert numbers(first["results"]) == list(range(1, 51))
    assert first["previous"] is None
    second = api.get(first["next"]).json()
    assert numbers(second["results"]) == list(range(51, 92))
    assert second["next"] is None
    assert second["previous"] is not None


def test_page_size_parameter(api) -> None:
    body = get_ok(api, "/api/v1/initiatives/", {"page_size": 5, "page": 3})
    assert body["count"] == 91
    assert numbers(body["results"]) == [11, 12, 13, 14, 15]


def test_page_size_goes_up_to_200(api, plan) -> None:
    other = Plan.objects.create(
        code="big", organisation="某市", name="大きな計画", start_year=2024, end_year=2024
    )
    Department.objects.bulk_create(
        Department(plan=other, code=f"d{index:03}", name=f"部局{index:03}", order=index)
        for index in range(250)
    )

    body = get_ok(api, "/api/v1/departments/", {"page_size": 200})

    assert body["count"] == 261
    assert len(body["results"]) == 200
    assert body["next"] is not None


@pytest.mark.parametrize("page_size", ["201", "0", "-5", "", "ten", "1.5", "null", "２"])
def test_page_size_out_of_range_or_not_a_number_is_refused(api, plan, page_size) -> None:
    response = api.get("/api/v1/departments/", {"page_size": page_size})

    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"code": "invalid", "detail": "1〜200 の整数を指定してください。", "attr": "page_size"}
    ]


def test_evaluations_are_ordered_by_year_then_number(api) -> None:
    rows = all_results(api, "/api/v1/evaluations/")
    keys = [(row["fiscal_year"], row["initiative"]["number"]) for row in rows]
    assert keys == sorted(keys)
    assert keys[0] == (2023, 1)
    assert keys[-1] == (2024, 91)


def test_unknown_page_is_404(api) -> None:
    assert api.get("/api/v1/initiatives/", {"page": 99}).status_code == 404


# --- initiative filters --------------------------------------------------------------------


@pytest.fixture
def other_plan(plan) -> Plan:
    """A second plan with one initiative, so that plan filters have something to exclude."""
    other = Plan.objects.create(
        code="other-city", organisation="某市", name="某市DX計画", start_year=2024, end_year=2024
    )
    pillar = Pillar.objects.create(plan=other, order=1, name="行政")
    area = PolicyArea.objects.create(pillar=pillar, number=1, name="窓口のデジタル化")
    Initiative.objects.create(plan=other, policy_area=area, number=1, title="書かない窓口")
    return other


def test_initiatives_filter_by_plan_id_and_code(api, plan, other_plan) -> None:
    assert get_ok(api, "/api/v1/initiatives/")["count"] == 92
    assert get_ok(api, "/api/v1/initiatives/", {"plan": "akita-dx"})["count"] == 91
    assert get_ok(api, "/api/v1/initiatives/", {"plan": plan.pk})["count"] == 91
    assert initiative_numbers(api, plan="other-city") == [1]
    assert initiative_numbers(api, plan=other_plan.pk) == [1]
    assert get_ok(api, "/api/v1/initiatives/", {"plan": "no-such-plan"})["count"] == 0


def test_structure_lists_filter_by_plan(api, plan, other_plan) -> None:
    assert get_ok(api, "/api/v1/pillars/", {"plan": "akita-dx"})["count"] == 4
    assert get_ok(api, "/api/v1/pillars/", {"plan": "other-city"})["count"] == 1
    assert get_ok(api, "/api/v1/policy-areas/", {"plan": plan.pk})["count"] == 20
    assert get_ok(api, "/api/v1/departments/", {"plan": "other-city"})["count"] == 0


def test_initiatives_filter_by_pillar(api, plan) -> None:
    pillar = plan.pillars.get(name="行政")
    result = initiative_numbers(api, pillar=pillar.pk)
    assert len(result) == 25
    assert result[0] == 1


def test_initiatives_filter_by_policy_area(api, plan) -> None:
    area = PolicyArea.objects.get(pillar__plan=plan, pillar__name="行政", number=1)
    assert initiative_numbers(api, policy_area=area.pk) == [1, 2, 3, 4, 5]


def test_initiatives_filter_by_department_id_and_code(api, plan) -> None:
    kikaku = [1, 3, 6, 13, 16, 22, 24, 84, 88, 89, 90]
    department = plan.departments.get(code="kikaku-shinko")
    assert initiative_numbers(api, department="kikaku-shinko") == kikaku
    assert initiative_numbers(api, department=department.pk) == kikaku
    assert initiative_numbers(api, department="somu") == [13]
    assert initiative_numbers(api, department="suito") == [3]


@pytest.mark.parametrize("fiscal_year", ["R6", "r6", "2024", "令和6年度", "FY2024"])
def test_initiatives_rated_c_in_r6(api, fiscal_year: str) -> None:
    assert initiative_numbers(api, fiscal_year=fiscal_year, rating="C") == R6_RATED_C


def test_initiatives_rating_filters(api) -> None:
    assert initiative_numbers(api, fiscal_year="R5", rating="-") == [43, 44, 48, 49, 63, 74, 75]
    assert initiative_numbers(api, fiscal_year="R5", rating="C") == [3, 39, 52, 53, 81, 89]
    assert len(initiative_numbers(api, fiscal_year="R6", rating="A")) == 18
    # Without a year: rated C in any year.
    assert initiative_numbers(api, rating="C") == [3, 30, 39, 46, 52, 53, 81, 89]
    # A year without a rating: initiatives evaluated that year.
    assert len(initiative_numbers(api, fiscal_year="R6")) == 91
    assert initiative_numbers(api, fiscal_year="R4") == []


def test_initiatives_search_by_title(api) -> None:
    assert initiative_numbers(api, search="キャッシュレス") == [3]
    assert initiative_numbers(api, search="ヒューマンインタフェース") == [91]
    assert initiative_numbers(api, search="存在しない語") == []


def test_initiatives_filter_by_is_major(api) -> None:
    major = initiative_numbers(api, is_major="true")
    assert len(major) == 24
    assert {1, 3, 45, 60, 89} <= set(major)
    assert len(initiative_numbers(api, is_major="false")) == 67


def test_initiatives_filter_by_number(api) -> None:
    assert initiative_numbers(api, number=45) == [45]


@pytest.mark.parametrize("value", ["R", "2024x", "R99", "1900", "令和"])
def test_invalid_fiscal_year_is_400_naming_the_field(api, value: str) -> None:
    response = api.get("/api/v1/initiatives/", {"fiscal_year": value, "rating": "C"})
    assert response.status_code == 400
    assert error_attrs(response) == ["fiscal_year"]


def test_invalid_rating_is_400_naming_the_field(api) -> None:
    response = api.get("/api/v1/initiatives/", {"fiscal_year": "R6", "rating": "Z"})
    assert response.status_code == 400
    assert error_attrs(response) == ["rating"]


# --- evaluation filters ---------------------------------------------------------------------


def test_evaluations_filter_by_fiscal_year(api) -> None:
    assert evaluation_count(api, fiscal_year="R6") == 91
    assert evaluation_count(api, fiscal_year="2023") == 91
    assert evaluation_count(api, fiscal_year="令和5年度") == 91
    assert evaluation_count(api, fiscal_year="R4") == 0
    response = api.get("/api/v1/evaluations/", {"fiscal_year": "R"})
    assert response.status_code == 400
    assert error_attrs(response) == ["fiscal_year"]


def test_evaluations_filter_by_rating(api) -> None:
    assert evaluation_count(api, fiscal_year="R6", rating="A") == 18
    assert evaluation_count(api, fiscal_year="R6", rating="B") == 68
    assert evaluation_count(api, fiscal_year="R6", rating="C") == 5
    assert evaluation_count(api, rating="C") == 11
    assert evaluation_count(api, rating="-") == 7


def test_evaluations_filter_by_department(api, plan) -> None:
    department = plan.departments.get(code="kikaku-shinko")
    assert evaluation_count(api, fiscal_year="R6", department="kikaku-shinko") == 11
    assert evaluation_count(api, fiscal_year="R6", department=department.pk) == 11
    assert evaluation_count(api, department="suito") == 2  # No. 3 in R5 and R6


def test_evaluations_filter_by_pillar_and_policy_area(api, plan) -> None:
    pillars = dict(plan.pillars.values_list("name", "pk"))
    assert evaluation_count(api, fiscal_year="R6", pillar=pillars["行政"]) == 25
    assert evaluation_count(api, fiscal_year="R6", pillar=pillars["産業"], rating="C") == 3
    area = PolicyArea.objects.get(pillar__plan=plan, pillar__name="行政", number=3)
    assert evaluation_count(api, fiscal_year="R6", policy_area=area.pk) == 8


def test_evaluations_filter_by_status(api) -> None:
    row = evaluation(10, 2024)
    row.status = EvaluationStatus.SUBMITTED
    row.save()

    assert evaluation_count(api, status="approved") == 181
    rows = get_ok(api, "/api/v1/evaluations/", {"status": "submitted"})["results"]
    assert [(r["initiative"]["number"], r["fiscal_year"]) for r in rows] == [(10, 2024)]
    assert evaluation_count(api, status="draft") == 0


def test_kpi_actuals_filter_by_fiscal_year_and_number(api) -> None:
    assert get_ok(api, "/api/v1/kpi-actuals/", {"fiscal_year": "R6"})["count"] == 18
    assert get_ok(api, "/api/v1/kpi-actuals/", {"fiscal_year": "R5"})["count"] == 0
    assert get_ok(api, "/api/v1/kpi-actuals/", {"initiative_number": 45})["count"] == 3


def test_rounds_filter_by_fiscal_year(api) -> None:
    rows = get_ok(api, "/api/v1/rounds/", {"fiscal_year": "R6"})["results"]
    assert [(r["fiscal_year"], r["fiscal_year_label"], r["status"]) for r in rows] == [
        (2024, "R6", "published")
    ]


# --- representations -----------------------------------------------------------------------


def test_initiative_representation(api) -> None:
    body = get_ok(api, f"/api/v1/initiatives/{initiative(3).pk}/")

    assert body["number"] == 3
    assert body["title"] == "キャッシュレス納付の推進"
    assert body["is_major"] is True
    assert {k: body["pillar"][k] for k in ("order", "name", "theme")} == {
        "order": 1,
        "name": "行政",
        "theme": "デジタル・ガバメント",
    }
    assert {k: body["policy_area"][k] for k in ("number", "name")} == {
        "number": 1,
        "name": "行政手続のオンライン化",
    }
    assert [(d["code"], d["name"], d["is_lead"]) for d in body["departments"]] == [
        ("suito", "出納局", True),
        ("kikaku-shinko", "企画振興部", False),
    ]
    assert [(k["name"], k["unit"]) for k in body["kpis"]] == [
        ("キャッシュレス納付が可能な手数料等の割合", "%")
    ]
    assert [
        (r["fiscal_year"], r["fiscal_year_label"], r["fiscal_year_label_ja"], r["rating"])
        for r in body["ratings"]
    ] == [(2023, "R5", "令和5年度", "C"), (2024, "R6", "令和6年度", "A")]


def test_initiative_with_unknown_r5_rating(api) -> None:
    body = get_ok(api, f"/api/v1/initiatives/{initiative(36).pk}/")
    assert [(r["fiscal_year_label"], r["rating"]) for r in body["ratings"]] == [
        ("R5", None),
        ("R6", "B"),
    ]
    assert body["departments"] == []
    assert body["kpis"] == []


def test_initiatives_list_nests_the_same_as_the_detail(api) -> None:
    listed = next(
        row for row in get_ok(api, "/api/v1/initiatives/")["results"] if row["number"] == 13
    )
    assert listed == get_ok(api, f"/api/v1/initiatives/{initiative(13).pk}/")
    assert {d["name"] for d in listed["departments"]} == {"総務部", "企画振興部"}


@pytest.mark.parametrize("role", ["api", "secretariat"])
def test_initiative_list_item_is_the_detail_representation(request, r7, role: str) -> None:
    """The list builds its items from plain rows, the detail from a model instance; both go
    through ``initiative_representation``, for the public and for the secretariat alike."""
    Evaluation.objects.filter(round=r7, initiative=initiative(3)).update(rating=Rating.B)
    KPI.objects.create(initiative=initiative(3), order=2, name="第二の指標", unit="件")
    client = request.getfixturevalue(role)

    (listed,) = [
        row
        for row in all_results(client, "/api/v1/initiatives/", {"plan": "akita-dx"})
        if row["number"] == 3
    ]
    detail = get_ok(client, f"/api/v1/initiatives/{initiative(3).pk}/")

    assert listed == detail
    assert list(listed) == list(InitiativeProgressSerializer().fields)
    assert [(d["code"], d["is_lead"]) for d in listed["departments"]] == [
        ("suito", True),
        ("kikaku-shinko", False),
    ]
    assert [(k["order"], k["unit"]) for k in listed["kpis"]] == [(1, "%"), (2, "件")]
    assert [(r["fiscal_year_label"], r["rating"]) for r in listed["ratings"]] == [
        ("R5", "C"),
        ("R6", "A"),
        *([("R7", "B")] if role == "secretariat" else []),
    ]
    # An evaluation's detail nests the same initiative, without the ratings.
    evaluation_id = listed["ratings"][-1]["evaluation_id"]
    nested = get_ok(client, f"/api/v1/evaluations/{evaluation_id}/")["initiative"]
    assert nested == {key: value for key, value in detail.items() if key != "ratings"}


def test_kpi_representation_with_targets_and_actuals(api) -> None:
    (kpi,) = get_ok(api, "/api/v1/kpis/", {"initiative_number": 1})["results"]

    assert kpi["name"] == "行政手続の電子化率"
    assert kpi["unit"] == "%"
    assert kpi["direction"] == "higher"
    assert kpi["initiative"]["number"] == 1
    assert [
        (t["fiscal_year"], t["fiscal_year_label"], t["value"], t["text"]) for t in kpi["targets"]
    ] == [(2024, "R6", "90", "")]
    (actual,) = kpi["actuals"]
    assert actual["fiscal_year_label"] == "R6"
    assert actual["value"] == "80.9"
    assert actual["unit"] == "%"
    assert actual["as_of"] == "2025-03-31"
    assert actual["as_of_label"] == "R7.3時点"
    assert actual["target_value"] == "90"
    assert actual["assessment"] == {"ratio": "0.8989", "rating": "B", "reason": ""}


def test_kpis_of_no_45(api) -> None:
    kpis = get_ok(api, "/api/v1/kpis/", {"initiative_number": 45})["results"]
    assert [(k["order"], k["unit"]) for k in kpis] == [(1, "事業者"), (2, "万PV"), (3, "千人泊")]
    assert [k["targets"][0]["value"] for k in kpis] == ["75", "174", "3700"]
    assert [k["actuals"][0]["value"] for k in kpis] == ["92", "300", "2999"]
    assert [k["actuals"][0]["as_of_label"] for k in kpis] == [None, None, None]


def test_kpi_with_qualitative_target(api) -> None:
    (kpi,) = get_ok(api, "/api/v1/kpis/", {"initiative_number": 13})["results"]
    assert kpi["targets"][0]["value"] is None
    assert kpi["targets"][0]["text"] == "希望する職員"


def test_kpi_actual_representation(api) -> None:
    actual = KPIActual.objects.get(kpi__initiative__number=89)
    body = get_ok(api, f"/api/v1/kpi-actuals/{actual.pk}/")
    assert body["value"] == "1032"
    assert body["target_value"] == "1800"
    assert body["fiscal_year"] == 2024
    assert body["fiscal_year_label_ja"] == "令和6年度"
    assert body["as_of_label"] == "R7.3時点"
    assert body["assessment"]["rating"] == "C"
    assert body["kpi"]["unit"] == "人"


def test_evaluation_detail_representation(api) -> None:
    body = get_ok(api, f"/api/v1/evaluations/{evaluation(1, 2024).pk}/")
    assert body["fiscal_year"] == 2024
    assert body["fiscal_year_label"] == "R6"
    assert body["initiative"]["number"] == 1
    assert body["initiative"]["pillar"]["name"] == "行政"
    assert body["rating"] == "B"
    assert body["status"] == "approved"
    assert "R6：90%" in body["plan_text"]
    assert "R7.3時点" in body["progress_text"]
    assert body["next_actions"]
    assert [a["value"] for a in body["kpi_actuals"]] == ["80.9"]


def test_plan_representation(api, plan) -> None:
    body = get_ok(api, f"/api/v1/plans/{plan.pk}/")
    assert body["code"] == "akita-dx"
    assert (body["start_year_label"], body["end_year_label"]) == ("R5", "R6")


def test_pillar_nests_its_policy_areas(api, plan) -> None:
    body = get_ok(api, f"/api/v1/pillars/{plan.pillars.get(name='環境基盤').pk}/")
    assert [(a["number"], a["name"]) for a in body["policy_areas"]] == [
        (1, "デジタル人材の確保・育成"),
        (2, "DXを支える情報関連産業の振興"),
        (3, "デジタルインフラの整備促進"),
        (4, "デジタルデバイド対策の推進"),
    ]


def test_unknown_detail_is_404(api) -> None:
    assert api.get("/api/v1/initiatives/999999/").status_code == 404


# --- visibility ----------------------------------------------------------------------------


@pytest.fixture
def unpublished(plan) -> Evaluation:
    """An open R7 round (not published) with No. 1 rated C and a KPI actual."""
    plan.end_year = 2025
    plan.save()
    round_ = Round.objects.create(
        plan=plan, fiscal_year=2025, status=RoundStatus.OPEN, opened_at=timezone.now()
    )
    row = Evaluation.objects.create(
        round=round_, initiative=initiative(1), rating=Rating.C, status=EvaluationStatus.DRAFT
    )
    KPIActual.objects.create(evaluation=row, kpi=KPI.objects.get(initiative__number=1), value=10)
    return row


def test_public_does_not_see_unpublished_evaluations(api, unpublished) -> None:
    assert evaluation_count(api) == 182
    assert evaluation_count(api, fiscal_year="R7") == 0
    assert api.get(f"/api/v1/evaluations/{unpublished.pk}/").status_code == 404
    assert get_ok(api, "/api/v1/rounds/")["count"] == 2
    assert api.get(f"/api/v1/rounds/{unpublished.round_id}/").status_code == 404
    actual = unpublished.kpi_actuals.get()
    assert get_ok(api, "/api/v1/kpi-actuals/")["count"] == 18
    assert api.get(f"/api/v1/kpi-actuals/{actual.pk}/").status_code == 404
    (kpi,) = get_ok(api, "/api/v1/kpis/", {"initiative_number": 1})["results"]
    assert [a["fiscal_year"] for a in kpi["actuals"]] == [2024]


def test_public_initiatives_ignore_unpublished_ratings(api, unpublished) -> None:
    assert initiative_numbers(api, fiscal_year="R7", rating="C") == []
    assert initiative_numbers(api, fiscal_year="R7") == []
    assert 1 not in initiative_numbers(api, rating="C")
    body = get_ok(api, f"/api/v1/initiatives/{initiative(1).pk}/")
    assert [r["fiscal_year"] for r in body["ratings"]] == [2023, 2024]


def test_public_aggregates_ignore_unpublished_ratings(api, unpublished) -> None:
    r7 = get_ok(api, "/api/v1/aggregates/ratings/", {"plan": "akita-dx", "fiscal_year": "R7"})
    assert r7["overall"]["total"] == 0
    assert r7["overall"]["c"] == 0
    assert r7["overall"]["a_and_b_percentage"] is None
    r6 = get_ok(api, "/api/v1/aggregates/ratings/", {"plan": "akita-dx", "fiscal_year": "R6"})
    assert (r6["overall"]["c"], r6["overall"]["total"]) == (5, 91)
    trend = get_ok(api, "/api/v1/aggregates/trend/", {"plan": "akita-dx"})
    assert [year["fiscal_year"] for year in trend["years"]] == [2023, 2024]


def test_staff_sees_unpublished_evaluations(staff_api, unpublished) -> None:
    assert evaluation_count(staff_api) == 183
    body = get_ok(staff_api, f"/api/v1/evaluations/{unpublished.pk}/")
    assert (body["fiscal_year_label"], body["rating"], body["status"]) == ("R7", "C", "draft")
    assert get_ok(staff_api, "/api/v1/rounds/")["count"] == 3
    assert get_ok(staff_api, "/api/v1/kpi-actuals/")["count"] == 19
    assert initiative_numbers(staff_api, fiscal_year="R7", rating="C") == [1]
    ratings = get_ok(staff_api, f"/api/v1/initiatives/{initiative(1).pk}/")["ratings"]
    assert [(r["fiscal_year_label"], r["rating"]) for r in ratings] == [
        ("R5", "B"),
        ("R6", "B"),
        ("R7", "C"),
    ]
    r7 = get_ok(staff_api, "/api/v1/aggregates/ratings/", {"plan": "akita-dx", "fiscal_year": "R7"})
    assert (r7["overall"]["c"], r7["overall"]["total"]) == (1, 1)


# --- request id ----------------------------------------------------------------------------


def test_response_carries_a_request_id(api) -> None:
    response = api.get("/api/v1/plans/")
    assert len(response["X-Request-ID"]) >= 8
    assert response["X-Request-ID"] != api.get("/api/v1/plans/")["X-Request-ID"]


def test_well_formed_request_id_is_echoed(api) -> None:
    response = api.get("/api/v1/plans/", headers={"X-Request-ID": "req-2025-03-31.abc:1"})
    assert response["X-Request-ID"] == "req-2025-03-31.abc:1"


@pytest.mark.parametrize("incoming", ["bad id!", "short", "x" * 129, "<script>alert(1)</script>"])
def test_malformed_request_id_is_replaced(api, incoming: str) -> None:
    response = api.get("/api/v1/plans/", headers={"X-Request-ID": incoming})
    assert response["X-Request-ID"] != incoming
    assert len(response["X-Request-ID"]) >= 8


def test_error_responses_carry_a_request_id_too(api) -> None:
    response = api.get("/api/v1/initiatives/999999/", headers={"X-Request-ID": "trace-12345678"})
    assert response.status_code == 404
    assert response["X-Request-ID"] == "trace-12345678"


def test_a_blank_page_is_an_invalid_page_not_the_first(plan) -> None:
    assert APIClient().get("/api/v1/pillars/?page=").status_code == 404
    assert APIClient().get("/api/v1/pillars/?page=1").status_code == 200
