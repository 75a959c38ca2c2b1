"""Routes of the yearly cycle under ``/api/v1/``: initiatives and KPIs with their progress,
rounds, evaluations, KPI actuals, aggregates, the report and the progress exchange; and the
API root, which lists the structure's routes (``initiatives.api.urls``) too."""

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from evaluations.api import (
    aggregate_views,
    event_views,
    job_views,
    notification_views,
    opinion_views,
    report_views,
    views,
    webhook_views,
)
from initiatives.api.permissions import ReadAnyoneWriteAuthenticated
from initiatives.api.urls import router as structure_router


class ApiRouter(DefaultRouter):
    """Its root view lists the structure's routes beside its own, to anyone (the routes'
    own permissions decide what each caller may do there)."""

    def get_api_root_view(self, api_urls=None):
        names = {
            prefix: self.routes[0].name.format(basename=basename)
            for prefix, _viewset, basename in [*structure_router.registry, *self.registry]
        }
        return self.APIRootView.as_view(
            api_root_dict=names, permission_classes=[ReadAnyoneWriteAuthenticated]
        )


router = ApiRouter()
router.register("initiatives", views.InitiativeProgressViewSet, basename="initiative")
router.register("kpis", views.KPIProgressViewSet, basename="kpi")
router.register("rounds", views.RoundViewSet, basename="round")
router.register("evaluations", views.EvaluationViewSet, basename="evaluation")
router.register("kpi-actuals", views.KPIActualViewSet, basename="kpi-actual")
router.register("jobs", job_views.JobViewSet, basename="job")
router.register("events", event_views.EventViewSet, basename="event")
router.register("webhooks", webhook_views.WebhookSubscriptionViewSet, basename="webhook")
router.register(
    "webhook-deliveries", webhook_views.WebhookDeliveryViewSet, basename="webhook-delivery"
)
router.register("me", notification_views.MeViewSet, basename="me")
router.register("opinions", opinion_views.OpinionViewSet, basename="opinion")
router.register(
    "opinion-analyses", opinion_views.OpinionAnalysisViewSet, basename="opinion-analysis"
)
router.register("opinion-receipts", opinion_views.OpinionReceiptViewSet, basename="opinion-receipt")

urlpatterns = [
    path("", include(router.urls)),
    path(
        "aggregates/ratings/",
        aggregate_views.RatingCountsView.as_view(),
        name="aggregate-ratings",
    ),
    path(
        "aggregates/transitions/",
        aggregate_views.RatingTransitionsView.as_view(),
        name="aggregate-transitions",
    ),
    path("aggregates/trend/", aggregate_views.RatingTrendView.as_view(), name="aggregate-trend"),
    path("reports/yearly/", report_views.YearlyReportView.as_view(), name="report-yearly"),
    path("", include("evaluations.exchange.urls")),
]
