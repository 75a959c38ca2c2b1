"""Proves that the peer answers the same JSON as dxapi: fetches each path from both and
compares the parsed bodies (page links compared by their query, as the hosts differ).

    .venv/bin/python benchmarks/peer/compare.py --dxapi 8000 --peer 8002 --plan scale-0150 \\
        --fiscal-year 2024
"""

import argparse
import http.client
import json
import sys
from urllib.parse import urlencode, urlsplit


def paths(plan: str, fiscal_year: int) -> list[str]:
    """The reads both services answer: the ratings (overall and by department) and pages of
    the initiative list (first, second, last)."""
    ratings = {"plan": plan, "fiscal_year": fiscal_year}
    return [
        "/health/live",
        "/api/v1/aggregates/ratings/?" + urlencode(ratings),
        "/api/v1/aggregates/ratings/?" + urlencode({**ratings, "group_by": "department"}),
        "/api/v1/aggregates/ratings/?" + urlencode({**ratings, "fiscal_year": fiscal_year - 1}),
        "/api/v1/initiatives/?" + urlencode({"plan": plan, "page_size": 50}),
        "/api/v1/initiatives/?" + urlencode({"plan": plan, "page_size": 50, "page": 2}),
        "/api/v1/initiatives/?" + urlencode({"plan": plan, "page_size": 30, "page": 4}),
    ]


def fetch(port: int, path: str) -> tuple[int, object]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def normalised(body: object) -> object:
    """Page links as their query only: the two services run on different ports."""
    if isinstance(body, dict):
        return {
            key: (
                urlsplit(value).query
                if key in ("next", "previous") and isinstance(value, str)
                else normalised(value)
            )
            for key, value in body.items()
        }
    if isinstance(body, list):
        return [normalised(item) for item in body]
    return body


def differences(dxapi_port: int, peer_port: int, plan: str, fiscal_year: int) -> list[str]:
    """The paths whose answers differ (status or JSON); empty when the peer is faithful."""
    found = []
    for path in paths(plan, fiscal_year):
        ours, theirs = fetch(dxapi_port, path), fetch(peer_port, path)
        if ours[0] != 200 or theirs[0] != 200:
            found.append(f"{path}: status {ours[0]} (dxapi) vs {theirs[0]} (peer)")
        elif normalised(ours[1]) != normalised(theirs[1]):
            found.append(f"{path}: JSON differs")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dxapi", type=int, default=8000, help="dxapi's port")
    parser.add_argument("--peer", type=int, default=8002, help="the peer's port")
    parser.add_argument("--plan", required=True)
    parser.add_argument("--fiscal-year", type=int, required=True)
    arguments = parser.parse_args()
    found = differences(arguments.dxapi, arguments.peer, arguments.plan, arguments.fiscal_year)
    for line in found:
        print(line)
    print("same JSON" if not found else f"{len(found)} differ")
    sys.exit(1 if found else 0)


if __name__ == "__main__":
    main()
