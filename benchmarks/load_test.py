"""Read/write load test of dxapi (locust, headless). ``benchmarks/run.py`` runs it:

    LOADTEST_SETUP=benchmarks/results/<stamp>-loadtest-setup.json \
    LOADTEST_OUTPUT=benchmarks/results/<stamp>-locust.json \
    .venv/bin/locust -f benchmarks/load_test.py --headless -u 32 -r 32 -t 60s \
        --host http://127.0.0.1:8765 --only-summary

The setup file (written by ``run.py``) names the generated plans, their published fiscal
years, and the evaluations of a round opened for the test with the API key of each one's
lead department (a department editor). Each simulated user, with no think time:

- reads (anonymous): initiative lists, rating aggregates, trends, the yearly report;
- writes (about 1 in 6 requests): as a department editor, GETs one of its own evaluations
  for the ETag and PATCHes the rating and progress text with ``If-Match``. Users own
  disjoint evaluations, so no write loses a race: any 412 (or other non-2xx) is an error.

At the end a JSON summary (per endpoint and in total: requests, failures, p50/p99, req/s)
goes to ``LOADTEST_OUTPUT``.
"""

import itertools
import json
import os
import random
import threading

from locust import FastHttpUser, events, task

with open(os.environ["LOADTEST_SETUP"], encoding="utf-8") as _setup:
    SETUP = json.load(_setup)
PLANS = SETUP["plans"]
YEARS = SETUP["years"]
EVALUATIONS = SETUP["evaluations"]
_user_numbers = itertools.count()
_lock = threading.Lock()
USERS_HINT = int(os.environ.get("LOADTEST_USERS", "32"))


class ServiceUser(FastHttpUser):
    wait_time = staticmethod(lambda: 0)  # closed loop: as fast as the service answers

    def on_start(self) -> None:
        with _lock:
            number = next(_user_numbers)
        self.own = EVALUATIONS[number::USERS_HINT] or [EVALUATIONS[number % len(EVALUATIONS)]]
        self.etags: dict[int, str] = {}
        self.random = random.Random(number)

    def _plan(self) -> str:
        return self.random.choice(PLANS)

    @task(6)
    def initiative_list(self) -> None:
        self.client.get(
            f"/api/v1/initiatives/?plan={self._plan()}&page_size=50",
            name="GET /initiatives/?plan&page_size=50",
        )

    @task(5)
    def aggregate_ratings(self) -> None:
        year = self.random.choice(YEARS)
        self.client.get(
            f"/api/v1/aggregates/ratings/?plan={self._plan()}&fiscal_year={year}",
            name="GET /aggregates/ratings/",
        )

    @task(2)
    def aggregate_ratings_by_department(self) -> None:
        year = self.random.choice(YEARS)
        self.client.get(
            f"/api/v1/aggregates/ratings/?plan={self._plan()}&fiscal_year={year}"
            "&group_by=department",
            name="GET /aggregates/ratings/?group_by=department",
        )

    @task(1)
    def aggregate_trend(self) -> None:
        self.client.get(
            f"/api/v1/aggregates/trend/?plan={self._plan()}", name="GET /aggregates/trend/"
        )

    @task(2)
    def yearly_report(self) -> None:
        year = self.random.choice(YEARS)
        self.client.get(
            f"/api/v1/reports/yearly/?plan={self._plan()}&fiscal_year={year}",
            name="GET /reports/yearly/",
        )

    @task(3)
    def edit_evaluation(self) -> None:
        evaluation = self.random.choice(self.own)
        headers = {"Authorization": f"Api-Key {evaluation['key']}"}
        path = f"/api/v1/evaluations/{evaluation['id']}/"
        etag = self.etags.get(evaluation["id"])
        if etag is None:
            response = self.client.get(path, headers=headers, name="GET /evaluations/{id}/ (key)")
            etag = response.headers.get("ETag")
        response = self.client.patch(
            path,
            json={"rating": self.random.choice("AB"), "progress_text": "負荷試験で更新"},
            headers={**headers, "If-Match": etag or ""},
            name="PATCH /evaluations/{id}/ (If-Match)",
        )
        self.etags[evaluation["id"]] = response.headers.get("ETag") if response.ok else None


@events.quitting.add_listener
def write_summary(environment, **_kwargs) -> None:
    stats = environment.stats

    def entry(item) -> dict:
        return {
            "requests": item.num_requests,
            "failures": item.num_failures,
            "p50_ms": item.get_response_time_percentile(0.5),
            "p99_ms": item.get_response_time_percentile(0.99),
            "max_ms": item.max_response_time,
            "rps": item.total_rps,
        }

    summary = {
        "users": USERS_HINT,
        "seconds": (
            stats.total.last_request_timestamp - stats.total.start_time
            if stats.total.last_request_timestamp
            else None
        ),
        "total": entry(stats.total),
        "endpoints": {name: entry(item) for (name, _method), item in stats.entries.items()},
        "errors": [
            {"name": e.name, "error": str(e.error), "occurrences": e.occurrences}
            for e in stats.errors.values()
        ],
    }
    output = os.environ.get("LOADTEST_OUTPUT")
    if output:
        with open(output, "w", encoding="utf-8") as handle:
            json.dump(summary, handle, ensure_ascii=False, indent=2)
