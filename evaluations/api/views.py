"""Read API for rounds, evaluations, KPI actuals, and initiatives and KPIs with their progress."""

from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from drf_standardized_errors.openapi_validation_errors import extend_validation_errors
from rest_framework import mixins, permissions, status, viewsets
from rest_framework import serializers as drf_serializers
from rest_framework.decorators import action
from rest_framework.response import Response

from dxapi.etags import ETAG, IF_MATCH, PRECONDITION_RESPONSES, expected_version, with_etag
from dxapi.filters import id_or_code
from dxapi.history_api import HistoryMixin
from dxapi.pagination import CursorablePagination
from dxapi.schema import crud_docs, read_only_docs
from dxapi.serializer_fields import StrictSerializer
from dxapi.strict import refuse_body
from evaluations import policy, services
from evaluations.api import filters, serializers, write_serializers
from evaluations.api.cached_responses import cacheable, note_list_version
from evaluations.dashboard import round_dashboard
from evaluations.models import REVIEWER_FIELDS_WITHHELD
from evaluations.policy import evaluations_visible_to, kpi_actuals_visible_to, rounds_visible_to
from evaluations.selectors import (
    evaluation_values,
    may_see_who_changed_initiative,
    ratings_by_initiative,
    with_target,
)
from initiatives.access import Actor, actor_for
from initiatives.api.fields import FiscalYearParamField
from initiatives.api.permissions import ReadAnyoneWriteAuthenticated
from initiatives.api.views import SECRETARIAT, InitiativeViewSet, KPIViewSet
from initiatives.api.write_serializers import InitiativeWriteSerializer, KPIWriteSerializer
from initiatives.models import KPI, KPITarget, Plan
from initiatives.selectors import InitiativeValues, initiative_rows

EVALUATION = "evaluation"
KPI_ACTUAL = "kpi-actual"
EXPAND = OpenApiParameter(
    "expand",
    OpenApiTypes.STR,
    many=True,
    enum=filters.EXPANSIONS,
    style="form",
    explode=False,
    description=(
        "Comma-separated, e.g. `texts,kpi_actuals`: `texts` adds the rating reason, plan, "
        "progress and next-actions texts, the note and the review (reviewers and review "
        "comment only for those who may see who changed the evaluation); `kpi_actuals` adds "
        "the KPI actuals with their targets and ratios. Another name is a 400."
    ),
)


class PublishedReadViewSet(viewsets.ReadOnlyModelViewSet):
    """Readable by anyone; what each caller sees is scoped by the selectors."""

    permission_classes = [permissions.AllowAny]


class RoundOpenSerializer(StrictSerializer):
    plan = drf_serializers.PrimaryKeyRelatedField(queryset=Plan.objects.all())
    fiscal_year = FiscalYearParamField(help_text="Fiscal year: 2025, R7 or 令和7年度.")
    department_due_date = write_serializers.due_date_field(
        "The day departments submit their evaluations by.", default=None
    )
    review_due_date = write_serializers.due_date_field(
        "The day the secretariat reviews them by; not before the department due date.",
        default=None,
    )


def actuals_with_targets(actor: Actor):
    return with_target(kpi_actuals_visible_to(actor)).select_related("kpi", "evaluation__round")


@read_only_docs(
    plural="rounds",
    singular="round",
    description=(
        "Yearly evaluation rounds of a plan (open → closed → published). The public sees "
        "published rounds only."
    ),
)
class RoundViewSet(mixins.CreateModelMixin, PublishedReadViewSet):
    serializer_class = serializers.RoundSerializer
    filterset_class = filters.RoundFilter
    ordering_fields = ["fiscal_year"]
    permission_classes = [ReadAnyoneWriteAuthenticated]

    def get_queryset(self):
        return rounds_visible_to(actor_for(self.request)).order_by("plan_id", "fiscal_year")

    @extend_schema(
        summary="Open a round",
        description=(
            "Secretariat: open the round of a fiscal year inside the plan's period; every "
            "initiative of the plan gets a draft evaluation."
        ),
        request=RoundOpenSerializer,
        responses={201: serializers.RoundSerializer},
    )
    def create(self, request, *args, **kwargs):
        data = RoundOpenSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        round_ = services.round_open(actor=actor_for(request), **data.validated_data)
        return Response(serializers.RoundSerializer(round_).data, status=status.HTTP_201_CREATED)

    def _checked_round(self, request):
        """The round, once the caller may move it: 404 if it may not see it, 403 if it is not
        the plan's secretariat, before the body is looked at."""
        round_ = self.get_object()
        policy.require_secretariat(actor_for(request), round_.plan_id)
        return round_

    @extend_schema(
        summary="Change a round's due dates",
        description=(
            "Secretariat: set, change or clear (null) the department due date and the review "
            "due date, in any state; the review is not due before the departments' "
            "submissions. Each change is kept in the round's history."
        ),
        request=write_serializers.RoundUpdateSerializer,
        responses=serializers.RoundSerializer,
    )
    def partial_update(self, request, pk=None):
        round_ = self._checked_round(request)
        data = write_serializers.RoundUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        round_ = services.round_update(
            actor=actor_for(request), round_=round_, data=dict(data.validated_data)
        )
        return Response(serializers.RoundSerializer(round_).data)

    @extend_schema(
        summary="A round's dashboard",
        description=(
            "The plan's secretariat (and superusers): per department, the evaluations by "
            "status, the overdue ones (not submitted after the department due date; submitted "
            "and not reviewed after the review due date) and the last activity; per "
            "initiative, what is missing (a rating, an actual for a KPI with a numeric target, "
            "a reason for a rating that differs from the KPI-based suggestion, a target for "
            "the round's year) or overdue."
        ),
        responses=serializers.RoundDashboardSerializer,
    )
    @action(detail=True, methods=["get"])
    def dashboard(self, request, pk=None):
        round_ = self.get_object()
        policy.require_may_see_dashboard(actor_for(request), round_)
        return Response(serializers.RoundDashboardSerializer(round_dashboard(round_)).data)

    @extend_schema(
        summary="Close a round",
        description=(
            "Secretariat: stop data entry in an open round; review (return, approve, reopen an "
            "evaluation) goes on."
        ),
        request=None,
        responses=serializers.RoundSerializer,
    )
    @action(detail=True, methods=["post"])
    def close(self, request, pk=None):
        round_ = self._checked_round(request)
        refuse_body(request)
        round_ = services.round_close(actor=actor_for(request), round_=round_)
        return Response(serializers.RoundSerializer(round_).data)

    @extend_schema(
        summary="Reopen a round",
        description=(
            "Secretariat: open a closed round again for data entry, or a published one (with a "
            "`reason`, kept in the round's history): the public no longer sees it until it is "
            "published again."
        ),
        request=write_serializers.RoundReopenSerializer,
        responses=serializers.RoundSerializer,
    )
    @action(detail=True, methods=["post"])
    def reopen(self, request, pk=None):
        round_ = self._checked_round(request)
        data = write_serializers.RoundReopenSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        round_ = services.round_reopen(
            actor=actor_for(request), round_=round_, reason=data.validated_data["reason"]
        )
        return Response(serializers.RoundSerializer(round_).data)

    @extend_schema(
        summary="Publish a round",
        description=(
            "Secretariat: publish a closed round whose evaluations are all approved; the public "
            "then sees it and the aggregates count it. 409 names the initiatives not approved."
        ),
        request=None,
        responses=serializers.RoundSerializer,
    )
    @action(detail=True, methods=["post"])
    def publish(self, request, pk=None):
        round_ = self._checked_round(request)
        refuse_body(request)
        round_ = services.round_publish(actor=actor_for(request), round_=round_)
        return Response(serializers.RoundSerializer(round_).data)


@read_only_docs(
    plural="evaluations",
    singular="evaluation",
    description=(
        "Yearly evaluations of initiatives: rating (A/B/C, `-` not evaluated, null unknown), "
        "workflow status and the KPI-based suggested rating. The detail adds plan, progress "
        "and next-actions texts and the KPI actuals; the list adds them with `expand`. The "
        "public sees published rounds only."
    ),
)
@extend_validation_errors(["invalid"], field_name="rating", actions=["submit"])
@extend_validation_errors(["invalid"], field_name="rating_reason", actions=["submit"])
class EvaluationViewSet(HistoryMixin, mixins.UpdateModelMixin, PublishedReadViewSet):
    etag_kind = EVALUATION
    history_withheld_fields = REVIEWER_FIELDS_WITHHELD.keys()
    permission_classes = [ReadAnyoneWriteAuthenticated]
    pagination_class = CursorablePagination
    filterset_class = filters.EvaluationFilter
    search_fields = ["initiative__title"]
    ordering_fields = ["initiative__number", "round__fiscal_year", "rating", "updated_at"]

    def get_serializer_class(self):
        if self.action in ("list",):
            return serializers.EvaluationListSerializer
        return serializers.EvaluationDetailSerializer

    def may_see_who_changed(self, evaluation) -> bool:
        return may_see_who_changed_initiative(actor_for(self.request), evaluation.initiative)

    def _detail(self, evaluation) -> Response:
        fresh = self.get_queryset().get(pk=evaluation.pk)
        context = {"show_who": self.may_see_who_changed(fresh), "actor": actor_for(self.request)}
        response = Response(serializers.EvaluationDetailSerializer(fresh, context=context).data)
        return with_etag(response, self.etag_kind, fresh)

    def _version(self, evaluation) -> services.Precondition:
        return expected_version(self.request, self.etag_kind, evaluation.pk)

    def _checked(self, *, reviewer: bool = False):
        """The evaluation, once the caller may act on it: 404 if it may not see it, 403 if
        it may not act, before the body or If-Match are looked at."""
        evaluation = self.get_object()
        actor = actor_for(self.request)
        if reviewer:
            policy.require_secretariat(actor, evaluation.round.plan_id)
        else:
            policy.require_editor(actor, evaluation)
        return evaluation

    @classmethod
    def as_view(cls, actions=None, **initkwargs):
        """The list: versioned ETags, and the public's bytes cached (``cached_responses``)."""
        view = super().as_view(actions, **initkwargs)
        return cacheable(view) if (actions or {}).get("get") == "list" else view

    @extend_schema(parameters=[EXPAND])
    def list(self, request, *args, **kwargs):
        """The page read as plain rows (``selectors.evaluation_values``), then the suggestions
        of its evaluations only; ``EvaluationListSerializer`` documents it (the same JSON)."""
        note_list_version(request)  # before any of the data it shows is read
        expansions = filters.requested_expansions(request)
        rows = evaluation_values(
            self.filter_queryset(self.get_queryset()), texts="texts" in expansions
        )
        page = self.paginate_queryset(rows)
        represent = serializers.EvaluationRowsRepresentation(request, expansions)
        return self.get_paginated_response(represent(page))

    @extend_schema(parameters=[ETAG])
    def retrieve(self, request, *args, **kwargs):
        return self._detail(self.get_object())

    @extend_schema(
        summary="Update an evaluation",
        description=(
            "An editor of a responsible department (or the secretariat) edits the rating and "
            "texts of a draft or returned evaluation in an open round. 409 otherwise."
        ),
        request=write_serializers.EvaluationUpdateSerializer,
        parameters=[IF_MATCH, ETAG],
        responses={200: serializers.EvaluationDetailSerializer, **PRECONDITION_RESPONSES},
    )
    def update(self, request, *args, **kwargs):
        evaluation = self._checked()
        data = write_serializers.EvaluationUpdateSerializer(
            data=request.data, partial=kwargs.get("partial", False)
        )
        data.is_valid(raise_exception=True)
        services.evaluation_update(
            actor=actor_for(request),
            evaluation=evaluation,
            data=dict(data.validated_data),
            expected_version=self._version(evaluation),
        )
        return self._detail(evaluation)

    @extend_schema(
        summary="Partly update an evaluation",
        description="As PUT, with only the fields given.",
        request=write_serializers.EvaluationUpdateSerializer,
        parameters=[IF_MATCH, ETAG],
        responses={200: serializers.EvaluationDetailSerializer, **PRECONDITION_RESPONSES},
    )
    def partial_update(self, request, *args, **kwargs):
        return super().partial_update(request, *args, **kwargs)

    @extend_schema(
        summary="Submit an evaluation",
        description="A department editor submits a draft or returned evaluation for review.",
        request=None,
        parameters=[IF_MATCH, ETAG],
        responses={200: serializers.EvaluationDetailSerializer, **PRECONDITION_RESPONSES},
    )
    @action(detail=True, methods=["post"])
    def submit(self, request, pk=None):
        evaluation = self._checked()
        refuse_body(request)
        services.evaluation_submit(
            actor=actor_for(request),
            evaluation=evaluation,
            expected_version=self._version(evaluation),
        )
        return self._detail(evaluation)

    @extend_schema(
        summary="Return an evaluation",
        description="Secretariat: send a submitted evaluation back with a comment.",
        request=write_serializers.CommentSerializer,
        parameters=[IF_MATCH, ETAG],
        responses={200: serializers.EvaluationDetailSerializer, **PRECONDITION_RESPONSES},
    )
    @action(detail=True, methods=["post"], url_path="return")
    def return_for_changes(self, request, pk=None):
        evaluation = self._checked(reviewer=True)
        data = write_serializers.CommentSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.evaluation_return(
            actor=actor_for(request),
            evaluation=evaluation,
            comment=data.validated_data["comment"],
            expected_version=self._version(evaluation),
        )
        return self._detail(evaluation)

    @extend_schema(
        summary="Approve an evaluation",
        description="Secretariat: approve a submitted evaluation.",
        request=None,
        parameters=[IF_MATCH, ETAG],
        responses={200: serializers.EvaluationDetailSerializer, **PRECONDITION_RESPONSES},
    )
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        evaluation = self._checked(reviewer=True)
        refuse_body(request)
        services.evaluation_approve(
            actor=actor_for(request),
            evaluation=evaluation,
            expected_version=self._version(evaluation),
        )
        return self._detail(evaluation)

    @extend_schema(
        summary="Reopen an approved evaluation",
        description="Secretariat: send an approved evaluation of an unpublished round back.",
        request=write_serializers.ReasonSerializer,
        parameters=[IF_MATCH, ETAG],
        responses={200: serializers.EvaluationDetailSerializer, **PRECONDITION_RESPONSES},
    )
    @action(detail=True, methods=["post"])
    def reopen(self, request, pk=None):
        evaluation = self._checked(reviewer=True)
        data = write_serializers.ReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.evaluation_reopen(
            actor=actor_for(request),
            evaluation=evaluation,
            reason=data.validated_data["reason"],
            expected_version=self._version(evaluation),
        )
        return self._detail(evaluation)

    def get_queryset(self):
        actor = actor_for(self.request)
        queryset = evaluations_visible_to(actor).order_by(
            "round__plan_id", "round__fiscal_year", "initiative__number"
        )
        if self.action == "list":  # read as rows (``list``)
            return queryset
        return queryset.select_related(
            "round",
            "initiative",
            "initiative__policy_area__pillar",
            "submitted_by",
            "approved_by",
        ).prefetch_related(
            Prefetch("kpi_actuals", queryset=actuals_with_targets(actor)),
            "initiative__responsibilities__department",
            "initiative__kpis",
        )


@read_only_docs(
    plural="KPI actuals",
    singular="KPI actual",
    description=(
        "Actual values of KPIs reported with an evaluation, as of a date (`as_of_label` such "
        "as R7.3時点), with the year's target and the achievement ratio."
    ),
)
class KPIActualViewSet(
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    PublishedReadViewSet,
):
    etag_kind = KPI_ACTUAL
    pagination_class = CursorablePagination
    serializer_class = serializers.KPIActualSerializer
    filterset_class = filters.KPIActualFilter
    ordering_fields = ["evaluation__round__fiscal_year", "kpi__order"]
    permission_classes = [ReadAnyoneWriteAuthenticated]

    def get_queryset(self):
        return actuals_with_targets(actor_for(self.request)).order_by(
            "evaluation__round__fiscal_year", "evaluation__initiative__number", "kpi__order"
        )

    def _detail(self, actual, code=status.HTTP_200_OK) -> Response:
        fresh = self.get_queryset().get(pk=actual.pk)
        response = Response(serializers.KPIActualSerializer(fresh).data, status=code)
        return with_etag(response, self.etag_kind, fresh)

    @extend_schema(parameters=[ETAG])
    def retrieve(self, request, *args, **kwargs):
        return self._detail(self.get_object())

    @extend_schema(
        summary="Enter a KPI actual",
        description=(
            "An editor enters a KPI's actual value for an evaluation it may edit: numeric and "
            "finite, not negative for counts and percentages, as of a date inside the fiscal "
            "year or up to six months after it."
        ),
        request=write_serializers.KPIActualWriteSerializer,
        responses={201: serializers.KPIActualSerializer},
    )
    def create(self, request, *args, **kwargs):
        actor = actor_for(request)
        data = write_serializers.KPIActualWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        evaluation = get_object_or_404(evaluations_visible_to(actor), pk=values["evaluation"])
        kpi = get_object_or_404(KPI, pk=values["kpi"])
        actual = services.kpi_actual_save(
            actor=actor,
            evaluation=evaluation,
            kpi=kpi,
            value=values["value"],
            as_of=values["as_of"],
            note=values["note"],
            roadmap_status=values["roadmap_status"],
        )
        return self._detail(actual, status.HTTP_201_CREATED)

    @extend_schema(
        summary="Update a KPI actual",
        description="Change the value, as-of date and note of a KPI actual.",
        request=write_serializers.KPIActualUpdateSerializer,
        parameters=[IF_MATCH, ETAG],
        responses={200: serializers.KPIActualSerializer, **PRECONDITION_RESPONSES},
    )
    def update(self, request, *args, **kwargs):
        actual = self.get_object()
        policy.require_editor(actor_for(request), actual.evaluation)
        data = write_serializers.KPIActualUpdateSerializer(
            data=request.data, partial=kwargs.get("partial", False)
        )
        data.is_valid(raise_exception=True)
        values = {
            "value": actual.value,
            "as_of": actual.as_of,
            "note": actual.note,
            "roadmap_status": actual.roadmap_status,
        }
        values.update(data.validated_data)
        services.kpi_actual_save(
            actor=actor_for(request),
            evaluation=actual.evaluation,
            kpi=actual.kpi,
            actual=actual,
            expected_version=expected_version(request, self.etag_kind, actual.pk),
            **values,
        )
        return self._detail(actual)

    @extend_schema(
        summary="Partly update a KPI actual",
        description="As PUT, with only the fields given.",
        request=write_serializers.KPIActualUpdateSerializer,
        parameters=[IF_MATCH, ETAG],
        responses={200: serializers.KPIActualSerializer, **PRECONDITION_RESPONSES},
    )
    def partial_update(self, request, *args, **kwargs):
        return super().partial_update(request, *args, **kwargs)

    @extend_schema(
        summary="Delete a KPI actual",
        description="Remove a KPI actual.",
        parameters=[IF_MATCH],
        responses={204: None, **PRECONDITION_RESPONSES},
    )
    def destroy(self, request, *args, **kwargs):
        actual = self.get_object()
        services.kpi_actual_delete(
            actor=actor_for(request),
            actual=actual,
            expected_version=expected_version(request, self.etag_kind, actual.pk),
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


@crud_docs(
    plural="initiatives",
    singular="initiative",
    description=(
        "Initiatives (取組) with pillar, policy area, responsible departments, KPIs and the "
        "rating of each fiscal year the caller may see. Filter by `fiscal_year` and `rating` "
        "together to find, e.g., the initiatives rated C in R6."
    ),
    read=serializers.InitiativeProgressSerializer,
    write=InitiativeWriteSerializer,
    who=SECRETARIAT,
)
class InitiativeProgressViewSet(HistoryMixin, InitiativeViewSet):
    serializer_class = serializers.InitiativeProgressSerializer
    filterset_class = filters.InitiativeProgressFilter

    @classmethod
    def as_view(cls, actions=None, **initkwargs):
        """The list: versioned ETags, and the public's bytes cached (``cached_responses``)."""
        view = super().as_view(actions, **initkwargs)
        return cacheable(view) if (actions or {}).get("get") == "list" else view

    def list(self, request, *args, **kwargs):
        note_list_version(request)  # before any of the data it shows is read
        return super().list(request, *args, **kwargs)

    def _visible_evaluations(self):
        visible = evaluations_visible_to(actor_for(self.request))
        plan = self.request.query_params.get("plan", "")
        if plan:
            # Redundant with the initiatives' own plan, but it lets PostgreSQL use the
            # plan's rounds index instead of hashing every round (EXPLAIN in benchmarks/).
            visible = visible.filter(**id_or_code(plan, "round__plan__"))
        return visible

    def with_extras(self, initiatives):
        """Attach each initiative's visible ratings, read as plain rows in one query."""
        ratings = ratings_by_initiative(
            self._visible_evaluations(), [initiative.pk for initiative in initiatives]
        )
        for initiative in initiatives:
            initiative.visible_ratings = ratings.get(initiative.pk, [])
        return initiatives

    def paginate_queryset(self, queryset):
        """The page read as plain rows (``initiatives.selectors``), not model instances."""
        page = super().paginate_queryset(InitiativeValues(queryset))
        return None if page is None else self.with_extras(initiative_rows(page))

    def get_object(self):
        return self.with_extras([super().get_object()])[0]

    def may_see_who_changed(self, initiative) -> bool:
        return may_see_who_changed_initiative(actor_for(self.request), initiative)


@crud_docs(
    plural="KPIs",
    singular="KPI",
    description=(
        "KPIs (指標) of initiatives: unit, cumulative or not, direction, targets per fiscal "
        "year (numeric or qualitative) and the actuals the caller may see, each with its "
        "achievement ratio. `fiscal_year` narrows each KPI's targets and actuals to that "
        "year (every KPI is still listed); `department` keeps the KPIs of its initiatives."
    ),
    read=serializers.KPIProgressSerializer,
    write=KPIWriteSerializer,
    who=SECRETARIAT,
)
class KPIProgressViewSet(KPIViewSet):
    serializer_class = serializers.KPIProgressSerializer
    filterset_class = filters.KPIProgressFilter

    def _fiscal_year(self) -> int | None:
        """``fiscal_year`` as the filterset reads it; None if absent, or invalid (the
        filterset then refuses the request before any row is read)."""
        filterset = self.filterset_class(
            self.request.query_params, queryset=KPI.objects.none(), request=self.request
        )
        return filterset.form.cleaned_data.get("fiscal_year") if filterset.is_valid() else None

    def get_queryset(self):
        targets = KPITarget.objects.all()
        actuals = actuals_with_targets(actor_for(self.request))
        fiscal_year = self._fiscal_year()
        if fiscal_year is not None:
            targets = targets.filter(fiscal_year=fiscal_year)
            actuals = actuals.filter(evaluation__round__fiscal_year=fiscal_year)
        return (
            super()
            .get_queryset()
            .prefetch_related(None)  # the structure's targets, replaced by the year's
            .prefetch_related(
                Prefetch("targets", queryset=targets),
                Prefetch(
                    "actuals",
                    queryset=actuals.order_by("evaluation__round__fiscal_year"),
                    to_attr="visible_actuals",
                ),
            )
        )
