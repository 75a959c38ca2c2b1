"""The service's URLs plus bare views used as baselines by ``benchmarks/run.py``.

``/bench/bare/initiatives/?plan=<code>&page_size=N&page=P`` returns the same JSON as
``/api/v1/initiatives/?plan=<code>`` for an anonymous caller (pagination envelope, pillar,
policy area, departments with lead flag, KPIs, the ratings of published rounds), built with
``values()`` and ``orjson`` instead of DRF: no serializers, no filter backends, no
throttling, no authentication. It is what the API would cost with a hand-written path.
"""

from collections import defaultdict

import orjson
from django.http import HttpResponse
from django.urls import include, path
from rest_framework.utils.urls import remove_query_param, replace_query_param

from evaluations.models import Evaluation, RoundStatus
from initiatives.fiscal_years import long_label, short_label
from initiatives.models import KPI, Initiative, InitiativeDepartment, Plan

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
    rows = list(
        initiatives[(page - 1) * page_size : page * page_size].values(
            "id",
            "plan_id",
            "number",
            "title",
            "is_major",
            "relists_id",
            "policy_area_id",
            "policy_area__number",
            "policy_area__name",
            "policy_area__pillar_id",
            "policy_area__pillar__order",
            "policy_area__pillar__name",
            "policy_area__pillar__theme",
        )
    )
    ids = [row["id"] for row in rows]
    departments = defaultdict(list)
    for item in (
        InitiativeDepartment.objects.filter(initiative_id__in=ids)
        .order_by("initiative_id", "-is_lead", "department__order")
        .values("initiative_id", "department_id", "department__code", "department__name", "is_lead")
    ):
        departments[item["initiative_id"]].append(
            {
                "id": item["department_id"],
                "code": item["department__code"],
                "name": item["department__name"],
                "is_lead": item["is_lead"],
            }
        )
    kpis = defaultdict(list)
    for item in (
        KPI.objects.filter(initiative_id__in=ids)
        .order_by("initiative_id", "order")
        .values("initiative_id", "id", "order", "name", "unit", "is_cumulative")
    ):
        kpis[item.pop("initiative_id")].append(item)
    ratings = defaultdict(list)
    for item in (
        Evaluation.objects.filter(initiative_id__in=ids, round__status=RoundStatus.PUBLISHED)
        .order_by("initiative_id", "round__fiscal_year")
        .values("initiative_id", "id", "round__fiscal_year", "rating")
    ):
        year = item["round__fiscal_year"]
        ratings[item["initiative_id"]].append(
            {
                "evaluation_id": item["id"],
                "fiscal_year": year,
                "fiscal_year_label": short_label(year),
                "fiscal_year_label_ja": long_label(year),
                "rating": item["rating"],
            }
        )
    results = [
        {
            "id": row["id"],
            "plan": row["plan_id"],
            "number": row["number"],
            "title": row["title"],
            "is_major": row["is_major"],
            "relists": row["relists_id"],
            "pillar": {
                "id": row["policy_area__pillar_id"],
                "order": row["policy_area__pillar__order"],
                "name": row["policy_area__pillar__name"],
                "theme": row["policy_area__pillar__theme"],
            },
            "policy_area": {
                "id": row["policy_area_id"],
                "number": row["policy_area__number"],
                "name": row["policy_area__name"],
            },
            "departments": departments[row["id"]],
            "kpis": kpis[row["id"]],
            "ratings": ratings[row["id"]],
        }
        for row in rows
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
