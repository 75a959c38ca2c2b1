"""Routes of the plan's structure, under ``/api/v1/``. The initiatives and KPIs are served
with their yearly progress by ``evaluations.api.urls`` (this app may not read evaluations)."""

from rest_framework.routers import SimpleRouter

from initiatives.api import views

router = SimpleRouter()
router.register("plans", views.PlanViewSet, basename="plan")
router.register("departments", views.DepartmentViewSet, basename="department")
router.register("pillars", views.PillarViewSet, basename="pillar")
router.register("policy-areas", views.PolicyAreaViewSet, basename="policy-area")
router.register("kpi-targets", views.KPITargetViewSet, basename="kpi-target")

urlpatterns = router.urls
