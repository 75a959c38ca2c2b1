"""Probes that schemathesis cannot make: request bodies over the size limit.

    probes.py BASE_URL CONTEXT_JSON SCHEMA_YAML  ->  one line per probe; exit status 1 if any fails.

The README promises 413 for bodies over MAX_REQUEST_BYTES (1 MiB by default). Each probe sends
such a body to a write that parses its body, once with a Content-Length and once chunked (no
Content-Length: the limit must not depend on the client announcing the size), and expects
413 in the API's error format, documented in the committed schema for that operation (411
Length Required is as good an answer to the chunked body). The anonymous probe goes without
the chunked variant: refused at authentication, its body is never read.
"""

import json
import os
import sys

import requests
import yaml

LIMIT = int(os.environ.get("MAX_REQUEST_BYTES", str(1024 * 1024)))


def oversized_json() -> bytes:
    return json.dumps({"note": "x" * (LIMIT + 1)}).encode()


def chunks(body: bytes, size: int = 64 * 1024):
    for start in range(0, len(body), size):
        yield body[start : start + size]


def main(base: str, context_path: str, schema_path: str) -> int:
    with open(context_path, encoding="utf-8") as file:
        context = json.load(file)
    with open(schema_path, encoding="utf-8") as file:
        schema = yaml.safe_load(file)
    evaluation = context["own_r7_evaluations"][-1]
    key = {"Authorization": f"Api-Key {context['keys']['rw_key']}"}
    targets = [
        # (label, method, path template, path, headers)
        (
            "read-write key",
            "PATCH",
            "/api/v1/evaluations/{id}/",
            f"/api/v1/evaluations/{evaluation}/",
            {**key, "If-Match": "*"},
        ),
        ("read-write key", "POST", "/api/v1/kpi-actuals/", "/api/v1/kpi-actuals/", key),
        ("anonymous", "POST", "/api/v1/plans/", "/api/v1/plans/", {}),
    ]
    body = oversized_json()
    failures = 0
    for label, method, template, path, headers in targets:
        documented = schema["paths"][template][method.lower()]["responses"]
        transfers = ("content-length", "chunked") if headers else ("content-length",)
        for transfer in transfers:
            expected = {"413"} if transfer == "content-length" else {"411", "413"}
            data = body if transfer == "content-length" else chunks(body)
            response = requests.request(
                method,
                base + path,
                data=data,
                headers={**headers, "Content-Type": "application/json"},
                timeout=60,
            )
            problems = []
            status = str(response.status_code)
            if status not in expected:
                problems.append(f"got {status}, expected {' or '.join(sorted(expected))}")
            else:
                try:
                    error = response.json()
                    if error.get("type") != "client_error" or not error.get("errors"):
                        problems.append(f"{status} body not in the error format: {error}")
                except ValueError:
                    problems.append(f"{status} body is not JSON: {response.text[:200]!r}")
                if status not in documented:
                    problems.append(
                        f"{status} not documented (documented: {', '.join(documented)})"
                    )
            name = f"{method} {template} as {label}, {len(body)} bytes, {transfer}"
            if problems:
                failures += 1
                request_id = response.headers.get("X-Request-ID", "")
                print(f"probe FAILED: {name}: {'; '.join(problems)} (X-Request-ID {request_id})")
                print(f"  response: {response.text[:300]}")
            else:
                print(f"probe ok: {name}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
