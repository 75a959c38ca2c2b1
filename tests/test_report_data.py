"""The shipped data reproduces the FY2024 (令和6年度) progress report, and loads safely."""

import copy
import json
from collections import Counter
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from evaluations.models import Evaluation, KPIActual, Rating, RoundStatus
from evaluations.plan_loader import (
    SHIPPED_DOCUMENT,
    PlanDocumentError,
    plan_document_load,
    read_document,
)
from initiatives.models import (
    KPI,
    Department,
    InitiativeDepartment,
    Plan,
    PolicyArea,
)
from tests.conftest import evaluation, initiative
from tests.helpers import PLAN_MODELS

R5, R6 = 2023, 2024
NOT_EVALUATED_IN_R5 = [43, 44, 48, 49, 63, 74, 75]
DEPARTMENTS = [
    "企画振興部",
    "総務部",
    "出納局",
    "警察本部",
    "産業労働部",
    "農林水産部",
    "観光文化スポーツ部",
    "建設部",
    "健康福祉部",
    "教育庁",
    "生活環境部",
]


def ratings_in(fiscal_year: int, **filters) -> Counter:
    return Counter(
        Evaluation.objects.filter(round__fiscal_year=fiscal_year, **filters).values_list(
            "rating", flat=True
        )
    )


def model_counts() -> dict[str, int]:
    models = [model for model in PLAN_MODELS if model is not Plan]
    return {model.__name__: model.objects.count() for model in models}


# --- structure -----------------------------------------------------------------------------


def test_91_initiatives_numbered_1_to_91(plan) -> None:
    assert list(plan.initiatives.order_by("number").values_list("number", flat=True)) == list(
        range(1, 92)
    )


def test_plan_structure_counts(plan) -> None:
    assert plan.name == "秋田県DX推進計画"
    assert plan.organisation == "秋田県"
    assert list(plan.pillars.order_by("order").values_list("name", flat=True)) == [
        "行政",
        "産業",
        "くらし",
        "環境基盤",
    ]
    assert PolicyArea.objects.filter(pillar__plan=plan).count() == 20
    assert list(plan.departments.order_by("order").values_list("name", flat=True)) == DEPARTMENTS
    assert plan.initiatives.filter(is_major=True).count() == 24


def test_policy_areas_per_pillar(plan) -> None:
    per_pillar = Counter(
        PolicyArea.objects.filter(pillar__plan=plan).values_list("pillar__name", flat=True)
    )
    assert per_pillar == {"行政": 6, "産業": 4, "くらし": 6, "環境基盤": 4}


def test_pillar_themes(plan) -> None:
    themes = dict(plan.pillars.values_list("name", "theme"))
    assert themes["行政"] == "デジタル・ガバメント"
    assert themes["産業"] == "県内産業のDX"
    assert themes["くらし"] == "デジタル社会"


def test_rounds_r5_and_r6_are_published(plan) -> None:
    rounds = plan.rounds.order_by("fiscal_year")
    assert [(r.fiscal_year, r.status) for r in rounds] == [
        (R5, RoundStatus.PUBLISHED),
        (R6, RoundStatus.PUBLISHED),
    ]
    assert all(r.published_at is not None for r in rounds)


# --- ratings -------------------------------------------------------------------------------


def test_r6_rating_counts(plan) -> None:
    assert ratings_in(R6) == {"A": 18, "B": 68, "C": 5}


@pytest.mark.parametrize(
    ("pillar", "expected"),
    [
        ("行政", {"A": 4, "B": 21}),
        ("産業", {"A": 5, "B": 17, "C": 3}),
        ("くらし", {"A": 8, "B": 22, "C": 1}),
        ("環境基盤", {"A": 1, "B": 8, "C": 1}),
    ],
)
def test_r6_rating_counts_per_pillar(plan, pillar: str, expected: dict) -> None:
    assert ratings_in(R6, initiative__policy_area__pillar__name=pillar) == expected


def test_r5_rating_counts(plan) -> None:
    assert ratings_in(R5) == {"A": 15, "B": 62, "C": 6, "-": 7, None: 1}


def test_r5_not_evaluated_initiatives(plan) -> None:
    rows = Evaluation.objects.filter(round__fiscal_year=R5, rating=Rating.NOT_EVALUATED)
    assert sorted(rows.values_list("initiative__number", flat=True)) == NOT_EVALUATED_IN_R5


def test_no_36_r5_rating_is_unknown_with_a_note(plan) -> None:
    r5 = evaluation(36, R5)
    assert r5.rating is None
    assert r5.note  # why it is unknown, not a guess
    assert evaluation(36, R6).rating == Rating.B


@pytest.mark.parametrize(
    ("number", "r5", "r6"),
    [
        (3, "C", "A"),
        (30, "B", "C"),
        (43, "-", "B"),
        (89, "C", "C"),
        (35, "A", "B"),
        (46, "B", "C"),
        (52, "C", "B"),
        (81, "C", "A"),
        (10, "A", "A"),
        (60, "B", "A"),
        (69, "A", "B"),
        (91, "B", "B"),
    ],
)
def test_table_rows(plan, number: int, r5: str, r6: str) -> None:
    assert (evaluation(number, R5).rating, evaluation(number, R6).rating) == (r5, r6)


def test_every_initiative_has_one_evaluation_per_round(plan) -> None:
    for fiscal_year in (R5, R6):
        evaluated = Evaluation.objects.filter(round__fiscal_year=fiscal_year).values_list(
            "initiative__number", flat=True
        )
        assert sorted(evaluated) == list(range(1, 92))


# --- titles, KPIs, departments -------------------------------------------------------------


def test_titles_follow_the_table(plan) -> None:
    assert "先事例" in initiative(27).title
    assert "先行事例" not in initiative(27).title
    area = PolicyArea.objects.get(pillar__plan=plan, pillar__name="行政", number=3)
    assert area.name == "行政事務の効率化と働き方改革"
    assert initiative(3).title == "キャッシュレス納付の推進"
    assert initiative(3).policy_area.name == "行政手続のオンライン化"


def test_no_11_and_no_18_share_a_title_in_two_policy_areas(plan) -> None:
    assert initiative(11).title == initiative(18).title
    assert initiative(11).policy_area != initiative(18).policy_area


def kpi_rows(number: int, fiscal_year: int = R6) -> list[tuple]:
    rows = []
    for kpi in KPI.objects.filter(initiative__number=number).order_by("order"):
        target = kpi.targets.get(fiscal_year=fiscal_year)
        actual = kpi.actuals.get(evaluation__round__fiscal_year=fiscal_year)
        rows.append((kpi.unit, target.value, actual.value))
    return rows


def test_no_45_has_three_kpis(plan) -> None:
    assert kpi_rows(45) == [
        ("事業者", Decimal(75), Decimal(92)),
        ("万PV", Decimal(174), Decimal(300)),
        ("千人泊", Decimal(3700), Decimal(2999)),
    ]


def test_no_60_has_two_kpis(plan) -> None:
    assert [(target, actual) for _, target, actual in kpi_rows(60)] == [
        (Decimal(22), Decimal(20)),
        (Decimal(8), Decimal(9)),
    ]


def test_no_13_has_a_qualitative_target(plan) -> None:
    (kpi,) = KPI.objects.filter(initiative__number=13)
    target = kpi.targets.get(fiscal_year=R6)
    assert target.value is None
    assert target.text == "希望する職員"


def test_kpi_actual_as_of_end_of_march_2025(plan) -> None:
    actual = KPIActual.objects.get(kpi__initiative__number=1)
    assert actual.value == Decimal("80.9")
    assert actual.as_of.isoformat() == "2025-03-31"


def test_no_3_departments_lead_first(plan) -> None:
    responsibilities = InitiativeDepartment.objects.filter(initiative=initiative(3))
    assert [(r.department.name, r.is_lead) for r in responsibilities] == [
        ("出納局", True),
        ("企画振興部", False),
    ]


def test_no_13_departments(plan) -> None:
    names = set(initiative(13).departments.values_list("name", flat=True))
    assert names == {"総務部", "企画振興部"}


# --- loader --------------------------------------------------------------------------------


def test_loader_is_idempotent(plan) -> None:
    before = evaluation(45, R6)
    counts = model_counts()

    summary = plan_document_load(document=read_document(SHIPPED_DOCUMENT))

    assert summary.changed is False
    assert sum(summary.created.values()) == 0
    assert sum(summary.updated.values()) == 0
    assert summary.unchanged["評価"] == 182
    assert model_counts() == counts
    after = evaluation(45, R6)
    assert after.updated_at == before.updated_at
    assert after.version == before.version


def test_load_plan_command_reports_no_changes_on_a_second_run(plan) -> None:
    out = StringIO()
    call_command("load_plan", stdout=out)
    assert "no changes" in out.getvalue()


def test_loader_updates_a_changed_value_and_reports_it(plan) -> None:
    document = read_document(SHIPPED_DOCUMENT)
    document["pillars"][0]["policy_areas"][0]["initiatives"][0]["title"] = "変更後の取組名"

    summary = plan_document_load(document=document)

    assert summary.changed is True
    assert summary.updated == {"取組": 1}
    assert initiative(1).title == "変更後の取組名"


def broken_document() -> dict:
    """A document that changes things early and fails on its last initiative."""
    document = copy.deepcopy(read_document(SHIPPED_DOCUMENT))
    document["plan"]["name"] = "書き換えられた計画名"
    document["departments"].append({"code": "new-department", "name": "新設部", "order": 99})
    first = document["pillars"][0]["policy_areas"][0]["initiatives"][0]
    first["title"] = "書き換えられた取組名"
    last = document["pillars"][-1]["policy_areas"][-1]["initiatives"][-1]
    assert last["number"] == 91
    last["departments"] = [{"code": "no-such-department", "lead": True}]
    return document


def test_loader_is_transactional(plan) -> None:
    counts = model_counts()
    title = initiative(1).title

    with pytest.raises(PlanDocumentError, match="unknown or missing"):
        plan_document_load(document=broken_document())

    assert model_counts() == counts
    plan.refresh_from_db()
    assert plan.name == "秋田県DX推進計画"
    assert initiative(1).title == title
    assert not Department.objects.filter(code="new-department").exists()


def test_load_plan_command_leaves_the_database_unchanged_on_error(plan, tmp_path) -> None:
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(broken_document(), ensure_ascii=False), encoding="utf-8")
    counts = model_counts()

    with pytest.raises(CommandError, match="unknown or missing"):
        call_command("load_plan", str(path), stdout=StringIO())

    assert model_counts() == counts
    assert not Department.objects.filter(code="new-department").exists()


def test_load_plan_command_rejects_a_document_of_another_format(plan, tmp_path) -> None:
    path = tmp_path / "other.json"
    path.write_text('{"format": "something-else"}', encoding="utf-8")

    with pytest.raises(CommandError, match="dxapi-plan/1"):
        call_command("load_plan", str(path), stdout=StringIO())


def test_loader_moves_the_lead_department(plan) -> None:
    document = read_document(SHIPPED_DOCUMENT)
    no_3 = next(
        item
        for pillar in document["pillars"]
        for area in pillar["policy_areas"]
        for item in area["initiatives"]
        if item["number"] == 3
    )
    no_3["departments"] = [
        {"code": "kikaku-shinko", "lead": True},
        {"code": "suito", "lead": False},
    ]

    plan_document_load(document=document)

    leads = initiative(3).responsibilities.filter(is_lead=True)
    assert [item.department.code for item in leads] == ["kikaku-shinko"]
    assert initiative(3).responsibilities.count() == 2
    assert not plan_document_load(document=document).changed
