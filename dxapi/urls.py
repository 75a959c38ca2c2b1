from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from dxapi import health
from evaluations.api import aggregate_views, report_views
from evaluations.api import views as evaluation_views
from initiatives.api import views as structure_views

router = DefaultRouter()
router.register("plans", structure_views.PlanViewSet, basename="plan")
router.register("departments", structure_views.DepartmentViewSet, basename="department")
router.register("pillars", structure_views.PillarViewSet, basename="pillar")
router.register("policy-areas", structure_views.PolicyAreaViewSet, basename="policy-area")
router.register("initiatives", evaluation_views.InitiativeProgressViewSet, basename="initiative")
router.register("kpis", evaluation_views.KPIProgressViewSet, basename="kpi")
router.register("kpi-targets", structure_views.KPITargetViewSet, basename="kpi-target")
router.register("rounds", evaluation_views.RoundViewSet, basename="round")
router.register("evaluations", evaluation_views.EvaluationViewSet, basename="evaluation")
router.register("kpi-actuals", evaluation_views.KPIActualViewSet, basename="kpi-actual")

api_v1 = [
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

urlpatterns = [
    path("admin/", admin.site.urls),
    path("health/live", health.live, name="health-live"),
    path("health/ready", health.ready, name="health-ready"),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
]

handler404 = "dxapi.errors.not_found"
handler500 = "dxapi.errors.server_error"
