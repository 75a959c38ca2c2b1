"""Citizens' opinions at the API door: sending (masking, spam checks, throttle), who reads
what, moderation and links with history, and the secretariat's CSV import."""

import csv
import io

import pytest
from django.conf import settings
from django.test import override_settings
from django.urls import reverse

from evaluations.models import Opinion, OpinionSource, OpinionStatus
from tests.conftest import error_attrs, initiative
from tests.helpers import PLAN_CODE, detail

LIST = "/api/v1/opinions/"
IMPORT = "/api/v1/opinions/import/"


def send(
    client, body: str = "行政手続をスマホで済ませたいです。窓口に行く時間がありません。", **extra
):
    return client.post(LIST, {"plan": PLAN_CODE, "body": body, **extra}, format="json")


def opinion_about(number: int, body: str = "テスト用の意見です。よろしくお願いします。", **fields):
    from evaluations.listening.intake import body_digest

    return Opinion.objects.create(
        plan=initiative(number).plan,
        body=body,
        original_body=body,
        initiative=initiative(number),
        body_digest=body_digest(body),
        **fields,
    )


def detail_url(opinion: Opinion) -> str:
    return reverse("opinion-detail", args=[opinion.pk])


def if_match(opinion: Opinion) -> dict[str, str]:
    version = Opinion.objects.values_list("version", flat=True).get(pk=opinion.pk)
    return {"HTTP_IF_MATCH": f'"opinion-{opinion.pk}-v{version}"'}


# --- Sending -------------------------------------------------------------------------------


def test_anyone_sends_an_opinion_masked_with_a_receipt(api, plan):
    body = (
        "山田太郎です。電話は018-860-1234、メールは taro@example.jp です。"
        "申請をオンラインにしてほしい。"
    )
    response = send(api, body, initiative=1, age_band="30s", consent_to_publish=True)
    assert response.status_code == 201, response.json()
    answer = response.json()
    opinion = Opinion.objects.get(receipt=answer["receipt"])
    assert "018-860-1234" not in answer["body"] and "taro@example.jp" not in answer["body"]
    assert "山田" not in answer["body"]
    assert {"phone", "email", "name"} <= set(answer["personal_data"])
    assert opinion.original_body == body
    assert opinion.body == answer["body"]
    assert opinion.initiative.number == 1 and opinion.policy_area == opinion.initiative.policy_area
    assert opinion.status == OpinionStatus.RECEIVED and opinion.source == OpinionSource.FORM
    assert opinion.sender_digest and "127.0.0.1" not in opinion.sender_digest
    assert opinion.history.count() == 1


@pytest.mark.parametrize(
    ("fields", "attr"),
    [
        ({"body": "  "}, "body"),
        ({"body": "短い"}, "body"),
        ({"body": "あ" * 2001}, "body"),
        ({"body": "見て http://a.example http://b.example https://c.example です"}, "body"),
        ({"initiative": 999}, "initiative"),
        ({"policy_area": 999}, "policy_area"),
        ({"initiative": 1, "policy_area": 2}, "policy_area"),
        ({"age_band": "teen"}, "age_band"),
        ({"municipality": "市" * 51}, "municipality"),
        ({"website": "http://spam.example"}, "website"),
        ({"colour": "red"}, "colour"),
        ({"plan": "no-such-plan"}, "plan"),
    ],
)
def test_bad_opinions_are_refused_by_field_and_nothing_is_saved(api, plan, fields, attr):
    data = {"plan": PLAN_CODE, "body": "オンラインで手続きできるようにしてください。", **fields}
    response = api.post(LIST, data, format="json")
    assert response.status_code == 400, response.json()
    assert attr in error_attrs(response)
    assert not Opinion.objects.exists()


def test_refusals_are_in_japanese_first_and_english_on_request(api, plan):
    japanese = send(api, "短い")
    assert "文字以上" in detail(japanese)
    english = api.post(
        LIST, {"plan": PLAN_CODE, "body": "短い"}, format="json", HTTP_ACCEPT_LANGUAGE="en"
    )
    assert "at least" in detail(english)
    assert "文字以上" not in detail(english)


def test_the_same_text_from_the_same_sender_is_refused_once(api, plan):
    assert send(api).status_code == 201
    again = send(api, "行政手続をスマホで済ませたいです。 窓口に行く時間がありません。")
    assert again.status_code == 400 and error_attrs(again) == ["body"]
    assert Opinion.objects.count() == 1


def test_api_keys_do_not_send_opinions(key_clients, plan):
    response = send(key_clients["secretariat_key"])
    assert response.status_code == 403
    assert not Opinion.objects.exists()


def test_sending_is_throttled_per_person(api, plan):
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "opinions": "2/hour"}
    with override_settings(
        REST_FRAMEWORK={**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    ):
        assert send(api, "一つ目の意見です。よろしく。").status_code == 201
        assert send(api, "二つ目の意見です。よろしく。").status_code == 201
        third = send(api, "三つ目の意見です。よろしく。")
    assert third.status_code == 429 and int(third["Retry-After"]) > 0
    assert Opinion.objects.count() == 2


# --- Who reads what ------------------------------------------------------------------------


def test_the_public_reads_no_opinion(api, plan):
    opinion = opinion_about(89)
    assert api.get(LIST).status_code in (401, 403)
    assert api.get(detail_url(opinion)).status_code in (401, 403)


def test_the_secretariat_reads_every_opinion_with_its_original(secretariat, plan):
    opinion = opinion_about(1, status=OpinionStatus.HIDDEN, hidden_reason="spam")
    response = secretariat.get(detail_url(opinion))
    assert response.status_code == 200
    assert response.json()["original_body"] == opinion.original_body
    assert response["ETag"] == f'"opinion-{opinion.pk}-v1"'
    listed = secretariat.get(LIST, {"plan": PLAN_CODE}).json()["results"]
    assert [item["id"] for item in listed] == [opinion.pk]


def test_a_department_reads_the_opinions_about_its_initiatives_only(editor, viewer, plan):
    own = opinion_about(89)  # 企画振興部's
    other = opinion_about(60)
    hidden = opinion_about(89, status=OpinionStatus.HIDDEN, hidden_reason="abuse")
    for client in (editor, viewer):
        listed = client.get(LIST).json()["results"]
        assert [item["id"] for item in listed] == [own.pk]
        assert "original_body" not in listed[0]
        assert client.get(detail_url(other)).status_code == 404
        assert client.get(detail_url(hidden)).status_code == 404


def test_a_confirmed_link_shows_the_opinion_to_the_initiatives_department(
    secretariat, editor, other_editor, plan
):
    opinion = opinion_about(60)
    assert editor.get(detail_url(opinion)).status_code == 404
    response = secretariat.patch(
        detail_url(opinion), {"confirmed_initiative": 89}, format="json", **if_match(opinion)
    )
    assert response.status_code == 200, response.json()
    assert response.json()["confirmed_initiative"] == 89
    assert editor.get(detail_url(opinion)).status_code == 200
    opinion.refresh_from_db()
    assert opinion.version == 2
    assert opinion.history.first().history_change_reason == "initiative confirmed: 89"


# --- Moderation ----------------------------------------------------------------------------


def test_the_secretariat_hides_an_opinion_with_a_reason_kept_in_history(secretariat, plan):
    opinion = opinion_about(1)
    no_reason = secretariat.patch(
        detail_url(opinion), {"status": "hidden"}, format="json", **if_match(opinion)
    )
    assert no_reason.status_code == 400 and error_attrs(no_reason) == ["hidden_reason"]
    hidden = secretariat.patch(
        detail_url(opinion),
        {"status": "hidden", "hidden_reason": "誹謗中傷"},
        format="json",
        **if_match(opinion),
    )
    assert hidden.status_code == 200 and hidden.json()["status"] == "hidden"
    assert Opinion.objects.get(pk=opinion.pk).history.first().history_change_reason == (
        "hidden: 誹謗中傷"
    )


def test_moderation_needs_the_current_version(secretariat, plan):
    opinion = opinion_about(1)
    missing = secretariat.patch(detail_url(opinion), {"status": "published"}, format="json")
    assert missing.status_code == 428
    stale = secretariat.patch(
        detail_url(opinion),
        {"status": "published"},
        format="json",
        HTTP_IF_MATCH=f'"opinion-{opinion.pk}-v7"',
    )
    assert stale.status_code == 412
    assert Opinion.objects.get(pk=opinion.pk).status == OpinionStatus.RECEIVED


def test_a_corrected_text_is_masked_again(secretariat, plan):
    opinion = opinion_about(1)
    response = secretariat.patch(
        detail_url(opinion),
        {"body": "連絡は090-1234-5678までお願いします。"},
        format="json",
        **if_match(opinion),
    )
    assert response.status_code == 200
    assert "090-1234-5678" not in response.json()["body"]
    assert "phone" in response.json()["personal_data"]


def test_departments_may_not_moderate(editor, plan):
    opinion = opinion_about(89)
    response = editor.patch(
        detail_url(opinion), {"status": "published"}, format="json", **if_match(opinion)
    )
    assert response.status_code == 403
    assert Opinion.objects.get(pk=opinion.pk).status == OpinionStatus.RECEIVED


# --- CSV import ------------------------------------------------------------------------------


def csv_upload(rows: list[list[str]], encoding: str = "utf-8-sig", name: str = "opinions.csv"):
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(
        ["タイムスタンプ", "ご意見", "取組番号", "年代", "市町村", "公開への同意", "メール"]
    )
    writer.writerows(rows)
    upload = io.BytesIO(buffer.getvalue().encode(encoding))
    upload.name = name
    return upload


ROWS = [
    [
        "2026/11/01 10:00",
        "オンライン申請をもっと増やしてほしい。",
        "1",
        "30代",
        "秋田市",
        "はい",
        "a@example.jp",
    ],
    [
        "2026/11/02 11:30",
        "連絡先は018-800-0000です。光回線を早く。",
        "",
        "70代以上",
        "",
        "いいえ",
        "",
    ],
]


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-8", "cp932"])
def test_the_secretariat_imports_a_form_tools_csv(secretariat, plan, encoding):
    response = secretariat.post(
        IMPORT, {"plan": PLAN_CODE, "file": csv_upload(ROWS, encoding)}, format="multipart"
    )
    assert response.status_code == 201, response.json()
    assert response.json() == {
        "imported": 2,
        "masked": 1,
        "ignored_columns": ["メール"],
    }
    first, second = Opinion.objects.order_by("submitted_at")
    assert first.initiative.number == 1 and first.age_band == "30s" and first.consent_to_publish
    assert first.source == OpinionSource.IMPORT and first.submitted_at.day == 1
    assert "018-800-0000" not in second.body and second.age_band == "70_over"
    assert not second.consent_to_publish
    assert first.history.first().history_change_reason == "imported"


def test_an_import_with_a_bad_row_writes_nothing(secretariat, plan):
    rows = [*ROWS, ["2099/01/01", "未来の意見です。よろしく。", "999", "百代", "", "たぶん", ""]]
    response = secretariat.post(
        IMPORT, {"plan": PLAN_CODE, "file": csv_upload(rows)}, format="multipart"
    )
    assert response.status_code == 400
    attrs = error_attrs(response)
    for field in ("initiative", "age_band", "consent_to_publish", "submitted_at"):
        assert f"rows.4.{field}" in attrs, attrs
    assert not Opinion.objects.exists()


def test_an_import_without_the_opinion_column_is_refused(secretariat, plan):
    upload = io.BytesIO("名前,住所\n太郎,秋田\n".encode())
    upload.name = "x.csv"
    response = secretariat.post(IMPORT, {"plan": PLAN_CODE, "file": upload}, format="multipart")
    assert response.status_code == 400 and error_attrs(response) == ["file"]
    assert "意見" in detail(response)


@pytest.mark.parametrize("who", ["editor", "viewer", "api"])
def test_only_the_secretariat_imports(request, plan, who):
    client = request.getfixturevalue(who)
    response = client.post(
        IMPORT, {"plan": PLAN_CODE, "file": csv_upload(ROWS)}, format="multipart"
    )
    assert response.status_code in (401, 403)
    assert not Opinion.objects.exists()


def test_the_import_template_has_the_headings_the_import_reads(secretariat, plan):
    response = secretariat.get("/api/v1/opinions/import-template/")
    assert response.status_code == 200
    text = response.content.decode("utf-8-sig")
    assert text.strip().split(",") == [
        "意見",
        "取組番号",
        "年代",
        "市町村",
        "公開への同意",
        "受付日時",
    ]


def test_the_history_tells_who_moderated_to_the_secretariat_only(secretariat, editor, plan):
    opinion = opinion_about(89)
    secretariat.patch(
        detail_url(opinion), {"status": "published"}, format="json", **if_match(opinion)
    )
    history = reverse("opinion-history", args=[opinion.pk])
    newest = secretariat.get(history).json()["results"][0]
    assert newest["reason"] == "published" and newest["user"] == "jimukyoku"
    assert {"field": "status", "old": "received", "new": "published"} in newest["changes"]
    seen = editor.get(history).json()["results"][0]
    assert seen["user"] is None and seen["reason"] is None


@pytest.mark.parametrize("body", [{}, {"status": "published"}])
def test_a_department_gets_403_even_for_an_empty_change(editor, plan, body):
    opinion = opinion_about(89)
    response = editor.patch(detail_url(opinion), body, format="json", HTTP_IF_MATCH="*")
    assert response.status_code == 403


def test_an_empty_change_is_400_for_the_secretariat(secretariat, plan):
    opinion = opinion_about(89)
    response = secretariat.patch(detail_url(opinion), {}, format="json", HTTP_IF_MATCH="*")
    assert response.status_code == 400
    assert Opinion.objects.get(pk=opinion.pk).version == 1


def test_text_fields_take_text_only(api, plan):
    response = api.post(LIST, {"plan": PLAN_CODE, "body": 12345678}, format="json")
    assert response.status_code == 400 and error_attrs(response) == ["body"]


def test_a_form_tools_question_headings_are_read(secretariat, plan):
    text = (
        "タイムスタンプ,DX推進計画へのご意見をお書きください,あなたの年代,お住まいの市町村,"
        "公開に同意しますか,メールアドレス\n"
        "2026/11/03 9:00,手続きをスマホで済ませたい。,40代,横手市,はい,x@example.jp\n"
    )
    upload = io.BytesIO(text.encode("cp932"))
    upload.name = "form.csv"
    response = secretariat.post(IMPORT, {"plan": PLAN_CODE, "file": upload}, format="multipart")
    assert response.status_code == 201, response.json()
    assert response.json()["ignored_columns"] == ["メールアドレス"]
    opinion = Opinion.objects.get()
    assert (opinion.body, opinion.age_band, opinion.municipality) == (
        "手続きをスマホで済ませたい。",
        "40s",
        "横手市",
    )
    assert opinion.consent_to_publish and opinion.submitted_at.day == 3


def test_the_opinion_list_runs_the_same_queries_at_any_page_size(secretariat, plan):
    from tests.test_query_counts import queries_for

    for number in range(1, 61):
        opinion_about(number, body=f"取組{number}についての意見です。", age_band="30s")
    small, small_body = queries_for(secretariat, LIST, {"page_size": 5})
    large, large_body = queries_for(secretariat, LIST, {"page_size": 50})
    assert (len(small_body["results"]), len(large_body["results"])) == (5, 50)
    assert small == large == 4  # the actor's memberships (2), the count, the page


def test_the_analysis_list_runs_the_same_queries_at_any_page_size(api, plan):
    from evaluations.models import AnalysisState, OpinionAnalysis
    from tests.test_query_counts import queries_for

    for number in range(12):
        OpinionAnalysis.objects.create(
            plan=plan, title=f"分析{number}", state=AnalysisState.SUCCEEDED, is_published=True
        )
    path = reverse("opinion-analysis-list")
    small, small_body = queries_for(api, path, {"page_size": 5})
    large, large_body = queries_for(api, path, {"page_size": 50})
    assert (len(small_body["results"]), len(large_body["results"])) == (5, 12)
    assert small == large == 2  # the count, the page (plan and job joined)


# --- Large imports run as jobs; the command is another door ----------------------------------


@pytest.fixture
def small_job_threshold(settings, tmp_path):
    settings.CELERY_BROKER_URL = ""
    settings.JOBS_IN_PROCESS_THREADS = 0
    settings.MEDIA_ROOT = str(tmp_path)
    settings.OPINION_IMPORT_JOB_MIN_ROWS = 2


def test_a_large_import_runs_as_a_job(
    secretariat, plan, small_job_threshold, django_capture_on_commit_callbacks
):
    from evaluations.models import Job, JobState

    with django_capture_on_commit_callbacks(execute=True):
        response = secretariat.post(
            IMPORT, {"plan": PLAN_CODE, "file": csv_upload(ROWS)}, format="multipart"
        )
    assert response.status_code == 202, response.json()
    job = Job.objects.get(pk=response.json()["id"])
    assert response["Location"].endswith(f"/jobs/{job.pk}/")
    assert job.state == JobState.SUCCEEDED and job.kind == "opinion_import"
    assert job.result == {"imported": 2, "masked": 1, "ignored_columns": ["メール"]}
    assert Opinion.objects.count() == 2


def test_a_large_import_with_a_bad_row_fails_its_job_and_writes_nothing(
    secretariat, plan, small_job_threshold, django_capture_on_commit_callbacks
):
    from evaluations.models import Job, JobState

    rows = [*ROWS, ["", "未来の意見です。よろしく。", "999", "", "", "", ""]]
    with django_capture_on_commit_callbacks(execute=True):
        response = secretariat.post(
            IMPORT, {"plan": PLAN_CODE, "file": csv_upload(rows)}, format="multipart"
        )
    job = Job.objects.get(pk=response.json()["id"])
    assert job.state == JobState.FAILED
    assert job.error["type"] == "validation_error"
    assert [e["attr"] for e in job.error["errors"]] == ["rows.4.initiative"]
    assert not Opinion.objects.exists()


def test_a_department_starts_no_import_job(editor, plan, small_job_threshold):
    from evaluations.models import Job

    response = editor.post(
        IMPORT, {"plan": PLAN_CODE, "file": csv_upload(ROWS)}, format="multipart"
    )
    assert response.status_code == 403 and not Job.objects.exists()


def test_the_command_imports_as_the_server_or_a_user(plan, tmp_path, editor_user):
    from io import StringIO

    from django.core.management import CommandError, call_command

    path = tmp_path / "opinions.csv"
    path.write_bytes(csv_upload(ROWS).getvalue())
    with pytest.raises(CommandError):
        call_command("import_opinions", str(path), "--plan", PLAN_CODE, "--user", "kikaku-editor")
    assert not Opinion.objects.exists()
    out = StringIO()
    call_command("import_opinions", str(path), "--plan", PLAN_CODE, stdout=out)
    assert "Imported 2 opinions (1 with personal data masked)" in out.getvalue()
    assert Opinion.objects.count() == 2


@pytest.mark.parametrize("path", [LIST, "/api/v1/webhooks/"])
def test_a_plan_named_with_a_nul_character_is_400(secretariat, plan, path):
    response = secretariat.post(path, {"plan": "akita\x00dx", "body": "x"}, format="json")
    assert response.status_code == 400 and "plan" in error_attrs(response)


def test_a_secretariat_of_another_plan_reads_no_original_here(plan, editor_user):
    from initiatives.models import Plan, SecretariatMembership
    from tests.helpers import client_for

    other = Plan.objects.create(
        code="other-dx", organisation="他県", name="他県DX計画", start_year=2024, end_year=2025
    )
    SecretariatMembership.objects.create(user=editor_user, plan=other)  # and 企画振興部's editor
    opinion_about(89)
    listed = client_for(editor_user).get(LIST).json()["results"]
    assert len(listed) == 1 and "original_body" not in listed[0]
