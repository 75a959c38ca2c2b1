"""Routes of the progress exchange, included under ``/api/v1/``."""

from django.urls import path

from evaluations.api import exchange_views

urlpatterns = [
    path(
        "templates/progress/",
        exchange_views.ProgressTemplateView.as_view(),
        name="progress-template",
    ),
    path("imports/progress/", exchange_views.ProgressImportView.as_view(), name="progress-import"),
    path(
        "exports/plans/<slug:code>/document/",
        exchange_views.PlanDocumentExportView.as_view(),
        name="plan-export-document",
    ),
    path(
        "exports/plans/<slug:code>/tables/<slug:table>/",
        exchange_views.PlanTableExportView.as_view(),
        name="plan-export-table",
    ),
    path(
        "exports/plans/<slug:code>/document/jobs/",
        exchange_views.PlanDocumentExportJobView.as_view(),
        name="plan-export-document-job",
    ),
    path(
        "exports/plans/<slug:code>/tables/<slug:table>/jobs/",
        exchange_views.PlanTableExportJobView.as_view(),
        name="plan-export-table-job",
    ),
]
