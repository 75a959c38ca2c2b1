"""Targets across the plan period: a KPI's baseline (value and fiscal year), targets for every
year of the plan at every door, this year's target in the progress sheet, last year's values
beside this year's on the evaluation detail; and roadmap KPIs, whose qualitative target of a
year is its milestone and whose actual records whether it is ahead, on track or behind, at
every door (API, admin, sheet import), and which the suggested rating follows."""

import csv
import io
from decimal import Decimal

import pytest
from django.urls import reverse

from evaluations.exchange.columns import header_of
from evaluations.models import KPIActual, RoadmapStatus
from initiatives.models import KPI, KPITarget
from tests.admin_fixtures import admin_url, logged_in
from tests.conftest import error_attrs, evaluation, initiative
from tests.helpers import R7, detail, if_match, progress_csv, sheet_row, url

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


def kpi_url(kpi: KPI) -> str:
    return reverse("kpi-detail", args=[kpi.pk])


def template_rows(client, **query) -> list[dict[str, str]]:
    """The R7 progress sheet as CSV rows by column header."""
    response = client.get(
        reverse("progress-template"),
        {"plan": "akita-dx", "fiscal_year": "R7", "file_format": "csv", **query},
    )
    assert response.status_code == 200, response.content[:300]
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"), newline="")))


def kpi_row(rows: list[dict[str, str]], number: int, order: int) -> dict[str, str]:
    return next(
        row for row in rows if row["取組番号"] == str(number) and row["指標番号"] == str(order)
    )


# --- baselines ---------------------------------------------------------------------------------


def test_the_secretariat_enters_a_baseline_and_every_read_shows_it(kpi89, secretariat, api):
    response = secretariat.patch(
        kpi_url(kpi89), {"baseline_value": "850", "baseline_year": 2022}, format="json"
    )

    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["baseline_value"], body["baseline_year"]) == ("850", 2022)
    assert body["baseline_year_label"] == "R4"
    kpi89.refresh_from_db()
    assert kpi89.baseline_value == Decimal(850) and kpi89.baseline_year == 2022
    assert kpi89.history.order_by("-history_id").first().baseline_value == Decimal(850)
    listed = api.get(reverse("kpi-list"), {"initiative": initiative(89).pk}).json()["results"]
    assert listed[0]["baseline_value"] == "850"
    assert api.get(kpi_url(kpi89)).json()["baseline_year_label"] == "R4"


def test_a_kpi_without_a_baseline_reads_null(kpi89, api):
    body = api.get(kpi_url(kpi89)).json()
    assert (body["baseline_value"], body["baseline_year"], body["baseline_year_label"]) == (
        None,
        None,
        None,
    )


@pytest.mark.parametrize(
    ("body", "attr", "en", "ja"),
    [
        (
            {"baseline_value": "850"},
            "baseline_year",
            "Give the baseline's fiscal year too.",
            "基準値の年度も入力してください。",
        ),
        (
            {"baseline_year": 2022},
            "baseline_value",
            "Give the baseline value too.",
            "基準値も入力してください。",
        ),
        (
            {"baseline_value": "850", "baseline_year": 2025},
            "baseline_year",
            "Must not be after the plan's last fiscal year (R6).",
            "計画の最終年度（R6）より後にはできません。",
        ),
    ],
    ids=["no year", "no value", "after the plan"],
)
def test_an_incomplete_or_late_baseline_is_a_400_in_japanese_and_english(
    kpi89, secretariat, body, attr, en, ja
):
    japanese = secretariat.patch(kpi_url(kpi89), body, format="json")
    english = secretariat.patch(kpi_url(kpi89), body, format="json", **EN)

    for response, message in ((japanese, ja), (english, en)):
        assert response.status_code == 400, response.json()
        assert error_attrs(response) == [attr]
        assert detail(response) == message
    kpi89.refresh_from_db()
    assert kpi89.baseline_value is None and kpi89.baseline_year is None


def test_a_baseline_year_outside_the_service_range_is_refused(kpi89, secretariat):
    response = secretariat.patch(
        kpi_url(kpi89), {"baseline_value": "1", "baseline_year": 1800}, format="json"
    )
    assert response.status_code == 400
    assert error_attrs(response) == ["baseline_year"]


@pytest.mark.parametrize("client_name", ["editor", "viewer", "other_editor"])
def test_only_the_secretariat_enters_a_baseline(kpi89, request, client_name):
    client = request.getfixturevalue(client_name)
    response = client.patch(
        kpi_url(kpi89), {"baseline_value": "850", "baseline_year": 2022}, format="json"
    )
    assert response.status_code == 403
    kpi89.refresh_from_db()
    assert kpi89.baseline_value is None


def test_the_admin_enters_a_baseline_through_the_structure_rules(kpi89, secretariat_user):
    client = logged_in(secretariat_user)
    page = client.get(admin_url(KPI, "change", kpi89.pk))
    assert page.status_code == 200
    assert 'name="baseline_value"' in page.content.decode()
    form = page.context["adminform"].form
    data = {
        name: ("" if value is None else getattr(value, "pk", value))
        for name, value in form.initial.items()
        if name in form.fields
    }
    data |= {"baseline_value": "850", "baseline_year": "2030"}
    for prefix in ("targets",):
        data |= {
            f"{prefix}-TOTAL_FORMS": "0",
            f"{prefix}-INITIAL_FORMS": "0",
        }
    refused = client.post(admin_url(KPI, "change", kpi89.pk), data)
    assert refused.status_code == 200  # the form again, with the error
    kpi89.refresh_from_db()
    assert kpi89.baseline_year is None
    data["baseline_year"] = "2022"
    saved = client.post(admin_url(KPI, "change", kpi89.pk), data)
    assert saved.status_code == 302, saved.content.decode()[:2000]
    kpi89.refresh_from_db()
    assert (kpi89.baseline_value, kpi89.baseline_year) == (Decimal(850), 2022)


# --- targets for every year of the plan ---------------------------------------------------------


def test_targets_are_entered_for_every_year_of_the_plan_period(plan, kpi89, secretariat, api):
    plan.end_year = 2026
    plan.save(update_fields=["end_year"])
    for year, value in ((2023, "1500"), (2025, "2000"), (2026, "2200")):
        response = secretariat.post(
            reverse("kpi-target-list"),
            {"kpi": kpi89.pk, "fiscal_year": year, "value": value},
            format="json",
        )
        assert response.status_code == 201, response.json()
    years = [target["fiscal_year"] for target in api.get(kpi_url(kpi89)).json()["targets"]]
    assert years == [2023, 2024, 2025, 2026]


def test_the_progress_sheet_shows_this_years_target(r7, kpi89, secretariat):
    KPITarget.objects.create(kpi=kpi89, fiscal_year=R7, value=Decimal(2000))

    row = kpi_row(template_rows(secretariat, department="kikaku-shinko"), 89, 1)

    assert row[header_of("target")] == "2000"  # R7's, not R6's 1800
    assert row[header_of("previous_actual")] == "1032"


def test_the_progress_sheet_leaves_the_target_blank_without_one_for_the_year(r7, secretariat):
    row = kpi_row(template_rows(secretariat, department="kikaku-shinko"), 89, 1)
    assert row[header_of("target")] == ""


# --- last year beside this year on the evaluation detail ---------------------------------------


def test_the_detail_shows_last_years_rating_and_actuals(r7, draft, editor, api):
    body = editor.get(url(draft)).json()

    previous = body["previous_year"]
    assert previous["fiscal_year"] == 2024 and previous["fiscal_year_label"] == "R6"
    assert previous["rating"] == "C"
    assert previous["evaluation_id"] == evaluation(89, 2024).pk
    [actual] = previous["kpi_actuals"]
    assert actual["kpi"] == KPI.objects.get(initiative=initiative(89)).pk
    assert actual["value"] == "1032"
    # The R6 detail has no R5 actuals but R5's rating.
    r6 = api.get(url(evaluation(89, 2024))).json()
    assert r6["previous_year"]["fiscal_year"] == 2023
    assert r6["previous_year"]["kpi_actuals"] == []


def test_the_detail_of_a_first_year_has_no_previous_year(plan, api):
    assert api.get(url(evaluation(89, 2023))).json()["previous_year"] is None


def test_the_list_does_not_carry_the_previous_year(r7, editor):
    rows = editor.get(reverse("evaluation-list"), {"fiscal_year": "R7"}).json()["results"]
    assert rows and all("previous_year" not in row for row in rows)


# --- roadmap KPIs -------------------------------------------------------------------------------


@pytest.fixture
def roadmap(r7, plan) -> KPI:
    """No. 7 (no KPI in the report, judged against the roadmap) given a roadmap KPI whose R7
    target is the year's milestone."""
    kpi = KPI.objects.create(initiative=initiative(7), order=1, name="ロードマップ")
    KPITarget.objects.create(kpi=kpi, fiscal_year=R7, text="全庁展開")
    return kpi


def test_a_roadmap_status_is_entered_through_the_api_and_suggests_the_rating(roadmap, secretariat):
    draft = evaluation(7, R7)
    response = secretariat.post(
        reverse("kpi-actual-list"),
        {"evaluation": draft.pk, "kpi": roadmap.pk, "value": None, "roadmap_status": "ahead"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["roadmap_status"] == "ahead"
    assert response.json()["assessment"]["rating"] == "A"
    assert secretariat.get(url(draft)).json()["suggestion"]["rating"] == "A"

    actual = KPIActual.objects.get(pk=response.json()["id"])
    changed = secretariat.patch(
        reverse("kpi-actual-detail", args=[actual.pk]),
        {"roadmap_status": "behind"},
        format="json",
        **if_match(actual),
    )
    assert changed.status_code == 200, changed.json()
    assert secretariat.get(url(draft)).json()["suggestion"]["rating"] == "C"
    # A rating that differs from it needs a reason on submit.
    secretariat.patch(url(draft), {"rating": "A"}, format="json", **if_match(draft))
    refused = secretariat.post(url(draft, "submit"), **if_match(draft))
    assert refused.status_code == 400
    assert error_attrs(refused) == ["rating_reason"]


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        (
            {},
            "ロードマップの進捗を記録できるのは、R7の目標が定性的"
            "（ロードマップのマイルストーン）な指標だけです。",
        ),
        (
            EN,
            "Only a KPI whose R7 target is qualitative (a roadmap milestone) takes a roadmap "
            "status.",
        ),
    ],
    ids=["ja", "en"],
)
def test_a_roadmap_status_on_a_numeric_kpi_is_a_400(r7, draft, kpi89, editor, headers, message):
    KPITarget.objects.create(kpi=kpi89, fiscal_year=R7, value=Decimal(2000))
    response = editor.post(
        reverse("kpi-actual-list"),
        {"evaluation": draft.pk, "kpi": kpi89.pk, "value": "5", "roadmap_status": "on_track"},
        format="json",
        **headers,
    )
    assert response.status_code == 400
    assert error_attrs(response) == ["roadmap_status"]
    assert detail(response) == message
    assert not KPIActual.objects.filter(evaluation=draft).exists()


def test_a_roadmap_status_without_a_target_of_the_year_is_a_400(r7, draft, kpi89, editor):
    response = editor.post(
        reverse("kpi-actual-list"),
        {"evaluation": draft.pk, "kpi": kpi89.pk, "value": "5", "roadmap_status": "ahead"},
        format="json",
    )
    assert response.status_code == 400
    assert error_attrs(response) == ["roadmap_status"]


def test_an_unknown_roadmap_status_is_a_400(roadmap, secretariat):
    response = secretariat.post(
        reverse("kpi-actual-list"),
        {
            "evaluation": evaluation(7, R7).pk,
            "kpi": roadmap.pk,
            "value": None,
            "roadmap_status": "late",
        },
        format="json",
    )
    assert response.status_code == 400
    assert error_attrs(response) == ["roadmap_status"]


def test_the_sheet_import_reads_the_roadmap_column(roadmap, secretariat):
    upload = progress_csv(
        [sheet_row(initiative_number=7, kpi_order=1, roadmap_status="ロードマップのとおり")]
    )
    response = secretariat.post(
        reverse("progress-import"),
        {"file": upload, "plan": "akita-dx", "fiscal_year": "R7"},
        format="multipart",
    )
    assert response.status_code == 200, response.json()
    actual = KPIActual.objects.get(evaluation=evaluation(7, R7), kpi=roadmap)
    assert actual.roadmap_status == RoadmapStatus.ON_TRACK and actual.value is None
    assert actual.history.first().history_change_reason == "import"


@pytest.mark.parametrize(
    ("cell", "attr"),
    [("遅い", "roadmap_status"), ("ahead", None)],
)
def test_the_sheet_import_checks_the_roadmap_column(r7, kpi89, secretariat, cell, attr):
    # No. 89's KPI has a numeric target in R7: a status is refused whatever it says.
    KPITarget.objects.create(kpi=kpi89, fiscal_year=R7, value=Decimal(2000))
    upload = progress_csv([sheet_row(initiative_number=89, kpi_order=1, roadmap_status=cell)])
    response = secretariat.post(
        reverse("progress-import"),
        {"file": upload, "plan": "akita-dx", "fiscal_year": "R7"},
        format="multipart",
    )
    assert response.status_code == 400, response.json()
    assert [error["attr"] for error in response.json()["errors"]] == ["rows[2].roadmap_status"]
    assert not KPIActual.objects.filter(kpi=kpi89, evaluation__round=r7).exists()


def test_the_template_writes_the_roadmap_status(roadmap, secretariat):
    KPIActual.objects.create(
        evaluation=evaluation(7, R7), kpi=roadmap, roadmap_status=RoadmapStatus.BEHIND
    )

    row = kpi_row(template_rows(secretariat), 7, 1)

    assert row["ロードマップ"] == "ロードマップより遅れている"
    assert row[header_of("target")] == "全庁展開"  # the year's milestone
    evaluation_row = next(
        item
        for item in template_rows(secretariat)
        if item["取組番号"] == "7" and not item["指標番号"]
    )
    assert evaluation_row[header_of("suggestion")] == "C（ロードマップ）"


def test_the_admin_enters_a_roadmap_status(roadmap, secretariat_user):
    client = logged_in(secretariat_user)
    draft = evaluation(7, R7)
    data = {
        "evaluation": draft.pk,
        "kpi": roadmap.pk,
        "value": "",
        "as_of": "",
        "note": "",
        "roadmap_status": "on_track",
    }
    response = client.post(admin_url(KPIActual, "add"), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    actual = KPIActual.objects.get(evaluation=draft, kpi=roadmap)
    assert actual.roadmap_status == RoadmapStatus.ON_TRACK


def test_the_admin_refuses_a_roadmap_status_on_a_numeric_kpi(r7, draft, kpi89, secretariat_user):
    KPITarget.objects.create(kpi=kpi89, fiscal_year=R7, value=Decimal(2000))
    client = logged_in(secretariat_user)
    data = {
        "evaluation": draft.pk,
        "kpi": kpi89.pk,
        "value": "5",
        "as_of": "",
        "note": "",
        "roadmap_status": "ahead",
    }

    response = client.post(admin_url(KPIActual, "add"), data, follow=True)

    assert "ロードマップの進捗を記録できるのは" in response.content.decode()
    assert not KPIActual.objects.filter(evaluation=draft, kpi=kpi89).exists()


def test_the_kpi_admin_lists_the_baseline(kpi89, secretariat_user):
    KPI.objects.filter(pk=kpi89.pk).update(baseline_value=Decimal(850), baseline_year=2022)
    page = logged_in(secretariat_user).get(admin_url(KPI, "changelist"))
    assert page.status_code == 200
    assert "850（R4）" in page.content.decode()
