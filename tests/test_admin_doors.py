"""The admin asks the one rulebook: every page × every role × every state of No. 89's
evaluation does exactly what ``evaluations.policy`` allows, and a refused POST changes
nothing (version, rating, texts, state, history and KPI actuals stay as they were).

Roles: anonymous, a viewer and an editor of 企画振興部 (No. 89's department), an editor of
建設部, the plan's secretariat, another plan's secretariat, the superuser. States: the R7
draft (open round), submitted, approved; the published R6 evaluation. Members work from
their membership alone (not staff, no Django permission granted by hand).
"""

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from rest_framework.test import APIClient

from evaluations.models import Evaluation, EvaluationStatus, KPIActual
from initiatives.models import KPI
from tests.admin_fixtures import (
    ROLES,
    STATES,
    admin_url,
    evaluation_post,
    form_data,
    in_state,
    logged_in,
    other_draft,
    other_plan,
    other_secretariat_user,
    role_users,
    snapshot,
)
from tests.conftest import evaluation, initiative

__all__ = ["other_draft", "other_plan", "other_secretariat_user", "role_users"]

pytestmark = pytest.mark.django_db

# --- What the policy allows, written out ------------------------------------------------------

# Who sees No. 89's R7 evaluation (published R6: every member), and who may see who changed it.
SEES_R7 = {"viewer", "editor", "secretariat", "superuser"}
SEES_WHO_CHANGED = {"viewer", "editor", "secretariat", "superuser"}
EDITORS = {"editor", "secretariat", "superuser"}
REVIEWERS = {"secretariat", "superuser"}
# action: the states (of No. 89) in which it is allowed, and to whom.
ALLOWED = {
    "edit": ({"draft"}, EDITORS),
    "submit": ({"draft"}, EDITORS),
    "return": ({"submitted"}, REVIEWERS),
    "approve": ({"submitted"}, REVIEWERS),
    "reopen": ({"approved"}, REVIEWERS),
}
AFTER = {
    "submit": EvaluationStatus.SUBMITTED,
    "return": EvaluationStatus.RETURNED,
    "approve": EvaluationStatus.APPROVED,
    "reopen": EvaluationStatus.RETURNED,
}
CHANGELIST_ACTIONS = {
    "submit": "submit_selected",
    "return": "return_selected",
    "approve": "approve_selected",
    "reopen": "reopen_selected",
}


def visible(role: str, state: str) -> bool:
    return state == "published" or role in SEES_R7


def allowed(action: str, role: str, state: str) -> bool:
    states, roles = ALLOWED[action]
    return state in states and role in roles


def messages_after(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


# --- Fixtures -----------------------------------------------------------------------------------


@pytest.fixture(params=STATES)
def state(request) -> str:
    return request.param


@pytest.fixture
def record(request, state, plan, secretariat_user) -> Evaluation:
    """No. 89's evaluation in ``state`` (R7 is opened only for the R7 states)."""
    draft = None if state == "published" else request.getfixturevalue("draft")
    return in_state(state, draft, secretariat_user)


@pytest.fixture(params=ROLES)
def role(request) -> str:
    return request.param


@pytest.fixture
def client(role, role_users) -> Client:
    return logged_in(role_users[role])


# --- Anonymous ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "page"),
    [
        ("get", "changelist"),
        ("get", "change"),
        ("post", "change"),
        ("get", "add"),
        ("get", "delete"),
        ("get", "history"),
        ("get", "simple_history"),
        ("post", "simple_history"),
        ("post", "workflow"),
        ("get", "import"),
    ],
)
def test_anonymous_is_sent_to_the_login(record: Evaluation, method: str, page: str) -> None:
    args = {
        "changelist": (),
        "add": (),
        "import": (),
        "simple_history": (record.pk, record.history.latest().history_id),
        "workflow": (record.pk, "submit"),
    }.get(page, (record.pk,))
    before = snapshot(record)

    response = getattr(Client(), method)(admin_url(Evaluation, page, *args), {})

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/?next=")
    assert snapshot(record) == before


# --- Reading --------------------------------------------------------------------------------------


def test_members_are_not_staff_and_have_no_granted_permissions(role_users) -> None:
    for name, user in role_users.items():
        if name != "superuser":
            assert not user.is_staff
            assert not user.user_permissions.exists()
            assert not user.groups.exists()


def test_changelist(client: Client, role: str, state: str, record: Evaluation) -> None:
    response = client.get(admin_url(Evaluation, "changelist"))

    assert response.status_code == 200
    listed = {evaluation.pk for evaluation in response.context["cl"].queryset}
    assert (record.pk in listed) == visible(role, state)


def test_change_page(client: Client, role: str, state: str, record: Evaluation) -> None:
    response = client.get(admin_url(Evaluation, "change", record.pk))

    if not visible(role, state):
        assert response.status_code == 404
        return
    assert response.status_code == 200
    editable = role == "superuser" or allowed("edit", role, state)
    assert response.context["has_change_permission"] is editable
    assert "指標に基づく目安" in response.content.decode()
    offered = {step["action"] for step in response.context["workflow_steps"]}
    assert offered == {action for action in AFTER if allowed(action, role, state)}


# --- Changing ------------------------------------------------------------------------------------


def test_change_post(client: Client, role: str, state: str, record: Evaluation, role_users) -> None:
    url = admin_url(Evaluation, "change", record.pk)
    if role == "superuser":
        data = form_data(client.get(url))
        data.update(rating="A", progress_text="管理画面から書き換え")
    else:
        data = evaluation_post(record, rating="A", progress_text="管理画面から書き換え")
    before = snapshot(record)

    response = client.post(url, data)

    if allowed("edit", role, state):
        assert response.status_code == 302, response.context and response.context["errors"]
        saved = Evaluation.objects.get(pk=record.pk)
        assert (saved.rating, saved.progress_text) == ("A", "管理画面から書き換え")
        assert saved.version == before["version"] + 1
        latest = saved.history.latest()
        assert latest.history_user == role_users[role]
        assert latest.history_change_reason == "update (admin)"
        return
    if not visible(role, state):
        assert response.status_code == 404
    elif role == "superuser":  # may open the form, but the state refuses the change
        assert response.status_code == 302
        assert any("できません" in message for message in messages_after(response))
    else:
        assert response.status_code == 403
    assert snapshot(record) == before


def test_add_page_is_the_superusers(client: Client, role: str, record: Evaluation) -> None:
    response = client.get(admin_url(Evaluation, "add"))
    assert response.status_code == (200 if role == "superuser" else 403)
    if role != "superuser":
        before = snapshot(record)
        data = {"round": record.round_id, "initiative": record.initiative_id}
        assert client.post(admin_url(Evaluation, "add"), data).status_code == 403
        assert snapshot(record) == before


def test_delete(client: Client, role: str, state: str, record: Evaluation) -> None:
    url = admin_url(Evaluation, "delete", record.pk)
    before = snapshot(record)

    page = client.get(url)
    response = client.post(url, {"post": "yes"})

    if role == "superuser":
        assert page.status_code == 200
        assert response.status_code == 302
        assert not Evaluation.objects.filter(pk=record.pk).exists()
        return
    expected = 403 if visible(role, state) else 404
    assert (page.status_code, response.status_code) == (expected, expected)
    assert snapshot(record) == before


# --- History -------------------------------------------------------------------------------


def _history_status(role: str, state: str) -> int:
    if not visible(role, state):
        return 404
    return 200 if role in SEES_WHO_CHANGED else 403


def test_history(client: Client, role: str, state: str, record: Evaluation) -> None:
    response = client.get(admin_url(Evaluation, "history", record.pk))
    assert response.status_code == _history_status(role, state)


def test_history_version(client: Client, role: str, state: str, record: Evaluation) -> None:
    oldest = record.history.earliest()
    response = client.get(admin_url(Evaluation, "simple_history", record.pk, oldest.history_id))
    assert response.status_code == _history_status(role, state)
    if response.status_code == 200:
        assert response.context["revert_disabled"] is (role != "superuser")
        fields = response.context["adminform"].form.fields.values()
        assert all(field.disabled for field in fields) is (role != "superuser")


def test_revert(client: Client, role: str, state: str, record: Evaluation, role_users) -> None:
    oldest = record.history.earliest()
    url = admin_url(Evaluation, "simple_history", record.pk, oldest.history_id)
    superuser = logged_in(role_users["superuser"])
    data = form_data(superuser.get(url))
    before = snapshot(record)

    response = client.post(url, data)

    if role == "superuser":
        assert response.status_code == 302
        reverted = Evaluation.objects.get(pk=record.pk)
        assert reverted.version == before["version"] + 1
        assert reverted.progress_text == oldest.progress_text
        assert reverted.history.latest().history_change_reason.startswith("revert to history")
        return
    assert response.status_code == (403 if visible(role, state) else 404)
    assert snapshot(record) == before


# --- The workflow ---------------------------------------------------------------------------------


@pytest.mark.parametrize("action", list(AFTER))
def test_workflow_button(
    client: Client, role: str, state: str, record: Evaluation, action: str
) -> None:
    before = snapshot(record)

    response = client.post(
        admin_url(Evaluation, "workflow", record.pk, action),
        {"comment": "理由を書きました", "version": record.version},
    )

    if not visible(role, state):
        assert response.status_code == 404
        assert snapshot(record) == before
        return
    assert response.status_code == 302
    assert response["Location"] == admin_url(Evaluation, "change", record.pk)
    if allowed(action, role, state):
        changed = Evaluation.objects.get(pk=record.pk)
        assert changed.status == AFTER[action]
        assert changed.version == before["version"] + 1
        assert any("しました" in message for message in messages_after(response))
    else:
        assert snapshot(record) == before
        assert any("できません" in message for message in messages_after(response))


@pytest.mark.parametrize("action", list(AFTER))
def test_changelist_action(
    client: Client, role: str, state: str, record: Evaluation, action: str
) -> None:
    before = snapshot(record)

    response = client.post(
        admin_url(Evaluation, "changelist"),
        {
            "action": CHANGELIST_ACTIONS[action],
            "_selected_action": [record.pk],
            "comment": "理由を書きました",
            "index": 0,
        },
    )

    # A viewer has no actions: the list again (200); everyone else is sent back to it.
    assert response.status_code == (200 if role == "viewer" else 302)
    if allowed(action, role, state):
        assert Evaluation.objects.get(pk=record.pk).status == AFTER[action]
    else:
        assert snapshot(record) == before


def test_changelist_actions_offered(client: Client, role: str) -> None:
    """By role (which records, and whether their state allows it, is asked per record)."""
    response = client.get(admin_url(Evaluation, "changelist"))
    form = response.context["action_form"]
    offered = {name for name, _label in form.fields["action"].choices} if form else set()
    expected = set()
    if role in ("editor", "other_editor", "secretariat", "other_secretariat", "superuser"):
        expected |= {"", "submit_selected"}
    if role in ("secretariat", "other_secretariat", "superuser"):
        expected |= {"return_selected", "approve_selected", "reopen_selected"}
    if role == "superuser":
        expected.add("delete_selected")
    assert offered == expected


# --- The attacks of the report ------------------------------------------------------------------


def test_editor_cannot_change_an_approved_evaluation(editor_user, draft, secretariat_user):
    approved = in_state("approved", draft, secretariat_user)
    before = snapshot(approved)

    response = logged_in(editor_user).post(
        admin_url(Evaluation, "change", approved.pk), evaluation_post(approved, rating="A")
    )

    assert response.status_code == 403
    assert snapshot(approved) == before


def test_editor_cannot_change_a_published_rating(editor_user, plan) -> None:
    published = evaluation(89, 2024)
    public = APIClient()
    counts_url = "/api/v1/aggregates/ratings/?plan=akita-dx&fiscal_year=R6"
    counts = public.get(counts_url).json()
    before = snapshot(published)

    response = logged_in(editor_user).post(
        admin_url(Evaluation, "change", published.pk), evaluation_post(published, rating="A")
    )

    assert response.status_code == 403
    assert snapshot(published) == before
    assert public.get(counts_url).json() == counts


def test_editor_cannot_change_another_departments_kpi_actual(editor_user, other_draft) -> None:
    actual = other_draft.kpi_actuals.get()
    client = logged_in(editor_user)
    url = admin_url(KPIActual, "change", actual.pk)

    assert client.get(url).status_code == 404
    assert client.post(url, {"value": "999", "loaded_version": 1}).status_code == 404
    assert (
        client.post(admin_url(KPIActual, "delete", actual.pk), {"post": "yes"}).status_code == 404
    )
    # Published (R6) actuals of another department are readable, not changeable.
    published = KPIActual.objects.get(evaluation=evaluation(50, 2024))
    assert client.get(admin_url(KPIActual, "change", published.pk)).status_code == 200
    response = client.post(admin_url(KPIActual, "change", published.pk), {"value": "999"})
    assert response.status_code == 403
    assert KPIActual.objects.get(pk=published.pk).value == published.value
    assert KPIActual.objects.get(pk=actual.pk).value == actual.value


def test_editor_cannot_add_a_kpi_actual_to_another_departments_draft(
    editor_user, other_draft
) -> None:
    kpi = KPI.objects.get(initiative=initiative(50))
    client = logged_in(editor_user)
    count = KPIActual.objects.count()

    form = client.get(admin_url(KPIActual, "add")).context["adminform"].form
    assert other_draft not in form.fields["evaluation"].queryset
    assert kpi not in form.fields["kpi"].queryset
    response = client.post(
        admin_url(KPIActual, "add"), {"evaluation": other_draft.pk, "kpi": kpi.pk, "value": "5"}
    )
    assert response.status_code == 200  # the form again, with the errors
    assert set(response.context["adminform"].form.errors) == {"evaluation", "kpi"}
    # Nor through the evaluation's own page, which the editor may not see.
    inline = evaluation_post(
        other_draft,
        **{"kpi_actuals-TOTAL_FORMS": "1", "kpi_actuals-0-kpi": kpi.pk, "kpi_actuals-0-value": "5"},
    )
    assert client.post(admin_url(Evaluation, "change", other_draft.pk), inline).status_code == 404
    assert KPIActual.objects.count() == count


def test_history_of_another_departments_draft_is_not_found(editor_user, other_draft) -> None:
    client = logged_in(editor_user)
    oldest = other_draft.history.earliest()

    assert client.get(admin_url(Evaluation, "history", other_draft.pk)).status_code == 404
    url = admin_url(Evaluation, "simple_history", other_draft.pk, oldest.history_id)
    assert client.get(url).status_code == 404
    before = snapshot(other_draft)
    assert client.post(url, {"progress_text": "巻き戻し"}).status_code == 404
    assert snapshot(other_draft) == before


def test_a_stale_form_is_refused_with_the_reason(editor_user, secretariat_user, draft) -> None:
    client = logged_in(editor_user)
    url = admin_url(Evaluation, "change", draft.pk)
    loaded = evaluation_post(Evaluation.objects.get(pk=draft.pk), progress_text="編集者の文")
    logged_in(secretariat_user).post(
        url, evaluation_post(Evaluation.objects.get(pk=draft.pk), progress_text="事務局の文")
    )
    before = snapshot(draft)

    response = client.post(url, loaded)

    assert response.status_code == 200  # the form again, with the user's text kept
    assert response.context["adminform"].form["progress_text"].value() == "編集者の文"
    assert "ほかの人がこの記録を変更しました" in response.content.decode()
    assert snapshot(draft) == before
    assert Evaluation.objects.get(pk=draft.pk).progress_text == "事務局の文"


def test_reading_an_old_version_leaves_the_change_form_as_it_is(
    editor_user, secretariat_user, draft
) -> None:
    """The read-only form of an old version must not make the forms of later requests read
    only (a disabled 読み込んだ版 would take the current version: no stale check)."""
    client = logged_in(editor_user)
    oldest = draft.history.earliest()
    assert client.get(admin_url(Evaluation, "simple_history", draft.pk, oldest.history_id))
    loaded = evaluation_post(Evaluation.objects.get(pk=draft.pk), progress_text="編集者の文")
    logged_in(secretariat_user).post(
        admin_url(Evaluation, "change", draft.pk),
        evaluation_post(Evaluation.objects.get(pk=draft.pk), progress_text="事務局の文"),
    )

    response = client.post(admin_url(Evaluation, "change", draft.pk), loaded)

    assert response.status_code == 200
    assert Evaluation.objects.get(pk=draft.pk).progress_text == "事務局の文"
    form = client.get(admin_url(Evaluation, "change", draft.pk)).context["adminform"].form
    assert not any(field.disabled for field in form.fields.values())


def test_kpi_actuals_inline_writes_through_the_services(editor_user, draft, kpi89) -> None:
    client = logged_in(editor_user)
    url = admin_url(Evaluation, "change", draft.pk)
    added = evaluation_post(
        draft,
        **{
            "kpi_actuals-TOTAL_FORMS": "1",
            "kpi_actuals-0-kpi": kpi89.pk,
            "kpi_actuals-0-value": "1200",
            "kpi_actuals-0-as_of": "2026-03-31",
        },
    )
    assert client.post(url, added).status_code == 302
    actual = KPIActual.objects.get(evaluation=draft)
    assert (actual.value, actual.version) == (1200, 1)
    assert actual.history.latest().history_user == editor_user

    data = form_data(client.get(url))
    data["kpi_actuals-0-value"] = "1300"
    assert client.post(url, data).status_code == 302
    actual.refresh_from_db()
    assert (actual.value, actual.version) == (1300, 2)

    data = form_data(client.get(url))
    data["kpi_actuals-0-DELETE"] = "on"
    assert client.post(url, data).status_code == 302
    assert not KPIActual.objects.filter(evaluation=draft).exists()


def test_kpi_actual_rules_are_shown_on_the_row(editor_user, draft, kpi89) -> None:
    response = logged_in(editor_user).post(
        admin_url(Evaluation, "change", draft.pk),
        evaluation_post(
            draft,
            **{
                "kpi_actuals-TOTAL_FORMS": "1",
                "kpi_actuals-0-kpi": kpi89.pk,
                "kpi_actuals-0-value": "-5",
                "kpi_actuals-0-as_of": "2020-03-31",
            },
        ),
    )

    assert response.status_code == 200
    errors = response.context["inline_admin_formsets"][0].formset.forms[0].errors
    assert set(errors) == {"value", "as_of"}  # negative in 人; outside the fiscal year
    assert not KPIActual.objects.filter(evaluation=draft).exists()


def test_editor_adds_a_kpi_actual_to_its_own_draft(editor_user, draft, kpi89) -> None:
    client = logged_in(editor_user)
    form = client.get(admin_url(KPIActual, "add")).context["adminform"].form
    assert set(form.fields["evaluation"].queryset) == set(
        Evaluation.objects.filter(round=draft.round, initiative__departments__code="kikaku-shinko")
    )

    response = client.post(
        admin_url(KPIActual, "add"), {"evaluation": draft.pk, "kpi": kpi89.pk, "value": "7"}
    )

    assert response.status_code == 302
    actual = KPIActual.objects.get(evaluation=draft)
    assert actual.value == 7
    assert actual.history.latest().history_change_reason == "create"
