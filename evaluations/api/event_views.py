"""The event feed: ``GET /api/v1/events/?after=<id>&limit=…`` lists the events of the yearly
cycle (``evaluations.events``) in the order they happened, from after the cursor ``after``
(an event id; 0 or absent: from the start). ``next`` is the cursor of the next call: keep it
and ask again later to get only what happened since. Nothing is skipped: the feed shows
events at least ``EVENT_FEED_DELAY_SECONDS`` old, so that a transaction that took its event
id first but committed last is seen before the reader moves past it.

A caller sees the events of what it may see (``policy.events_visible_to``): an evaluation's
and a KPI actual's events when it may see the evaluation, a round's when it may see the
round; the public sees the events of published rounds only. The review comment of a return
or a reopening is for the plan's secretariat and the initiative's departments."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from dxapi.filters import MAX_ID
from dxapi.pagination import MAX_PAGE_SIZE
from dxapi.strict import StrictQueryMixin
from evaluations import events as outbox
from evaluations.api.aggregate_views import PlanParamField
from evaluations.models import Event, EventKind
from evaluations.policy import evaluations_insider_ids, events_visible_to
from initiatives.access import actor_for
from initiatives.api.permissions import ReadAnyoneWriteAuthenticated


class EventFeedQuery(serializers.Serializer):
    after = serializers.IntegerField(
        min_value=0,
        max_value=MAX_ID,
        required=False,
        default=0,
        help_text="The cursor: the id of the last event already read (`next` of the last "
        "answer); 0 or absent to start from the first event.",
    )
    limit = serializers.IntegerField(
        min_value=1,
        max_value=MAX_PAGE_SIZE,
        required=False,
        default=50,
        help_text=f"At most this many events (1–{MAX_PAGE_SIZE}).",
    )
    plan = PlanParamField(required=False, help_text="Plan id or code.")
    kind = serializers.ChoiceField(choices=EventKind.choices, required=False)


class EventSerializer(serializers.ModelSerializer):
    data = serializers.JSONField(source="payload", help_text="What happened (see the kinds).")

    class Meta:
        model = Event
        fields = ["id", "kind", "plan", "round", "evaluation", "kpi", "created_at", "data"]
        read_only_fields = fields


@extend_schema_serializer(many=False)  # one page object, though the action is a list
class EventFeedSerializer(serializers.Serializer):
    results = EventSerializer(many=True)
    next = serializers.IntegerField(
        help_text="The cursor of the next call (`after`): the last event's id, or the cursor "
        "given when there was none."
    )
    has_more = serializers.BooleanField(help_text="More events are there already.")


DESCRIPTION = (
    "Events of the yearly cycle, oldest first, after the cursor `after` (an event id): "
    "round.opened, round.closed, round.reopened, round.published; evaluation.updated, "
    "evaluation.submitted, evaluation.returned, evaluation.approved, evaluation.reopened; "
    "kpi_actual.changed. Keep `next` and call again with `after=next` to read only what "
    "happened since. A caller sees the events of what it may see: the public those of "
    "published rounds; department members their departments' evaluations and their plan's "
    "rounds; the secretariat all of its plan. Events appear a few seconds after they happen."
)


class EventViewSet(StrictQueryMixin, viewsets.GenericViewSet):
    permission_classes = [ReadAnyoneWriteAuthenticated]
    serializer_class = EventSerializer
    query_serializer = EventFeedQuery
    filter_backends: list = []
    pagination_class = None

    def get_queryset(self):
        return events_visible_to(actor_for(self.request))

    @extend_schema(
        summary="Read the event feed",
        description=DESCRIPTION,
        parameters=[EventFeedQuery],
        responses=EventFeedSerializer,
    )
    def list(self, request: Request) -> Response:
        query = EventFeedQuery(data=request.query_params.dict(), context={"request": request})
        query.is_valid(raise_exception=True)
        params = query.validated_data
        events = self.get_queryset().filter(pk__gt=params["after"])
        delay = settings.EVENT_FEED_DELAY_SECONDS
        if delay > 0:
            events = events.filter(created_at__lte=timezone.now() - timedelta(seconds=delay))
        if "plan" in params:
            events = events.filter(plan=params["plan"])
        if "kind" in params:
            events = events.filter(kind=params["kind"])
        limit = params["limit"]
        page = list(events.order_by("pk")[: limit + 1])
        has_more = len(page) > limit
        page = page[:limit]
        insiders = evaluations_insider_ids(
            actor_for(request), {event.evaluation_id for event in page if event.evaluation_id}
        )
        for event in page:
            if event.evaluation_id is not None and event.evaluation_id not in insiders:
                event.payload = outbox.public_payload(event.payload)
        body = {
            "results": EventSerializer(page, many=True).data,
            "next": page[-1].pk if page else params["after"],
            "has_more": has_more,
        }
        return Response(body)
