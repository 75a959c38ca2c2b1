"""HTTP caching: ETags and conditional GET on every read, Cache-Control by who reads, Vary,
data versions that change with every write a public read shows, and the public's rendered
bytes served again without the database."""

import contextlib
from collections.abc import Callable

import pytest
from django.core.cache import cache
from django.db import connection
from django.http import HttpResponse, StreamingHttpResponse
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from dxapi.http_cache import HttpCacheMiddleware
from evaluations import aggregate_cache
from evaluations.models import Evaluation, KPIActual, Round, RoundStatus
from initiatives.models import (
    KPI,
    Department,
    InitiativeDepartment,
    KPITarget,
    Plan,
)
from tests.conftest import evaluation, initiative
from tests.helpers import TEST_REDIS_URL, redis_available

RATINGS = "/api/v1/aggregates/ratings/?plan=akita-dx&fiscal_year=R6"
GROUPED = "/api/v1/aggregates/ratings/?plan=akita-dx&fiscal_year=R6&group_by=pillar"
TRANSITIONS = "/api/v1/aggregates/transitions/?plan=akita-dx&to_year=R6"
TREND = "/api/v1/aggregates/trend/?plan=akita-dx"
REPORT = "/api/v1/reports/yearly/?plan=akita-dx&fiscal_year=R6"
INITIATIVES = "/api/v1/initiatives/?plan=akita-dx&page_size=5"
ALL_INITIATIVES = "/api/v1/initiatives/?page_size=5"
EVALUATIONS = "/api/v1/evaluations/?plan=akita-dx&fiscal_year=R6&expand=kpi_actuals&page_size=5"
CACHED_READS = [
    RATINGS,
    GROUPED,
    TRANSITIONS,
    TREND,
    REPORT,
    INITIATIVES,
    ALL_INITIATIVES,
    EVALUATIONS,
]
REPORT_FORMATS = ["json", "html", "csv", "xlsx"]
PUBLIC = "public, max-age=10, stale-while-revalidate=30"
PRIVATE = "private, no-cache"


def get(client: APIClient, url: str, **headers: str):
    """The response and the number of database queries it took."""
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, **headers)
    return response, len(captured)


def vary(response) -> set[str]:
    return {item.strip().lower() for item in response.get("Vary", "").split(",") if item.strip()}


def content(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


# --- ETags and conditional GET -----------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/rounds/",
        "/api/v1/plans/",
        "/api/v1/kpis/?plan=akita-dx&page_size=3",
        "/api/v1/",
        *CACHED_READS,
        *(f"{REPORT}&format={name}" for name in REPORT_FORMATS),
        "/health/live",
    ],
)
def test_every_successful_read_has_a_strong_etag_and_answers_if_none_match(api, url) -> None:
    response = api.get(url)
    assert response.status_code == 200
    etag = response["ETag"]
    assert etag.startswith('"') and etag.endswith('"')  # strong, not W/

    again = api.get(url, HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304
    assert again.content == b""
    assert again["ETag"] == etag
    assert again["Cache-Control"] == response["Cache-Control"]
    assert vary(again) == vary(response)

    other = api.get(url, HTTP_IF_NONE_MATCH='"something-else", W/"older"')
    assert other.status_code == 200
    assert other.content == response.content


def test_a_weak_if_none_match_and_a_star_match_too(api) -> None:
    etag = api.get(RATINGS)["ETag"]
    assert api.get(RATINGS, HTTP_IF_NONE_MATCH=f'"x", W/{etag}').status_code == 304
    assert api.get(RATINGS, HTTP_IF_NONE_MATCH="*").status_code == 304


def test_record_etags_are_kept(api) -> None:
    record = evaluation(1, 2024)
    response = api.get(reverse("evaluation-detail", args=[record.pk]))
    assert response["ETag"] == f'"evaluation-{record.pk}-v{record.version}"'
    again = api.get(
        reverse("evaluation-detail", args=[record.pk]), HTTP_IF_NONE_MATCH=response["ETag"]
    )
    assert again.status_code == 304


def test_a_head_request_has_the_etag_of_the_get(api) -> None:
    etag = api.get(RATINGS)["ETag"]
    head = api.head(RATINGS)
    assert head.status_code == 200
    assert head["ETag"] == etag


def test_the_report_formats_have_their_own_etags(api) -> None:
    etags = {api.get(f"{REPORT}&format={name}")["ETag"] for name in REPORT_FORMATS}
    assert len(etags) == len(REPORT_FORMATS)


def test_streamed_responses_get_no_etag() -> None:
    streamed = StreamingHttpResponse(iter([b"a", b"b"]))
    response = HttpCacheMiddleware(lambda request: streamed)(RequestFactory().get("/x"))
    assert "ETag" not in response
    assert content(response) == b"ab"


def test_a_streamed_export_is_not_broken(api) -> None:
    response = api.get("/api/v1/exports/plans/akita-dx/document/")
    assert response.status_code == 200
    assert response.streaming and "ETag" not in response
    assert content(response).startswith(b"{")
    assert response["Cache-Control"] == PUBLIC


# --- Cache-Control and Vary ----------------------------------------------------------------


@pytest.mark.parametrize("url", [*CACHED_READS, "/api/v1/rounds/", f"{REPORT}&format=csv"])
def test_anonymous_reads_may_be_stored_by_shared_caches(api, url) -> None:
    response = api.get(url)
    assert response["Cache-Control"] == PUBLIC
    assert {"authorization", "cookie", "accept", "accept-language"} <= vary(response)


def test_the_public_lifetimes_come_from_the_settings(api, settings) -> None:
    settings.PUBLIC_CACHE_MAX_AGE = 60
    settings.PUBLIC_CACHE_STALE_WHILE_REVALIDATE = 120
    assert api.get(RATINGS)["Cache-Control"] == "public, max-age=60, stale-while-revalidate=120"


@pytest.mark.parametrize("url", [RATINGS, REPORT, INITIATIVES, "/api/v1/rounds/"])
def test_reads_by_a_user_or_a_key_are_private(
    url, viewer, secretariat, staff_api, key_clients
) -> None:
    for client in (viewer, secretariat, staff_api, key_clients["read_key"]):
        response = client.get(url)
        assert response.status_code == 200
        assert response["Cache-Control"] == PRIVATE
        assert "ETag" in response
        assert {"authorization", "cookie", "accept", "accept-language"} <= vary(response)


def test_a_logged_in_session_is_private_and_revalidates(staff_api) -> None:
    response = staff_api.get(RATINGS)
    assert response["Cache-Control"] == PRIVATE
    assert staff_api.get(RATINGS, HTTP_IF_NONE_MATCH=response["ETag"]).status_code == 304


@pytest.mark.parametrize(
    "url",
    [
        "/health/live",
        "/health/ready",
        "/admin/login/",
        "/api/v1/initiatives/1/history/",
        "/api/v1/initiatives/999999/",
        "/api/v1/aggregates/ratings/?plan=akita-dx&fiscal_year=nonsense",
        "/api/v1/reports/yearly/?plan=akita-dx&fiscal_year=R9",
    ],
)
def test_what_must_never_be_stored(api, url) -> None:
    response = api.get(url)
    assert response["Cache-Control"] == "no-store"


def test_the_admin_is_no_store_for_staff_too(staff_api) -> None:
    response = staff_api.get("/admin/")
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"


def test_a_response_that_sets_a_cookie_is_no_store() -> None:
    def view(request):
        response = HttpResponse(b"hello")
        response.set_cookie("flavour", "plain")
        return response

    response = HttpCacheMiddleware(view)(RequestFactory().get("/api/v1/anything"))
    assert response["Cache-Control"] == "no-store"
    assert "ETag" in response


def test_writes_are_no_store(secretariat) -> None:
    response = secretariat.patch(
        reverse("plan-detail", args=[Plan.objects.get(code="akita-dx").pk]), {}, format="json"
    )
    assert response["Cache-Control"] == "no-store"


def test_vary_is_merged_with_cors(api, settings) -> None:
    settings.CORS_ALLOWED_ORIGINS = ["https://front.example"]
    response = api.get(RATINGS, HTTP_ORIGIN="https://front.example")
    assert response["Access-Control-Allow-Origin"] == "https://front.example"
    assert {"origin", "authorization", "cookie", "accept", "accept-language"} <= vary(response)
    again = api.get(RATINGS, HTTP_ORIGIN="https://front.example")  # from the stored bytes
    assert {"origin", "authorization", "cookie", "accept", "accept-language"} <= vary(again)


# --- New data, new ETags --------------------------------------------------------------------


def round_action(client: APIClient, round_: Round, name: str, **data) -> None:
    response = client.post(reverse(f"round-{name}", args=[round_.pk]), data or None, format="json")
    assert response.status_code == 200, response.json()


def test_reopening_and_republishing_give_new_etags_even_for_equal_bytes(api, secretariat) -> None:
    r6 = Round.objects.get(plan__code="akita-dx", fiscal_year=2024)
    published = api.get(RATINGS)

    round_action(secretariat, r6, "reopen", reason="訂正")
    reopened = api.get(RATINGS)
    assert reopened.json()["overall"]["total"] == 0
    assert reopened["ETag"] != published["ETag"]
    assert api.get(RATINGS, HTTP_IF_NONE_MATCH=published["ETag"]).status_code == 200

    round_action(secretariat, r6, "close")
    round_action(secretariat, r6, "publish")
    republished = api.get(RATINGS)
    assert republished.content == published.content
    assert republished["ETag"] not in (published["ETag"], reopened["ETag"])
    assert api.get(RATINGS, HTTP_IF_NONE_MATCH=published["ETag"]).status_code == 200


def _kpi() -> KPI:
    return KPI.objects.get(initiative=initiative(1), order=1)


def _rename(name_field: str, lookup: Callable[[], object], value: str):
    def change() -> str:
        record = lookup()
        setattr(record, name_field, value)
        record.save()
        return value

    return change


def _target() -> str:
    target = KPITarget.objects.get(kpi=_kpi(), fiscal_year=2024)
    target.value = 95
    target.save()
    return '"target_value":"95"'


def _actual() -> str:
    actual = KPIActual.objects.get(kpi=_kpi(), evaluation=evaluation(1, 2024))
    actual.value = 81.5
    actual.save()
    return '"actual_value":"81.5"'


def _rating() -> str:
    record = evaluation(1, 2024)
    record.rating = "A"
    record.save()
    return '"a":19'


def _round() -> str:
    Round.objects.filter(plan__code="akita-dx", fiscal_year=2024).update(status=RoundStatus.CLOSED)
    round_ = Round.objects.get(plan__code="akita-dx", fiscal_year=2024)
    round_.save()  # the signal: a queryset update alone does not send it
    return "NOT FOUND"


def _lead() -> str:
    responsibility = InitiativeDepartment.objects.get(initiative=initiative(1), is_lead=True)
    responsibility.delete()
    return "DEPARTMENT GONE"


WRITES = {
    "plan": _rename("name", lambda: Plan.objects.get(code="akita-dx"), "改名後の計画"),
    "department": _rename(
        "name",
        lambda: Department.objects.get(plan__code="akita-dx", code="kikaku-shinko"),
        "新しい部",
    ),
    "pillar": _rename("name", lambda: initiative(1).policy_area.pillar, "新しい柱"),
    "policy_area": _rename("name", lambda: initiative(1).policy_area, "新しい分野"),
    "initiative": _rename("title", lambda: initiative(1), "新しい施策名"),
    "kpi": _rename("name", _kpi, "新しい指標"),
    "kpi_target": _target,
    "kpi_actual": _actual,
    "evaluation": _rating,
    "round": _round,
    "initiative_department": _lead,
}


@pytest.mark.parametrize("write", WRITES.values(), ids=WRITES.keys())
def test_no_stale_bytes_after_a_write(api, write) -> None:
    urls = [REPORT, f"{REPORT}&format=csv", RATINGS, INITIATIVES, ALL_INITIATIVES, EVALUATIONS]
    before = {url: api.get(url) for url in urls}
    assert all(get(api, url)[1] == 0 for url in urls)  # served from the stored bytes

    expected = write()

    after = {url: api.get(url) for url in urls}
    for url in urls:
        assert after[url].get("ETag") != before[url]["ETag"], url
    report = after[REPORT]
    if expected == "NOT FOUND":
        assert report.status_code == 404
    elif expected == "DEPARTMENT GONE":
        assert (
            report.json()["details"][0]["departments"]
            != before[REPORT].json()["details"][0]["departments"]
        )
    else:
        assert expected in report.content.decode()
        assert expected not in before[REPORT].content.decode()


def test_a_vanished_version_restarts_from_a_new_value(api, plan) -> None:
    first = api.get(RATINGS)["ETag"]
    versions = {aggregate_cache.current(plan.pk).generation}
    cache.clear()  # a Redis flush: the data is unchanged, the version is gone
    second = api.get(RATINGS)
    versions.add(aggregate_cache.current(plan.pk).generation)
    assert len(versions) == 2
    assert second["ETag"] != first
    assert api.get(RATINGS, HTTP_IF_NONE_MATCH=first).status_code == 200


def test_invalidation_replaces_the_plan_and_the_global_version(plan) -> None:
    before = (aggregate_cache.current(plan.pk), aggregate_cache.current(None))
    aggregate_cache.invalidate(plan.pk)
    after = (aggregate_cache.current(plan.pk), aggregate_cache.current(None))
    assert before[0].generation != after[0].generation
    assert before[1].generation != after[1].generation


# --- The public's stored bytes ---------------------------------------------------------------


@pytest.mark.parametrize(
    "url", [*CACHED_READS, *(f"{REPORT}&format={name}" for name in REPORT_FORMATS)]
)
def test_a_hit_serves_the_bytes_of_the_full_path_without_the_database(api, url) -> None:
    full, full_queries = get(api, url)
    hit, hit_queries = get(api, url)

    assert full.status_code == hit.status_code == 200
    assert full_queries > 0
    assert hit_queries == 0
    assert hit.content == full.content
    for header in ("ETag", "Content-Type", "Content-Disposition", "Cache-Control", "Allow"):
        assert hit.get(header) == full.get(header), header
    assert vary(hit) == vary(full)


def test_a_hit_answers_if_none_match_without_the_database(api) -> None:
    etag = api.get(REPORT)["ETag"]
    response, queries = get(api, REPORT, HTTP_IF_NONE_MATCH=etag)
    assert response.status_code == 304
    assert queries == 0


def test_the_query_is_normalised(api) -> None:
    api.get("/api/v1/aggregates/ratings/?plan=akita-dx&fiscal_year=R6")
    response, queries = get(api, "/api/v1/aggregates/ratings/?fiscal_year=R6&plan=akita-dx")
    assert response.status_code == 200
    assert queries == 0


def test_the_last_of_a_repeated_parameter_still_decides(api) -> None:
    first = api.get("/api/v1/aggregates/ratings/?plan=akita-dx&fiscal_year=R5&fiscal_year=R6")
    second = api.get("/api/v1/aggregates/ratings/?plan=akita-dx&fiscal_year=R6&fiscal_year=R5")
    assert first.json()["fiscal_year"] == 2024
    assert second.json()["fiscal_year"] == 2023


def test_invalid_requests_are_never_served_from_the_cache(api) -> None:
    url = "/api/v1/aggregates/ratings/?plan=akita-dx&fiscal_year=R6&unknown=1"
    assert api.get(url).status_code == 400
    response = api.get(url)
    assert response.status_code == 400
    assert "ETag" not in response


def test_the_hit_path_still_throttles(api, settings) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"anon": "3/minute", "user": "100/minute", "api_key": "1/s"},
    }
    assert get(api, RATINGS)[0].status_code == 200  # the full path: 1
    for _ in range(2):  # stored bytes: 2, 3
        response, queries = get(api, RATINGS)
        assert (response.status_code, queries) == (200, 0)
    refused = api.get(RATINGS)
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) >= 1
    assert refused["Cache-Control"] == "no-store"
    assert refused.json()["errors"][0]["code"] == "throttled"


def test_each_language_has_its_own_entry(api) -> None:
    japanese = api.get(f"{REPORT}&format=html", HTTP_ACCEPT_LANGUAGE="ja")
    english, queries = get(api, f"{REPORT}&format=html", HTTP_ACCEPT_LANGUAGE="en")
    assert queries > 0  # not the Japanese bytes
    assert japanese["Content-Language"] == "ja"
    assert english["Content-Language"] == "en"
    again, queries = get(api, f"{REPORT}&format=html", HTTP_ACCEPT_LANGUAGE="en")
    assert queries == 0
    assert again.content == english.content
    assert again["Content-Language"] == "en"


def test_each_accept_header_has_its_own_entry(api) -> None:
    api.get(REPORT, HTTP_ACCEPT="application/json")
    csv, queries = get(api, REPORT, HTTP_ACCEPT="text/csv")
    assert queries > 0
    assert csv["Content-Type"].startswith("text/csv")


def test_callers_with_credentials_never_get_the_public_bytes(api, secretariat, r7) -> None:
    record = Evaluation.objects.get(round=r7, initiative__number=1)
    record.rating = "A"
    record.save()
    url = "/api/v1/aggregates/ratings/?plan=akita-dx&fiscal_year=R7"

    assert api.get(url).json()["overall"]["a"] == 0
    assert api.get(url).json()["overall"]["a"] == 0  # stored
    response = secretariat.get(url)
    assert response.json()["overall"]["a"] == 1
    assert response["Cache-Control"] == PRIVATE


def test_an_unpublished_round_never_leaks_into_the_public_bytes(api, secretariat, r7) -> None:
    record = Evaluation.objects.get(round=r7, initiative__number=1)
    record.rating = "A"
    record.save()
    r7_ratings = "/api/v1/aggregates/ratings/?plan=akita-dx&fiscal_year=R7"
    r7_report = "/api/v1/reports/yearly/?plan=akita-dx&fiscal_year=R7"
    # The secretariat reads first: nothing of what it sees is stored for the public.
    assert secretariat.get(r7_ratings).json()["overall"]["a"] == 1
    assert secretariat.get(r7_report).status_code == 200
    assert secretariat.get(INITIATIVES).status_code == 200

    for _ in range(2):
        assert api.get(r7_ratings).json()["overall"]["a"] == 0
        assert api.get(r7_report).status_code == 404
        for item in api.get(INITIATIVES).json()["results"]:
            assert 2025 not in [rating["fiscal_year"] for rating in item["ratings"]]
    assert get(api, r7_report)[1] > 0  # a 404 is never stored


def test_the_list_of_every_plan_follows_any_plans_change(api) -> None:
    api.get(ALL_INITIATIVES)
    assert get(api, ALL_INITIATIVES)[1] == 0
    record = initiative(1)
    record.title = "全計画の一覧にも出る"
    record.save()
    assert "全計画の一覧にも出る" in api.get(ALL_INITIATIVES).content.decode()


def test_a_change_to_another_plan_keeps_this_plans_entries(api, plan) -> None:
    first = api.get(RATINGS)
    aggregate_cache.invalidate(plan.pk + 1000)  # another plan: the global version changes
    for _ in range(2):
        response, queries = get(api, RATINGS)
        assert (response.status_code, queries) == (200, 0)
        assert response["ETag"] == first["ETag"]
    # The list of every plan shows the other plan too: it is computed again.
    api.get(ALL_INITIATIVES)
    aggregate_cache.invalidate(plan.pk + 1000)
    assert get(api, ALL_INITIATIVES)[1] > 0


def test_the_secretariat_aggregate_results_are_still_cached(secretariat) -> None:
    first = get(secretariat, RATINGS)
    second = get(secretariat, RATINGS)
    assert second[0].content == first[0].content
    assert second[1] < first[1]


# --- With Redis: the hit path's one round trip ---------------------------------------------


@pytest.fixture
def redis_cache(settings):
    """The cache on Redis (``TEST_REDIS_URL``: a database the tests may empty)."""
    if not redis_available():
        pytest.skip(f"Redis does not answer at {TEST_REDIS_URL}")
    settings.CACHES = {
        "default": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": TEST_REDIS_URL}
    }
    cache.clear()
    yield cache
    cache.clear()


@pytest.mark.parametrize("url", [RATINGS, TREND, f"{REPORT}&format=csv", ALL_INITIATIVES])
def test_with_redis_a_hit_serves_the_same_bytes_without_the_database(api, redis_cache, url) -> None:
    full, full_queries = get(api, url)
    for _ in range(2):  # through the view's wrapper, then the middleware
        hit, hit_queries = get(api, url)
        assert (hit.status_code, hit_queries) == (200, 0)
        assert hit.content == full.content
        assert hit["ETag"] == full["ETag"]
    assert full_queries > 0


def test_with_redis_the_hit_path_throttles_and_a_miss_counts_once(
    api, redis_cache, settings
) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"anon": "3/minute", "user": "100/minute", "api_key": "1/s"},
    }
    assert api.get(RATINGS).status_code == 200  # a miss: counted once, by the full path
    assert api.get(RATINGS).status_code == 200
    assert api.get(RATINGS).status_code == 200
    refused = api.get(RATINGS)
    assert refused.status_code == 429
    assert refused.json()["errors"][0]["code"] == "throttled"
    client = redis_cache.client.get_client(write=True)
    counters = list(client.scan_iter(match="*throttle*"))
    assert counters and all(0 < client.ttl(name) <= 65 for name in counters)


def test_with_redis_a_flush_gives_new_etags(api, redis_cache) -> None:
    first = api.get(RATINGS)["ETag"]
    assert api.get(RATINGS, HTTP_IF_NONE_MATCH=first).status_code == 304
    redis_cache.clear()
    second = api.get(RATINGS)
    assert second["ETag"] != first
    assert api.get(RATINGS, HTTP_IF_NONE_MATCH=first).status_code == 200


def test_with_redis_a_write_retires_the_stored_bytes(api, redis_cache) -> None:
    assert api.get(RATINGS).json()["overall"]["c"] == 5
    api.get(RATINGS)
    changed = evaluation(30, 2024)
    changed.rating = "B"
    changed.save()
    assert api.get(RATINGS).json()["overall"]["c"] == 4


# --- Read replicas: a fill reads at least what the last invalidation saw -------------------


class FakeReplicas:
    """``dxapi.replicas``' interface, recording what the cache asks of it."""

    def __init__(self) -> None:
        self.position = "0/16B6C50"
        self.entered: list[str | None] = []
        self.queries_inside = 0

    def write_position(self) -> str | None:
        return self.position

    @contextlib.contextmanager
    def reads_at_least(self, position: str | None):
        self.entered.append(position)

        def count(execute, sql, params, many, context):
            self.queries_inside += 1
            return execute(sql, params, many, context)

        with connection.execute_wrapper(count):
            yield


@pytest.fixture
def replicas(monkeypatch) -> FakeReplicas:
    fake = FakeReplicas()
    monkeypatch.setattr(aggregate_cache, "replicas", fake)
    return fake


def test_the_write_position_is_stored_after_commit_and_fills_read_at_least_it(
    api, plan, replicas, monkeypatch
) -> None:
    monkeypatch.setattr(aggregate_cache, "_in_transaction", lambda: False)  # after commit
    aggregate_cache.invalidate(plan.pk)
    assert aggregate_cache.current(plan.pk).position == "0/16B6C50"
    assert aggregate_cache.current(None).position == "0/16B6C50"

    response, queries = get(api, REPORT)
    assert response.status_code == 200
    assert "0/16B6C50" in replicas.entered
    assert replicas.queries_inside == queries > 0  # every read of the fill

    replicas.entered.clear()
    assert get(api, REPORT)[1] == 0
    assert replicas.entered == []  # a hit reads nothing


def test_inside_a_transaction_the_last_known_position_is_kept(plan, replicas, monkeypatch) -> None:
    monkeypatch.setattr(aggregate_cache, "_in_transaction", lambda: False)
    aggregate_cache.invalidate(plan.pk)
    replicas.position = "0/FFFFFFFF"  # not committed yet: not a position to wait for
    monkeypatch.setattr(aggregate_cache, "_in_transaction", lambda: True)
    aggregate_cache.invalidate(plan.pk)
    assert aggregate_cache.current(plan.pk).position == "0/16B6C50"


def test_a_vanished_version_restarts_at_the_current_write_position(plan, replicas) -> None:
    cache.clear()
    assert aggregate_cache.current(plan.pk).position == "0/16B6C50"


def test_the_secretariat_result_cache_fills_read_at_least_the_position(
    secretariat, plan, replicas, monkeypatch
) -> None:
    monkeypatch.setattr(aggregate_cache, "_in_transaction", lambda: False)
    aggregate_cache.invalidate(plan.pk)
    replicas.position = "0/2"
    aggregate_cache.invalidate(plan.pk)
    assert secretariat.get(RATINGS).status_code == 200
    assert replicas.entered and set(replicas.entered) == {"0/2"}
