"""Exports that come back: the evaluations and KPI actuals tables speak the progress sheet's
Japanese vocabulary, so an export imported again changes nothing, and export → import →
export gives the same bytes for any content (a seeded property test); the plan document
keeps the workflow record (review comments, who and when) for those who may see it."""

import io
import random
from decimal import Decimal

import pytest
from django.urls import reverse

from evaluations import services
from evaluations.exchange.exporter import plan_document
from evaluations.models import Evaluation, EvaluationStatus
from evaluations.plan_loader import plan_document_load
from initiatives.access import ANONYMOUS, actor_for_user
from initiatives.models import KPI
from tests.conftest import PLAN_CODE

TEXTS = ["", "進捗あり", '=HYPERLINK("http://x","y")', "+1", "-2", "@SUM(A1)", "改行\nあり"]


def export(client, table: str) -> bytes:
    response = client.get(reverse("plan-export-table", args=[PLAN_CODE, table]))
    assert response.status_code == 200
    return b"".join(response.streaming_content)


def reimport(client, content: bytes, name: str):
    handle = io.BytesIO(content)
    handle.name = name
    data = {"file": handle, "plan": PLAN_CODE, "fiscal_year": "R7", "report_rows": "true"}
    return client.post(reverse("progress-import"), data, format="multipart")


def scramble(r7, secretariat_user, seed: int) -> None:
    """Random R7 content through the services: ratings, texts (formula-like ones included),
    KPI actuals with dates and notes."""
    rng = random.Random(seed)
    actor = actor_for_user(secretariat_user)
    for evaluation in Evaluation.objects.filter(round=r7).order_by("pk")[:40]:
        data = {"rating": rng.choice(["A", "B", "C", "-", None])}
        for field in ("plan_text", "progress_text", "next_actions", "rating_reason"):
            data[field] = rng.choice(TEXTS)
        services.evaluation_update(actor=actor, evaluation=evaluation, data=data)
        for kpi in KPI.objects.filter(initiative=evaluation.initiative_id):
            if rng.random() < 0.7:
                services.kpi_actual_save(
                    actor=actor,
                    evaluation=evaluation,
                    kpi=kpi,
                    value=Decimal(rng.randint(0, 10**6)) / rng.choice([1, 10, 100, 10000]),
                    note=rng.choice([*TEXTS[:2], "-", "=1"]),
                )


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("table", ["evaluations", "kpi_actuals"])
def test_export_import_export_is_stable(r7, secretariat, secretariat_user, seed, table):
    scramble(r7, secretariat_user, seed)
    before = {e.pk: e.version for e in Evaluation.objects.filter(round=r7)}
    first = export(secretariat, table)

    response = reimport(secretariat, first, f"{table}.csv")
    assert response.status_code == 200, response.json()
    summary = response.json()["summary"]
    changed = sum(counts[o] for counts in summary.values() for o in ("created", "updated"))
    conflicts = sum(counts["conflict"] for counts in summary.values())
    assert (changed, conflicts) == (0, 0), [
        r for r in response.json()["row_results"] if r["outcome"] != "unchanged"
    ][:3]
    assert {e.pk: e.version for e in Evaluation.objects.filter(round=r7)} == before
    assert export(secretariat, table) == first


def test_rows_of_other_years_are_skipped_with_a_notice(r7, secretariat):
    response = reimport(secretariat, export(secretariat, "evaluations"), "evaluations.csv")
    body = response.json()
    skipped = [r for r in body["row_results"] if r["outcome"] == "skipped"]
    assert len(skipped) == 2 * 91  # R5 and R6
    assert "R5" in skipped[0]["notices"][0]


def test_exported_formula_text_is_inert_and_comes_back(r7, secretariat, secretariat_user):
    draft = Evaluation.objects.get(round=r7, initiative__number=89)
    actor = actor_for_user(secretariat_user)
    services.evaluation_update(
        actor=actor, evaluation=draft, data={"progress_text": '=HYPERLINK("http://x","y")'}
    )
    content = export(secretariat, "evaluations").decode("utf-8-sig")
    assert ",'=HYPERLINK(" in content.replace('"', "")
    reimport(secretariat, content.encode("utf-8-sig"), "evaluations.csv")
    draft.refresh_from_db()
    assert draft.progress_text == '=HYPERLINK("http://x","y")'


def test_the_plan_document_keeps_the_workflow_record(r7, secretariat_user, editor_user):
    draft = Evaluation.objects.get(round=r7, initiative__number=89)
    Evaluation.objects.filter(pk=draft.pk).update(rating="C", status=EvaluationStatus.SUBMITTED)
    draft.refresh_from_db()
    services.evaluation_return(
        actor=actor_for_user(secretariat_user), evaluation=draft, comment="根拠を追記"
    )
    document = plan_document(actor=actor_for_user(secretariat_user), plan=r7.plan)
    item = next(
        e
        for pillar in document["pillars"]
        for area in pillar["policy_areas"]
        for initiative in area["initiatives"]
        if initiative["number"] == 89
        for e in initiative["evaluations"]
        if e["fiscal_year"] == 2025
    )
    assert (item["status"], item["review_comment"]) == ("returned", "根拠を追記")
    assert item["version"] == 2

    # Loaded back, the document changes nothing; the review comment survives a change.
    Evaluation.objects.filter(pk=draft.pk).update(review_comment="")
    plan_document_load(document=document)
    draft.refresh_from_db()
    assert draft.review_comment == "根拠を追記"


def test_the_public_document_withholds_who_reviewed(plan):
    document = plan_document(actor=ANONYMOUS, plan=plan)
    evaluations = [
        e
        for pillar in document["pillars"]
        for area in pillar["policy_areas"]
        for initiative in area["initiatives"]
        for e in initiative["evaluations"]
    ]
    assert evaluations
    assert all(e["submitted_by"] is None and e["review_comment"] == "" for e in evaluations)


def test_negative_numbers_are_exported_as_numbers_not_neutralised_text(plan, staff_api):
    kpi = KPI.objects.get(initiative__plan=plan, initiative__number=89)
    kpi.targets.create(fiscal_year=2025, value=Decimal("-5.5000"))
    content = export(staff_api, "kpi_targets").decode("utf-8-sig")
    assert "89,1,2025,-5.5," in content
    assert "'-5" not in content
