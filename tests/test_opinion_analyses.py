"""Analyses of citizens' opinions through their doors: run by the secretariat (API job, admin,
management command), stored, read as kouchou-ai-shaped JSON and as a page, published for the
public, and deterministic for a seed."""

import csv
from io import StringIO

import pytest
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.management import CommandError, call_command
from django.urls import reverse

from evaluations.listening import runs
from evaluations.listening.intake import OpinionDraft, opinions_import
from evaluations.management.actors import SYSTEM
from evaluations.models import (
    AnalysisState,
    Job,
    JobState,
    Opinion,
    OpinionAnalysis,
    OpinionCluster,
    OpinionLink,
    OpinionPlacement,
    OpinionStatus,
)
from initiatives.models import Initiative
from tests.test_opinion_llm import Reply, fake

__all__ = ["fake"]

LIST = "/api/v1/opinion-analyses/"
EVALUATION_SET = settings.BASE_DIR / "evaluations" / "data" / "opinions_evaluation_set.csv"
AGE = {"10代以下": "under_20", "20代": "20s", "30代": "30s", "40代": "40s", "50代": "50s"}
AGE |= {"60代": "60s", "70代以上": "70_over"}


def load_opinions(plan, count: int = 120) -> list[Opinion]:
    """The first ``count`` opinions of the shipped evaluation set, every third published
    with consent."""
    with EVALUATION_SET.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))[:count]
    drafts = [
        OpinionDraft(
            body=row["text"],
            age_band=AGE.get(row["age_band"], ""),
            municipality=row["municipality"],
            consent_to_publish=index % 3 == 0,
        )
        for index, row in enumerate(rows)
    ]
    opinions = opinions_import(actor=SYSTEM, plan=plan, drafts=drafts)
    Opinion.objects.filter(pk__in=[o.pk for i, o in enumerate(opinions) if i % 3 == 0]).update(
        status=OpinionStatus.PUBLISHED
    )
    return opinions


@pytest.fixture
def inline_jobs(settings, tmp_path):
    settings.CELERY_BROKER_URL = ""
    settings.JOBS_IN_PROCESS_THREADS = 0
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def analysed(plan, secretariat, inline_jobs, django_capture_on_commit_callbacks):
    """An analysis of 120 opinions run through the API (its job run in this thread)."""
    load_opinions(plan)
    with django_capture_on_commit_callbacks(execute=True):
        response = secretariat.post(LIST, {"plan": plan.code, "seed": 3}, format="json")
    assert response.status_code == 202, response.json()
    return OpinionAnalysis.objects.get(pk=response.json()["id"])


def result_of(client, analysis: OpinionAnalysis):
    return client.get(reverse("opinion-analysis-result", args=[analysis.pk]))


def test_the_secretariat_runs_an_analysis_as_a_job(analysed, secretariat):
    assert analysed.state == AnalysisState.SUCCEEDED and analysed.opinion_count == 120
    job = Job.objects.get(pk=analysed.job_id)
    assert job.state == JobState.SUCCEEDED
    assert job.result["analysis"] == analysed.pk and job.result["opinions"] == 120
    answer = secretariat.get(reverse("opinion-analysis-detail", args=[analysed.pk])).json()
    assert answer["state"] == "succeeded" and answer["job"] == job.pk
    assert OpinionPlacement.objects.filter(analysis=analysed).count() == 120
    assert set(OpinionLink.objects.filter(analysis=analysed).values_list("rank", flat=True)) == {
        1,
        2,
        3,
    }


def test_the_result_has_the_shape_of_kouchou_ais(analysed, secretariat):
    result = result_of(secretariat, analysed).json()
    clusters = {c["id"]: c for c in result["clusters"]}
    assert clusters["0"]["level"] == 0 and clusters["0"]["value"] == 120
    level1 = [c for c in result["clusters"] if c["level"] == 1]
    level2 = [c for c in result["clusters"] if c["level"] == 2]
    assert level1 and level2
    assert sum(c["value"] for c in level1) == 120 == sum(c["value"] for c in level2)
    assert all(clusters[c["parent"]]["level"] == 1 for c in level2)
    assert all(c["label"] and c["terms"] for c in level1)
    assert len(result["arguments"]) == 120
    for argument in result["arguments"]:
        root, coarse, fine = argument["cluster_ids"]
        assert root == "0" and clusters[fine]["parent"] == coarse
        assert argument["argument"]  # the secretariat reads every masked text
        assert 1 <= len(argument["initiatives"]) <= 3
    representatives = {r for c in level1 for r in c["representatives"]}
    assert representatives <= {a["arg_id"] for a in result["arguments"]}
    assert result["initiatives"] and sum(i["value"] for i in result["initiatives"]) == 120


def test_cross_tabs_are_counted_by_coarse_cluster(analysed, secretariat):
    result = result_of(secretariat, analysed).json()
    opinions = Opinion.objects.exclude(age_band="")
    total = sum(sum(row.values()) for row in result["crosstabs"]["age_band"].values())
    assert total == opinions.count()
    towns = sum(sum(row.values()) for row in result["crosstabs"]["municipality"].values())
    assert towns == Opinion.objects.exclude(municipality="").count()


def test_the_public_reads_an_analysis_only_once_published(analysed, api, secretariat):
    detail = reverse("opinion-analysis-detail", args=[analysed.pk])
    assert api.get(detail).status_code == 404
    assert result_of(api, analysed).status_code == 404
    assert api.post(reverse("opinion-analysis-publish", args=[analysed.pk])).status_code in (
        401,
        403,
    )
    published = secretariat.post(reverse("opinion-analysis-publish", args=[analysed.pk]))
    assert published.status_code == 200 and published.json()["is_published"]
    result = result_of(api, analysed).json()
    quotable = set(
        Opinion.objects.filter(status=OpinionStatus.PUBLISHED, consent_to_publish=True).values_list(
            "pk", flat=True
        )
    )
    for argument in result["arguments"]:
        shown = argument["argument"] is not None
        assert shown == (int(argument["arg_id"][1:]) in quotable)
    cells = [
        n for table in result["crosstabs"].values() for row in table.values() for n in row.values()
    ]
    assert all(n >= 3 for n in cells)
    withdrawn = secretariat.post(reverse("opinion-analysis-unpublish", args=[analysed.pk]))
    assert withdrawn.status_code == 200 and api.get(detail).status_code == 404


def test_the_original_text_never_reaches_a_result(plan, secretariat, inline_jobs):
    opinions_import(
        actor=SYSTEM,
        plan=plan,
        drafts=[
            OpinionDraft(body=f"電話は018-860-12{n:02d}です。光回線を整備して。") for n in range(6)
        ],
    )
    analysis = runs.analysis_request(actor=SYSTEM, plan=plan, queue=False)
    runs.analysis_run(actor=SYSTEM, analysis_id=analysis.pk)
    text = result_of(secretariat, analysis).content.decode()
    assert "018-860-12" not in text


def test_hidden_opinions_are_left_out_of_an_analysis(plan, inline_jobs):
    opinions = load_opinions(plan, 30)
    Opinion.objects.filter(pk=opinions[0].pk).update(
        status=OpinionStatus.HIDDEN, hidden_reason="spam"
    )
    analysis = runs.analysis_request(actor=SYSTEM, plan=plan, queue=False)
    analysis = runs.analysis_run(actor=SYSTEM, analysis_id=analysis.pk)
    assert analysis.opinion_count == 29
    assert not OpinionPlacement.objects.filter(analysis=analysis, opinion=opinions[0]).exists()


def test_the_same_seed_gives_the_same_analysis(plan, secretariat, inline_jobs):
    load_opinions(plan, 80)
    results = []
    for _ in range(2):
        analysis = runs.analysis_request(actor=SYSTEM, plan=plan, seed=7, queue=False)
        runs.analysis_run(actor=SYSTEM, analysis_id=analysis.pk)
        result = result_of(secretariat, analysis).json()
        results.append((result["clusters"], result["arguments"]))
    assert results[0] == results[1]


def test_the_page_shows_a_published_analysis_with_its_chart(analysed, api, secretariat):
    secretariat.post(reverse("opinion-analysis-publish", args=[analysed.pk]))
    response = api.get(reverse("opinion-analysis-page", args=[analysed.pk]))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    assert analysed.title in page and "<svg" in page
    first = OpinionCluster.objects.filter(analysis=analysed, level=1).order_by("-size").first()
    assert first.label in page


@pytest.mark.parametrize("who", ["editor", "viewer", "api"])
def test_only_the_secretariat_runs_analyses(request, plan, who):
    client = request.getfixturevalue(who)
    response = client.post(LIST, {"plan": plan.code}, format="json")
    assert response.status_code in (401, 403)
    assert not OpinionAnalysis.objects.exists()


def test_an_unfinished_analysis_is_not_published_nor_read(plan, secretariat):
    analysis = runs.analysis_request(actor=SYSTEM, plan=plan, queue=False)
    refused = secretariat.post(reverse("opinion-analysis-publish", args=[analysis.pk]))
    assert refused.status_code == 409
    assert result_of(secretariat, analysis).status_code == 409
    assert not OpinionAnalysis.objects.get(pk=analysis.pk).is_published


def test_the_command_analyses_a_plan(plan, inline_jobs, secretariat_user):
    load_opinions(plan, 40)
    out = StringIO()
    call_command("analyse_opinions", "--plan", plan.code, "--seed", "5", "--publish", stdout=out)
    analysis = OpinionAnalysis.objects.get()
    assert analysis.seed == 5 and analysis.is_published and analysis.opinion_count == 40
    assert f"Analysis {analysis.pk}" in out.getvalue() and "40 opinions" in out.getvalue()
    as_secretariat = StringIO()
    call_command(
        "analyse_opinions",
        "--plan",
        plan.code,
        "--user",
        secretariat_user.username,
        stdout=as_secretariat,
    )
    assert OpinionAnalysis.objects.count() == 2


def test_the_command_acts_with_the_users_rights(plan, editor_user):
    with pytest.raises(CommandError):
        call_command("analyse_opinions", "--plan", plan.code, "--user", editor_user.username)
    with pytest.raises(CommandError):
        call_command("analyse_opinions", "--plan", "no-such-plan")
    assert not OpinionAnalysis.objects.exists()


def test_an_analysis_asks_the_policy_again_when_it_runs(plan, secretariat_user, inline_jobs):
    from initiatives.access import actor_for_user
    from initiatives.models import SecretariatMembership

    actor = actor_for_user(secretariat_user)
    analysis = runs.analysis_request(actor=actor, plan=plan, queue=False)
    SecretariatMembership.objects.filter(user=secretariat_user).delete()
    with pytest.raises(PermissionDenied):
        runs.analysis_run(actor=actor_for_user(secretariat_user), analysis_id=analysis.pk)
    refused = OpinionAnalysis.objects.get(pk=analysis.pk)
    assert refused.state == AnalysisState.FAILED and refused.error
    assert not OpinionCluster.objects.filter(analysis=analysis).exists()


def test_the_language_model_titles_clusters_from_masked_text_only(plan, secretariat, fake):
    def answer(request):
        if '"overview"' in request.body["messages"][0]["content"]:
            return Reply('{"overview": "全体の概要"}')
        return Reply('{"title": "見出し", "summary": "要約"}')

    fake.answer = answer
    opinions_import(
        actor=SYSTEM,
        plan=plan,
        drafts=[
            OpinionDraft(body=f"佐藤花子です。電話018-860-12{n:02d}。除雪の情報をスマホで見たい。")
            for n in range(8)
        ]
        + [OpinionDraft(body=f"観光案内を英語でも読みたい。案内板{n}番が古い。") for n in range(8)],
    )
    analysis = runs.analysis_request(actor=SYSTEM, plan=plan, queue=False)
    analysis = runs.analysis_run(actor=SYSTEM, analysis_id=analysis.pk)
    assert analysis.llm_model == "local-model" and analysis.llm_errors == []
    assert analysis.overview == "全体の概要"
    labels = set(OpinionCluster.objects.filter(analysis=analysis).values_list("label", flat=True))
    assert labels == {"見出し"}
    sent = " ".join(request.user_message for request in fake.requests)
    assert "018-860-12" not in sent and "佐藤" not in sent and "除雪" in sent
    result = result_of(secretariat, analysis).json()
    assert result["analysis"]["method"]["llm"] == "local-model"


def test_without_the_language_model_clusters_are_named_by_their_terms(plan, inline_jobs):
    load_opinions(plan, 30)
    analysis = runs.analysis_request(actor=SYSTEM, plan=plan, queue=False)
    analysis = runs.analysis_run(actor=SYSTEM, analysis_id=analysis.pk)
    assert analysis.llm_model == "" and analysis.overview == ""
    for cluster in OpinionCluster.objects.filter(analysis=analysis):
        assert cluster.label == "・".join(cluster.terms[:3]) and cluster.takeaway == ""


def test_confirmed_opinions_teach_the_initiatives_texts(plan):
    opinions = load_opinions(plan, 3)
    no_89 = Initiative.objects.get(plan=plan, number=89)
    Opinion.objects.filter(pk=opinions[0].pk).update(confirmed_initiative=no_89)
    Opinion.objects.filter(pk=opinions[1].pk).update(
        confirmed_initiative=no_89, status=OpinionStatus.HIDDEN, hidden_reason="spam"
    )
    text = {t.id: t.text for t in runs.initiative_texts(plan)}[no_89.pk]
    assert no_89.title in text
    assert opinions[0].body in text and opinions[1].body not in text


def test_a_sender_follows_the_opinion_by_its_receipt(analysed, api, secretariat):
    opinion = Opinion.objects.order_by("pk").first()
    url = reverse("opinion-receipt-detail", args=[opinion.receipt])
    before = api.get(url).json()
    assert before["status"] == opinion.status and before["analyses"] == []
    secretariat.post(reverse("opinion-analysis-publish", args=[analysed.pk]))
    after = api.get(url).json()
    placement = OpinionPlacement.objects.get(analysis=analysed, opinion=opinion)
    cluster = OpinionCluster.objects.get(analysis=analysed, key=placement.coarse_key)
    assert after["analyses"] == [
        {
            "id": analysed.pk,
            "title": analysed.title,
            "cluster": cluster.label,
            "page_url": reverse("opinion-analysis-page", args=[analysed.pk]),
        }
    ]
    assert "body" not in after and "original_body" not in after


def test_an_unknown_receipt_is_404(api, plan):
    url = reverse("opinion-receipt-detail", args=["00000000-0000-4000-8000-000000000000"])
    assert api.get(url).status_code == 404


def test_the_result_without_its_arguments_keeps_the_rest(analysed, secretariat):
    url = reverse("opinion-analysis-result", args=[analysed.pk])
    full = secretariat.get(url).json()
    slim = secretariat.get(url, {"arguments": "none"}).json()
    assert slim["arguments"] == [] and len(full["arguments"]) == 120
    assert {k: v for k, v in slim.items() if k != "arguments"} == {
        k: v for k, v in full.items() if k != "arguments"
    }
    refused = secretariat.get(url, {"arguments": "some"})
    assert refused.status_code == 400
