"""The evaluation list read as plain rows answers the same JSON, byte for byte, as the model
serializer (``EvaluationListSerializer`` over model instances with their KPI actuals), for
every role, expansion, ordering, filter and both paginations."""

import datetime
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.db.models import Prefetch
from django.utils import timezone, translation
from rest_framework import mixins
from rest_framework.test import APIRequestFactory, force_authenticate

from evaluations.api import filters, serializers
from evaluations.api.views import EvaluationViewSet, actuals_with_targets
from evaluations.models import Evaluation, EvaluationStatus, KPIActual, Rating
from evaluations.policy import evaluations_visible_to
from initiatives.access import actor_for
from initiatives.models import KPI, KPITarget
from tests.conftest import initiative
from tests.helpers import as_one_request

PATH = "/api/v1/evaluations/"


class ModelPathViewSet(EvaluationViewSet):
    """The list as it was read before the rows: model instances, their KPI actuals prefetched
    with their targets, and the model serializer computing each suggestion in ``Decimal``."""

    def get_serializer_class(self):
        return serializers.EvaluationListSerializer

    def get_queryset(self):
        actor = actor_for(self.request)
        queryset = (
            evaluations_visible_to(actor)
            .select_related("round", "initiative")
            .prefetch_related(Prefetch("kpi_actuals", queryset=actuals_with_targets(actor)))
            .order_by("round__plan_id", "round__fiscal_year", "initiative__number")
        )
        if "texts" in filters.requested_expansions(self.request):
            queryset = queryset.select_related("submitted_by", "approved_by")
            if actor.readable_department_ids:
                queryset = queryset.prefetch_related("initiative__responsibilities")
        return queryset

    def list(self, request, *args, **kwargs):
        return mixins.ListModelMixin.list(self, request, *args, **kwargs)


ROWS_VIEW = EvaluationViewSet.as_view({"get": "list"})
MODEL_VIEW = ModelPathViewSet.as_view({"get": "list"})


def body(view, caller, params: dict, language: str = "ja") -> bytes:
    request = APIRequestFactory().get(PATH, params)
    if isinstance(caller, str):
        request.META["HTTP_AUTHORIZATION"] = f"Api-Key {caller}"
    elif caller is not None:
        force_authenticate(request, user=caller)
    cache.clear()  # each view computes its answer: none is served the other's stored bytes
    with as_one_request(), translation.override(language):  # as LocaleMiddleware would
        response = view(request)
    assert response.status_code == 200, response.content[:300]
    return response.content


@pytest.fixture
def varied_r7(r7, kpi89, editor_user, secretariat_user):
    """R7 with actuals in every state the suggestion tells apart (a ratio, no actual value, a
    qualitative target, no target, a zero denominator) and a reviewed evaluation."""
    KPITarget.objects.update_or_create(kpi=kpi89, fiscal_year=2025, defaults={"value": 8})
    draft89 = Evaluation.objects.get(round=r7, initiative__number=89)
    KPIActual.objects.create(evaluation=draft89, kpi=kpi89, value=Decimal("7.9992"))
    numbers = sorted(
        set(
            KPI.objects.filter(initiative__plan=r7.plan).values_list(
                "initiative__number", flat=True
            )
        )
        - {89}
    )[:5]
    cases = dict(
        zip(
            numbers,
            [
                {"value": None, "target": Decimal(10)},  # no actual value
                {"value": Decimal(5), "target": None, "text": "ロードマップどおり"},  # qualitative
                {"value": Decimal(5), "target": None, "text": ""},  # no target
                {"value": Decimal(0), "target": Decimal(0)},  # no ratio
                {"value": Decimal(12), "target": Decimal(10)},  # A
            ],
            strict=True,
        )
    )
    for number, case in cases.items():
        kpis = list(KPI.objects.filter(initiative=initiative(number)))
        evaluation = Evaluation.objects.get(round=r7, initiative__number=number)
        for kpi in kpis:
            if "target" in case:
                KPITarget.objects.filter(kpi=kpi, fiscal_year=2025).delete()
                if case["target"] is not None or case.get("text"):
                    KPITarget.objects.create(
                        kpi=kpi, fiscal_year=2025, value=case["target"], text=case.get("text", "")
                    )
            KPIActual.objects.create(
                evaluation=evaluation, kpi=kpi, value=case["value"], note="未集計"
            )
    now = timezone.now()
    Evaluation.objects.filter(round=r7, initiative__number=89).update(
        rating=Rating.C,
        status=EvaluationStatus.SUBMITTED,
        rating_reason="理由",
        progress_text="進捗",
        review_comment="要修正",
        submitted_by=editor_user,
        submitted_at=now,
        approved_by=secretariat_user,
        approved_at=now + datetime.timedelta(microseconds=123456),
    )
    Evaluation.objects.filter(round=r7, initiative__number=numbers[4]).update(rating=Rating.B)
    r7.case_numbers = numbers
    return r7


PARAMS = [
    {"page_size": 200},
    {"page_size": 200, "expand": "texts"},
    {"page_size": 200, "expand": "kpi_actuals"},
    {"page_size": 200, "expand": "kpi_actuals,texts"},
    {"page_size": 7, "page": 3, "ordering": "-rating"},
    {"pagination": "cursor", "page_size": 30, "expand": "texts"},
    {"differs_from_suggestion": "true", "page_size": 200},
    {"differs_from_suggestion": "false", "pagination": "cursor", "page_size": 20},
    {"fiscal_year": "R7", "department": "kikaku-shinko", "expand": "texts,kpi_actuals"},
    {"search": "デジタル", "ordering": "updated_at"},
]


@pytest.mark.parametrize(
    "params", PARAMS, ids=lambda params: "&".join(f"{k}={v}" for k, v in params.items())
)
def test_rows_answer_what_the_model_serializer_answers(
    varied_r7, params, secretariat_user, editor_user, viewer_user, other_editor_user, api_keys
) -> None:
    callers = {
        "secretariat": secretariat_user,
        "editor": editor_user,
        "viewer": viewer_user,
        "other editor": other_editor_user,
        "anonymous": None,
        **{f"{name} key": key for name, key in api_keys.items()},
    }
    for name, caller in callers.items():
        rows = body(ROWS_VIEW, caller, params)
        model = body(MODEL_VIEW, caller, params)
        assert rows == model, name
        assert b'"results":[' in rows


def test_the_comparison_covers_every_kind_of_suggestion(varied_r7, secretariat_user) -> None:
    import json

    results = json.loads(body(ROWS_VIEW, secretariat_user, {"fiscal_year": "R7", "page_size": 200}))
    by_number = {item["initiative"]["number"]: item for item in results["results"]}
    assert by_number[89]["suggestion"] == {"ratio": "0.9999", "rating": "B", "reason": ""}
    assert by_number[89]["differs_from_suggestion"] is True
    numbers = varied_r7.case_numbers
    assert by_number[numbers[4]]["suggestion"]["rating"] == "A"
    assert by_number[numbers[4]]["differs_from_suggestion"] is True
    reasons = {by_number[number]["suggestion"]["reason"] for number in numbers[:4]}
    assert len(reasons) == 4 and "" not in reasons
    english = json.loads(
        body(ROWS_VIEW, secretariat_user, {"fiscal_year": "R7", "page_size": 200}, "en")
    )
    assert body(
        MODEL_VIEW, secretariat_user, {"fiscal_year": "R7", "page_size": 200}, "en"
    ) == body(ROWS_VIEW, secretariat_user, {"fiscal_year": "R7", "page_size": 200}, "en")
    assert any(
        item["suggestion"]["reason"] == "No actual value has been entered yet."
        for item in english["results"]
    )


def test_reviewers_are_withheld_on_rows_as_on_models(varied_r7, other_editor_user, editor_user):
    import json

    params = {"fiscal_year": "R7", "expand": "texts", "page_size": 200}
    mine = json.loads(body(ROWS_VIEW, editor_user, params))["results"]
    assert next(item for item in mine if item["initiative"]["number"] == 89)["submitted_by"] == (
        "kikaku-editor"
    )
    others = json.loads(body(ROWS_VIEW, other_editor_user, params))["results"]
    assert all(item["initiative"]["number"] != 89 for item in others)  # not its department's
