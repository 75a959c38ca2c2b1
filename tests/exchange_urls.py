"""The project's routes plus the exchange routes under /api/v1/ (until they are wired)."""

from django.urls import include, path

from dxapi.urls import urlpatterns as project_urlpatterns

urlpatterns = [
    *project_urlpatterns,
    path("api/v1/", include("evaluations.exchange.urls")),
]
