"""The service's URLs plus bare views used as baselines by ``benchmarks/run.py``.

``/bench/bare/initiatives/?plan=<code>&page_size=N&page=P`` returns the same JSON as
``/api/v1/initiatives/?plan=<code>`` for an anonymous caller (pagination envelope, pillar,
policy area, departments with lead flag, KPIs, the ratings of published rounds), built from
the same ``values()`` rows (``initiatives.selectors``) and the same dict
(``initiative_representation``) with ``orjson`` instead of DRF: no serializers, no filter
backends, no throttling, no authentication, no visibility rules beyond "published". It is
what the API would cost with a hand-written path.
"""

from collections import defaultdict

import orjson
from django.http import HttpResponse
from django.urls import include, path
from rest_framework.utils.urls import remove_query_param, replace_query_param

from evaluations.models import Evaluation, RoundStatus
from initiatives.api.serializers import initiative_representation
from initiatives.fiscal_years import year_fields
from initiatives.models import Initiative, Plan
from initiatives.selectors import INITIATIVE_COLUMNS, initiative_rows

MAX_PAGE_SIZE = 200


def bare_initiatives(request):
    code = request.GET.get("plan", "")
    plan_id = Plan.objects.filter(code=code).values_list("id", flat=True).first()
    if plan_id is None:
        return HttpResponse(b'{"detail":"not found"}', status=404, content_type="application/json")
    page_size = min(int(request.GET.get("page_size", 50)), MAX_PAGE_SIZE)
    page = int(request.GET.get("page", 1))
    initiatives = Initiative.objects.filter(plan_id=plan_id).order_by("plan_id", "number")
    count = initiatives.count()
    rows = list(initiatives[(page - 1) * page_size : page * page_size].values(*INITIATIVE_COLUMNS))
    ratings = defaultdict(list)
    for initiative_id, evaluation_id, year, rating in (
        Evaluation.objects.filter(
            initiative_id__in=[row["id"] for row in rows], round__status=RoundStatus.PUBLISHED
        )
        .order_by("initiative_id", "round__fiscal_year")
        .values_list("initiative_id", "id", "round__fiscal_year", "rating")
    ):
        ratings[initiative_id].append(
            {"evaluation_id": evaluation_id, **year_fields(year), "rating": rating}
        )
    results = [
        {**initiative_representation(item), "ratings": ratings[item.pk]}
        for item in initiative_rows(rows)
    ]
    url = request.build_absolute_uri()
    next_url = replace_query_param(url, "page", page + 1) if page * page_size < count else None
    if page == 2:
        previous_url = remove_query_param(url, "page")
    elif page > 2:
        previous_url = replace_query_param(url, "page", page - 1)
    else:
        previous_url = None
    body = {"count": count, "next": next_url, "previous": previous_url, "results": results}
    return HttpResponse(orjson.dumps(body), content_type="application/json")


urlpatterns = [
    path("bench/bare/initiatives/", bare_initiatives, name="bench-bare-initiatives"),
    path("", include("dxapi.urls")),
]
