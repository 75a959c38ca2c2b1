"""A minimal peer of dxapi's public reads: Starlette + asyncpg, the SQL run on every request.

It answers the same JSON as dxapi does for an anonymous caller (published rounds only):

- ``GET /health/live``
- ``GET /api/v1/aggregates/ratings/?plan=<code>&fiscal_year=<year>[&group_by=department]``
- ``GET /api/v1/initiatives/?plan=<code>[&page_size=N][&page=P]``

No authentication, no throttling, no validation beyond what the three reads need, no cache:
what a hand-written service of the same data costs per request. ``benchmarks/
publication_day.py`` runs it next to dxapi (``benchmarks/peer/compare.py`` proves the JSON).

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/h_proxy_bench \\
        .venv/bin/uvicorn benchmarks.peer.app:app --workers 3 --port 8002
"""

import contextlib
import os
from collections.abc import AsyncIterator
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from urllib.parse import urlencode

import asyncpg
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

DATABASE_URL = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
POOL_SIZE = int(os.environ.get("PEER_POOL_SIZE", "8"))
MAX_PAGE_SIZE = 200
UNASSIGNED = "（未割当）"
ONE_DECIMAL = Decimal("0.1")

COUNTS = """
    count(*) FILTER (WHERE e.rating = 'A') AS a,
    count(*) FILTER (WHERE e.rating = 'B') AS b,
    count(*) FILTER (WHERE e.rating = 'C') AS c,
    count(*) FILTER (WHERE e.rating = '-') AS not_evaluated,
    count(*) FILTER (WHERE e.rating IS NULL) AS unrated,
    count(*) AS total
"""
PUBLISHED_IN_YEAR = """
    FROM evaluations_evaluation e
    JOIN evaluations_round r ON r.id = e.round_id
    WHERE r.plan_id = $1 AND r.fiscal_year = $2 AND r.status = 'published'
"""
OVERALL_SQL = f"SELECT {COUNTS} {PUBLISHED_IN_YEAR}"
BY_DEPARTMENT_SQL = f"""
    SELECT d.id AS group_id, coalesce(d.code, '') AS group_code,
           coalesce(d.name, '{UNASSIGNED}') AS group_name, {COUNTS}
    FROM evaluations_evaluation e
    JOIN evaluations_round r ON r.id = e.round_id
    LEFT JOIN initiatives_initiativedepartment idp ON idp.initiative_id = e.initiative_id
    LEFT JOIN initiatives_department d ON d.id = idp.department_id
    WHERE r.plan_id = $1 AND r.fiscal_year = $2 AND r.status = 'published'
    GROUP BY d.id, coalesce(d.code, ''), coalesce(d.name, '{UNASSIGNED}'),
             coalesce(d."order", 32768)
    ORDER BY coalesce(d."order", 32768), d.id
"""
INITIATIVES_SQL = """
    SELECT i.id, i.plan_id, i.number, i.title, i.is_major, i.relists_id,
           i.policy_area_id, pa.number AS pa_number, pa.name AS pa_name,
           pa.pillar_id, p."order" AS pillar_order, p.name AS pillar_name,
           p.theme AS pillar_theme
    FROM initiatives_initiative i
    LEFT JOIN initiatives_policyarea pa ON pa.id = i.policy_area_id
    LEFT JOIN initiatives_pillar p ON p.id = pa.pillar_id
    WHERE i.plan_id = $1
    ORDER BY i.plan_id, i.number
    LIMIT $2 OFFSET $3
"""
DEPARTMENTS_SQL = """
    SELECT idp.initiative_id, idp.department_id, d.code, d.name, idp.is_lead
    FROM initiatives_initiativedepartment idp
    JOIN initiatives_department d ON d.id = idp.department_id
    WHERE idp.initiative_id = ANY($1::bigint[])
    ORDER BY idp.initiative_id, idp.is_lead DESC, d."order"
"""
KPIS_SQL = """
    SELECT initiative_id, id, "order", name, unit, is_cumulative
    FROM initiatives_kpi WHERE initiative_id = ANY($1::bigint[])
    ORDER BY initiative_id, "order"
"""
RATINGS_SQL = """
    SELECT e.initiative_id, e.id, r.fiscal_year, e.rating
    FROM evaluations_evaluation e
    JOIN evaluations_round r ON r.id = e.round_id
    WHERE e.initiative_id = ANY($1::bigint[]) AND r.plan_id = $2 AND r.status = 'published'
    ORDER BY r.fiscal_year
"""


def short_label(year: int) -> str:
    return f"R{year - 2018}" if year >= 2019 else f"H{year - 1988}"


def long_label(year: int) -> str:
    if year >= 2019:
        number = year - 2018
        return f"令和{'元' if number == 1 else number}年度"
    number = year - 1988
    return f"平成{'元' if number == 1 else number}年度"


def year_fields(year: int) -> dict[str, Any]:
    return {
        "fiscal_year": year,
        "fiscal_year_label": short_label(year),
        "fiscal_year_label_ja": long_label(year),
    }


def percentage(part: int, whole: int) -> float | None:
    if not whole:
        return None
    return float((Decimal(part) * 100 / whole).quantize(ONE_DECIMAL, ROUND_HALF_UP))


def with_shares(row: asyncpg.Record) -> dict[str, Any]:
    counts = {key: row[key] for key in ("a", "b", "c", "not_evaluated", "unrated", "total")}
    rated = counts["a"] + counts["b"] + counts["c"]
    a_and_b = counts["a"] + counts["b"]
    return {
        **counts,
        "rated": rated,
        "a_and_b": a_and_b,
        "a_percentage": percentage(counts["a"], rated),
        "b_percentage": percentage(counts["b"], rated),
        "c_percentage": percentage(counts["c"], rated),
        "a_and_b_percentage": percentage(a_and_b, rated),
    }


def json_response(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def not_found() -> Response:
    return json_response({"detail": "Not found."}, 404)


async def plan_of(connection: asyncpg.Connection, code: str) -> asyncpg.Record | None:
    return await connection.fetchrow(
        "SELECT id, code, name FROM initiatives_plan WHERE code = $1", code
    )


async def live(request: Request) -> Response:
    return json_response({"status": "ok"})


async def ratings(request: Request) -> Response:
    params = request.query_params
    try:
        year = int(params.get("fiscal_year", ""))
    except ValueError:
        return json_response({"detail": "fiscal_year: a year such as 2024."}, 400)
    group_by = params.get("group_by") or None
    if group_by not in (None, "department"):
        return json_response({"detail": "group_by: department only."}, 400)
    async with request.app.state.pool.acquire() as connection:
        plan = await plan_of(connection, params.get("plan", ""))
        if plan is None:
            return not_found()
        overall = await connection.fetchrow(OVERALL_SQL, plan["id"], year)
        groups = []
        if group_by:
            for row in await connection.fetch(BY_DEPARTMENT_SQL, plan["id"], year):
                group = {"id": row["group_id"], "name": row["group_name"]}
                group["code"] = row["group_code"]
                groups.append({**with_shares(row), "group": group})
    return json_response(
        {
            "plan": {"id": plan["id"], "code": plan["code"], "name": plan["name"]},
            **year_fields(year),
            "group_by": group_by,
            "overall": with_shares(overall),
            "groups": groups,
        }
    )


def page_link(request: Request, page: int | None) -> str | None:
    """The link DRF's page-number pagination writes (query parameters sorted)."""
    if page is None:
        return None
    query = dict(request.query_params)
    if page == 1:
        query.pop("page", None)
    else:
        query["page"] = str(page)
    base = f"{request.url.scheme}://{request.url.netloc}{request.url.path}"
    return f"{base}?{urlencode(sorted(query.items()))}" if query else base


async def initiatives(request: Request) -> Response:
    params = request.query_params
    try:
        size = min(int(params.get("page_size", 50)), MAX_PAGE_SIZE)
        page = int(params.get("page", 1))
    except ValueError:
        return json_response({"detail": "page and page_size are numbers."}, 400)
    if size < 1 or page < 1:
        return not_found()
    async with request.app.state.pool.acquire() as connection:
        plan = await plan_of(connection, params.get("plan", ""))
        if plan is None:
            return not_found()
        count = await connection.fetchval(
            "SELECT count(*) FROM initiatives_initiative WHERE plan_id = $1", plan["id"]
        )
        rows = await connection.fetch(INITIATIVES_SQL, plan["id"], size, (page - 1) * size)
        if not rows and page > 1:
            return not_found()
        ids = [row["id"] for row in rows]
        departments: dict[int, list] = {key: [] for key in ids}
        for item in await connection.fetch(DEPARTMENTS_SQL, ids):
            departments[item["initiative_id"]].append(
                {
                    "id": item["department_id"],
                    "code": item["code"],
                    "name": item["name"],
                    "is_lead": item["is_lead"],
                }
            )
        kpis: dict[int, list] = {key: [] for key in ids}
        for item in await connection.fetch(KPIS_SQL, ids):
            kpis[item["initiative_id"]].append(
                {
                    "id": item["id"],
                    "order": item["order"],
                    "name": item["name"],
                    "unit": item["unit"],
                    "is_cumulative": item["is_cumulative"],
                }
            )
        ratings_of: dict[int, list] = {key: [] for key in ids}
        for item in await connection.fetch(RATINGS_SQL, ids, plan["id"]):
            ratings_of[item["initiative_id"]].append(
                {
                    "evaluation_id": item["id"],
                    **year_fields(item["fiscal_year"]),
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
                "id": row["pillar_id"],
                "order": row["pillar_order"],
                "name": row["pillar_name"],
                "theme": row["pillar_theme"],
            },
            "policy_area": {
                "id": row["policy_area_id"],
                "number": row["pa_number"],
                "name": row["pa_name"],
            },
            "departments": departments[row["id"]],
            "kpis": kpis[row["id"]],
            "ratings": ratings_of[row["id"]],
        }
        for row in rows
    ]
    return json_response(
        {
            "count": count,
            "next": page_link(request, page + 1 if page * size < count else None),
            "previous": page_link(request, page - 1 if page > 1 else None),
            "results": results,
        }
    )


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    app.state.pool = await asyncpg.create_pool(DATABASE_URL, min_size=1, max_size=POOL_SIZE)
    try:
        yield
    finally:
        await app.state.pool.close()


app = Starlette(
    routes=[
        Route("/health/live", live),
        Route("/api/v1/aggregates/ratings/", ratings),
        Route("/api/v1/initiatives/", initiatives),
    ],
    lifespan=lifespan,
)
