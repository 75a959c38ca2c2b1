"""Summarize a fuzz run: every distinct failure of every role, with the request, the answer
and, for a server error, the traceback that the server logged under the request's id.

    summarize.py REPORT_DIR SERVER_LOG  ->  prints the summary; exit status 1 if any failure.

REPORT_DIR holds one folder per role with schemathesis' NDJSON event stream.
"""

import base64
import json
import re
import sys
from collections import defaultdict
from pathlib import Path

LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ [A-Z]+ \S+ \[(?P<rid>[^\]]*)\] ")
BODY_LIMIT = 600


def tracebacks(log: Path) -> dict[str, str]:
    """The ERROR records of the server log (with their tracebacks), by request id."""
    records: dict[str, list[str]] = defaultdict(list)
    current: list[str] | None = None
    if not log.exists():
        return {}
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        match = LOG_LINE.match(line)
        if match:
            current = None
            if " ERROR " in line[:40]:
                current = records[match["rid"]]
                current.append(line)
        elif current is not None and not line.startswith("["):  # gunicorn's own lines
            current.append(line)
    return {rid: "\n".join(lines) for rid, lines in records.items()}


def decode(body) -> str:
    if body is None:
        return ""
    if isinstance(body, dict) and "$base64" in body:
        raw = base64.b64decode(body["$base64"])
        text = raw.decode("utf-8", errors="replace")
    else:
        text = str(body)
    return text if len(text) <= BODY_LIMIT else text[:BODY_LIMIT] + f"… ({len(text)} chars)"


def failures(report_dir: Path):
    """Yield one dict per failed check of a test case."""
    for stream in sorted(report_dir.glob("*/*.ndjson")):
        role = stream.parent.name
        for line in stream.read_text(encoding="utf-8").splitlines():
            event = json.loads(line)
            finished = event.get("ScenarioFinished")
            if finished is None:
                if "NonFatalError" in event or "FatalError" in event:
                    error = event.get("NonFatalError") or event.get("FatalError")
                    yield {
                        "role": role,
                        "operation": error.get("label", "?"),
                        "code": "ERROR",
                        "title": "Schemathesis error",
                        "message": json.dumps(error.get("info", error), ensure_ascii=False)[:2000],
                    }
                continue
            recorder = finished["recorder"]
            for case_id, checks in (recorder.get("checks") or {}).items():
                interaction = (recorder.get("interactions") or {}).get(case_id) or {}
                request = interaction.get("request") or {}
                response = interaction.get("response") or {}
                for check in checks:
                    if check.get("status") != "failure":
                        continue
                    info = (check.get("failure_info") or {}).get("failure") or {}
                    request_ids = (response.get("headers") or {}).get("x-request-id") or [""]
                    case = ((recorder.get("cases") or {}).get(case_id) or {}).get("value") or {}
                    operation = recorder["label"]
                    if case.get("method") and case.get("path"):  # stateful: the step's
                        operation = f"{case['method']} {case['path']}"
                    yield {
                        "role": role,
                        "operation": operation,
                        "check": check["name"],
                        "code": info.get("code", check["name"]),
                        "title": info.get("title", check["name"]),
                        "message": info.get("message", ""),
                        "phase": finished.get("phase"),
                        "method": request.get("method"),
                        "uri": request.get("uri"),
                        "request_body": decode(request.get("body")),
                        "request_headers": {
                            name: values
                            for name, values in (request.get("headers") or {}).items()
                            if name.lower() not in {"authorization", "cookie", "x-csrftoken"}
                        },
                        "status": response.get("status_code"),
                        "response_body": decode(response.get("content")),
                        "request_id": request_ids[0],
                    }


def main(report_dir: Path, log: Path) -> int:
    """Group the failures by operation, check and status (across roles); show one example of
    each group, with the server's traceback where there is one."""
    logged = tracebacks(log)
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for failure in failures(report_dir):
        key = (failure["operation"], failure["code"], failure["title"], failure.get("status"))
        groups[key].append(failure)
    if not groups:
        print("fuzz summary: no failures")
        return 0
    by_kind: dict[tuple, int] = defaultdict(int)
    for _, code, title, _ in groups:
        by_kind[(code, title)] += 1
    print(f"fuzz summary: {len(groups)} distinct failures (operation, check, status)")
    for (code, title), count in sorted(by_kind.items()):
        print(f"  {code} {title}: {count}")
    print()
    for key in sorted(groups, key=lambda k: (k[1], k[0], str(k[3]))):
        found = groups[key]
        # Prefer an example with a server traceback, then the shortest request.
        found.sort(key=lambda f: (f.get("request_id") not in logged, len(f.get("uri") or "")))
        failure = found[0]
        roles = sorted({f["role"] for f in found})
        print("=" * 100)
        print(f"{failure['operation']} — {failure['code']} {failure['title']}")
        print(f"  roles: {', '.join(roles)}; {len(found)} test cases")
        if failure.get("message"):
            print("  " + failure["message"].replace("\n", "\n  ")[:3000])
        if failure.get("method"):
            print(f"  request:  {failure['method']} {failure['uri']}")
            if failure["request_headers"]:
                print(f"  headers:  {json.dumps(failure['request_headers'], ensure_ascii=False)}")
            if failure["request_body"]:
                print(f"  body:     {failure['request_body']!r}")
            print(f"  response: {failure['status']} {failure['response_body']}")
            print(f"  X-Request-ID: {failure['request_id']} (as {failure['role']})")
        traceback = logged.get(failure.get("request_id") or "-")
        if traceback:
            print("  server log:\n    " + traceback.replace("\n", "\n    "))
    return 1


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
