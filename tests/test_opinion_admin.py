"""Citizens' opinions and their analyses at the admin door: the same policy and services as
the API (who sees which opinion, who sees the original, moderation with a reason and its
history, links, analyses run as jobs and published)."""

import pytest

from evaluations.listening.intake import body_digest
from evaluations.models import (
    AnalysisState,
    Job,
    Opinion,
    OpinionAnalysis,
    OpinionStatus,
)
from tests.admin_fixtures import (
    admin_url,
    logged_in,
    other_plan,
    other_secretariat_user,
    role_users,
)
from tests.conftest import initiative

__all__ = ["other_plan", "other_secretariat_user", "role_users"]

pytestmark = pytest.mark.django_db

ORIGINAL = "山田太郎です。電話は018-860-1234。光回線をもっと早く整備してください。"


@pytest.fixture
def opinion(plan) -> Opinion:
    """An opinion about No. 89 (企画振興部's), masked."""
    return Opinion.objects.create(
        plan=plan,
        body="［氏名］です。電話は［電話番号］。光回線をもっと早く整備してください。",
        original_body=ORIGINAL,
        personal_data=["name", "phone"],
        initiative=initiative(89),
        body_digest=body_digest(ORIGINAL),
    )


# Who sees the opinion about No. 89 in the admin, and who sees its original text.
SEES = {"viewer", "editor", "secretariat", "superuser"}
SEES_ORIGINAL = {"secretariat", "superuser"}


@pytest.mark.parametrize(
    "role", ["viewer", "editor", "other_editor", "secretariat", "other_secretariat", "superuser"]
)
def test_the_admin_shows_opinions_as_the_policy_says(role_users, opinion, role):
    client = logged_in(role_users[role])
    page = client.get(admin_url(Opinion, "change", opinion.pk))
    if role not in SEES:
        assert page.status_code in (302, 403, 404)
        return
    assert page.status_code == 200
    html = page.content.decode()
    assert ("018-860-1234" in html) == (role in SEES_ORIGINAL)
    assert "［電話番号］" in html


def form(opinion: Opinion, **changes) -> dict:
    data = {
        "status": opinion.status,
        "hidden_reason": opinion.hidden_reason,
        "body": opinion.body,
        "confirmed_initiative": "",
    }
    return data | changes


def test_the_secretariat_hides_an_opinion_in_the_admin_with_its_reason(role_users, opinion):
    client = logged_in(role_users["secretariat"])
    url = admin_url(Opinion, "change", opinion.pk)
    client.post(url, form(opinion, status="hidden", hidden_reason="誹謗中傷"))
    opinion.refresh_from_db()
    assert opinion.status == OpinionStatus.HIDDEN and opinion.hidden_reason == "誹謗中傷"
    assert opinion.version == 2
    assert opinion.history.first().history_change_reason == "hidden: 誹謗中傷"


def test_hiding_without_a_reason_is_refused_in_the_admin_too(role_users, opinion):
    client = logged_in(role_users["secretariat"])
    page = client.post(admin_url(Opinion, "change", opinion.pk), form(opinion, status="hidden"))
    assert page.status_code == 200
    opinion.refresh_from_db()
    assert opinion.status == OpinionStatus.RECEIVED and opinion.version == 1


def test_a_corrected_text_is_masked_again_in_the_admin(role_users, opinion):
    client = logged_in(role_users["secretariat"])
    body = "連絡は090-1234-5678まで。光回線をもっと早く整備してください。"
    client.post(admin_url(Opinion, "change", opinion.pk), form(opinion, body=body))
    opinion.refresh_from_db()
    assert "090-1234-5678" not in opinion.body and opinion.original_body == ORIGINAL


def test_the_secretariat_confirms_an_initiative_in_the_admin(role_users, opinion):
    client = logged_in(role_users["secretariat"])
    no_60 = initiative(60)
    client.post(
        admin_url(Opinion, "change", opinion.pk), form(opinion, confirmed_initiative=no_60.pk)
    )
    opinion.refresh_from_db()
    assert opinion.confirmed_initiative == no_60


def test_a_department_member_cannot_change_an_opinion_in_the_admin(role_users, opinion):
    client = logged_in(role_users["editor"])
    client.post(admin_url(Opinion, "change", opinion.pk), form(opinion, status="published"))
    opinion.refresh_from_db()
    assert opinion.status == OpinionStatus.RECEIVED and opinion.version == 1


def test_the_admin_runs_an_analysis_as_a_job_for_the_secretariat(
    role_users, plan, opinion, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.CELERY_BROKER_URL = ""
    settings.JOBS_IN_PROCESS_THREADS = 0
    settings.MEDIA_ROOT = str(tmp_path)
    client = logged_in(role_users["secretariat"])
    with django_capture_on_commit_callbacks(execute=True):
        client.post(admin_url(OpinionAnalysis, "add"), {"plan": plan.pk, "title": "", "seed": 2})
    analysis = OpinionAnalysis.objects.get()
    assert analysis.state == AnalysisState.SUCCEEDED and analysis.seed == 2
    assert Job.objects.get(pk=analysis.job_id).requested_by == role_users["secretariat"]
    client.post(
        admin_url(OpinionAnalysis, "changelist"),
        {"action": "publish_selected", "_selected_action": [analysis.pk]},
    )
    assert OpinionAnalysis.objects.get().is_published


@pytest.mark.parametrize("role", ["viewer", "editor", "other_secretariat"])
def test_others_run_no_analysis_of_the_plan_in_the_admin(role_users, plan, role):
    client = logged_in(role_users[role])
    client.post(admin_url(OpinionAnalysis, "add"), {"plan": plan.pk, "title": "", "seed": 0})
    assert not OpinionAnalysis.objects.exists()


def test_the_secretariat_publishes_many_opinions_at_once_in_the_admin(role_users, opinion, plan):
    other = Opinion.objects.create(
        plan=plan, body="二つ目の意見です。", original_body="二つ目の意見です。", body_digest="2"
    )
    client = logged_in(role_users["secretariat"])
    client.post(
        admin_url(Opinion, "changelist"),
        {"action": "publish_selected", "_selected_action": [opinion.pk, other.pk]},
    )
    published = Opinion.objects.filter(status=OpinionStatus.PUBLISHED)
    assert set(published.values_list("pk", flat=True)) == {opinion.pk, other.pk}
    assert all(o.history.first().history_change_reason == "published" for o in published)
