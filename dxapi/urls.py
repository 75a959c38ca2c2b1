from django.contrib import admin
from django.urls import include, path

from dxapi import health
from dxapi.schema_view import CachedSchemaView, RedocView, SwaggerView

# Each app owns its routes; the project puts them under /api/v1/.
api_v1 = [
    path("", include("initiatives.api.urls")),
    path("", include("evaluations.api.urls")),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("health/live", health.live, name="health-live"),
    path("health/ready", health.ready, name="health-ready"),
    path("api/v1/", include(api_v1)),
    # The schema from a per-process cache; its viewers from this service's static files.
    path("api/schema/", CachedSchemaView.as_view(), name="schema"),
    path("api/docs/", SwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc/", RedocView.as_view(url_name="schema"), name="redoc"),
]

handler404 = "dxapi.errors.not_found"
handler500 = "dxapi.errors.server_error"
