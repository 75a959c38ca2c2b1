"""The service behind nginx (deploy/nginx/dxapi.conf, started by deploy/nginx/run-local.sh).

gunicorn serves a SQLite file database of its own (migrated, the shipped plan loaded, a
secretariat API key) with PUBLIC_CACHE_MAX_AGE=1 and PUBLIC_CACHE_STALE_WHILE_REVALIDATE=1, so
the publication window is 2 s. Skipped where nginx is not installed or gunicorn cannot start.
"""

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
RUN_LOCAL = ROOT / "deploy" / "nginx" / "run-local.sh"
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
MAX_AGE, STALE_WHILE_REVALIDATE = 1, 1
WINDOW = MAX_AGE + STALE_WHILE_REVALIDATE
# The time a revalidation takes on a loaded machine, on top of the window.
MARGIN = 1.5
PLAN = "akita-dx"
YEAR = 2024  # R6: published in the shipped plan
RATINGS = f"/api/v1/aggregates/ratings/?plan={PLAN}&fiscal_year={YEAR}"
INITIATIVES = f"/api/v1/initiatives/?plan={PLAN}&page_size=50"

pytestmark = pytest.mark.skipif(NGINX is None, reason="nginx is not installed")

CREATE_KEY = f"""
from initiatives.models import ApiKey, ApiKeyRole, Plan
_, key = ApiKey.objects.create_key(
    name="proxy", plan=Plan.objects.get(code="{PLAN}"), role=ApiKeyRole.SECRETARIAT
)
print(key)
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)

    @property
    def cache(self) -> str:
        return self.headers.get("x-cache-status", "")


class Client:
    """Keep-alive HTTP/1.1 to 127.0.0.1:port (one connection; one thread at a time)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def request(
        self, method: str, path: str, headers: dict | None = None, body: object = None
    ) -> Response:
        headers = dict(headers or {})
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        for attempt in range(2):
            try:
                self.connection.request(method, path, body=data, headers=headers)
                response = self.connection.getresponse()
                content = response.read()
                return Response(
                    response.status, {k.lower(): v for k, v in response.getheaders()}, content
                )
            except (http.client.HTTPException, ConnectionError):
                self.connection.close()
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def get(self, path: str, headers: dict | None = None) -> Response:
        return self.request("GET", path, headers)

    def close(self) -> None:
        self.connection.close()


@dataclass
class Stack:
    proxy_port: int
    service_port: int
    key: str
    processes: list[subprocess.Popen] = field(default_factory=list)

    def proxy(self) -> Client:
        return Client(self.proxy_port)

    @property
    def secretariat(self) -> dict[str, str]:
        return {"Authorization": f"Api-Key {self.key}"}


def _wait_for(port: int, process: subprocess.Popen, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            if Client(port).get("/health/live").status == 200:
                return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[Stack]:
    directory = tmp_path_factory.mktemp("proxy")
    env = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
        "DJANGO_SETTINGS_MODULE": "dxapi.settings",
        "DATABASE_URL": f"sqlite:///{directory / 'db.sqlite3'}",
        "SECRET_KEY": "proxy-test-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        "DEBUG": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",  # plain HTTP on 127.0.0.1
        # One process: its memory cache is the only one (aggregates, rendered bytes).
        "ALLOW_LOCAL_CACHE": "1",
        "REDIS_URL": "",
        "THROTTLE_ANON": "1000000/minute",
        "THROTTLE_API_KEY": "1000000/minute",
        "PUBLIC_CACHE_MAX_AGE": str(MAX_AGE),
        "PUBLIC_CACHE_STALE_WHILE_REVALIDATE": str(STALE_WHILE_REVALIDATE),
        "LOG_LEVEL": "WARNING",
    }
    manage = [sys.executable, "manage.py"]
    for command in (["migrate", "-v0"], ["load_plan"]):
        done = subprocess.run(
            [*manage, *command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
        )
        assert done.returncode == 0, done.stdout + done.stderr
    done = subprocess.run(
        [*manage, "shell", "-c", CREATE_KEY],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    stack = Stack(free_port(), free_port(), done.stdout.strip().splitlines()[-1])
    gunicorn = Path(sys.executable).parent / "gunicorn"
    service_log = (directory / "gunicorn.log").open("w")
    service = subprocess.Popen(
        [
            str(gunicorn),
            "dxapi.wsgi:application",
            "--bind",
            f"127.0.0.1:{stack.service_port}",
            "--workers",
            "1",
            "--worker-class",
            "gthread",
            "--threads",
            "4",
            "--keep-alive",
            "75",
        ],
        cwd=ROOT,
        env=env,
        stdout=service_log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    stack.processes.append(service)
    try:
        if not _wait_for(stack.service_port, service, 60):
            pytest.skip(f"gunicorn did not start: {(directory / 'gunicorn.log').read_text()}")
        proxy_log = (directory / "nginx.log").open("w")
        proxy = subprocess.Popen(
            [
                "bash",
                str(RUN_LOCAL),
                "--port",
                str(stack.proxy_port),
                "--upstream",
                f"127.0.0.1:{stack.service_port}",
                "--prefix",
                str(directory / "nginx"),
                "--workers",
                "1",
                "--access-log",
            ],
            stdout=proxy_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        stack.processes.append(proxy)
        assert _wait_for(stack.proxy_port, proxy, 30), (directory / "nginx.log").read_text()
        yield stack
    finally:
        for process in reversed(stack.processes):
            _stop(process)


def test_anonymous_reads_are_cached(stack) -> None:
    client = stack.proxy()
    path = f"{RATINGS}&group_by=pillar"
    first = client.get(path)
    second = client.get(path)
    assert first.status == second.status == 200
    assert first.cache == "MISS"
    assert second.cache == "HIT"
    assert second.body == first.body
    assert second.headers["cache-control"].startswith("public, max-age=")
    assert not client.get("/health/live").cache  # never cached


def test_credentials_are_never_cached_nor_answered_from_the_cache(stack) -> None:
    client = stack.proxy()
    client.get(RATINGS)
    assert client.get(RATINGS).cache == "HIT"
    # A cached URL: the credentialed request goes to the service, which says private.
    keyed = client.get(RATINGS, stack.secretariat)
    assert (keyed.status, keyed.cache) == (200, "BYPASS")
    assert keyed.headers["cache-control"] == "private, no-cache"
    session = client.get(RATINGS, {"Cookie": "sessionid=not-a-session"})
    assert session.cache == "BYPASS"
    assert "public" not in session.headers["cache-control"]
    # A URL first read with credentials: nothing was stored for the public.
    for size, headers in ((48, stack.secretariat), (49, {"Cookie": "sessionid=abc"})):
        path = f"/api/v1/initiatives/?plan={PLAN}&page_size={size}"
        assert client.get(path, headers).cache == "BYPASS"
        assert client.get(path).cache == "MISS"


def test_conditional_requests_through_the_proxy(stack) -> None:
    client = stack.proxy()
    first = client.get(INITIATIVES)
    etag = first.headers["etag"]
    assert etag.startswith('"')
    again = client.get(INITIATIVES, {"If-None-Match": etag})
    assert again.status == 304
    assert again.body == b""
    assert again.headers["etag"] == etag
    other = client.get(INITIATIVES, {"If-None-Match": '"something-else"'})
    assert other.status == 200
    assert other.body == first.body


def test_languages_are_two_variants(stack) -> None:
    client = stack.proxy()
    path = f"{RATINGS}&group_by=department"
    english = client.get(path, {"Accept-Language": "en-US,en;q=0.9"})
    assert english.headers["content-language"] == "en"
    # Another English-first list is the same variant, answered from the cache.
    french_then_english = client.get(path, {"Accept-Language": "fr-FR, en;q=0.8"})
    assert french_then_english.cache == "HIT"
    assert french_then_english.headers["content-language"] == "en"
    japanese = client.get(path, {"Accept-Language": "ja,en-US;q=0.7"})
    assert japanese.headers["content-language"] == "ja"
    assert japanese.cache == "MISS"
    default = client.get(path)
    assert (default.cache, default.headers["content-language"]) == ("HIT", "ja")


def _published(path: str, response: Response) -> bool:
    """Whether ``response`` shows R6 as published (the state the public can see)."""
    assert response.status == 200, (path, response.status, response.body[:300])
    body = response.json()
    if path == RATINGS:
        return body["overall"]["total"] > 0
    return any(
        rating["fiscal_year"] == YEAR for item in body["results"] for rating in item["ratings"]
    )


@dataclass
class Change:
    sent: float
    done: float
    published: bool


def test_no_stale_response_after_the_publication_window(stack) -> None:
    """A reader reads the ratings and the initiative list through the proxy without pause
    while the secretariat reopens, republishes, reopens and republishes R6 (through the
    proxy, with its API key). Every response to a read sent later than a change's
    completion + the window (max-age + stale-while-revalidate) + a margin shows the new
    state."""
    writer = stack.proxy()
    rounds = writer.get(f"/api/v1/rounds/?plan={PLAN}&fiscal_year={YEAR}", stack.secretariat)
    (round_,) = rounds.json()["results"]
    assert round_["status"] == "published"
    base = f"/api/v1/rounds/{round_['id']}"
    reads: list[tuple[float, float, str, bool, str]] = []
    stop = threading.Event()

    def reader() -> None:
        client = stack.proxy()
        while not stop.is_set():
            for path in (RATINGS, INITIATIVES):
                sent = time.monotonic()
                response = client.get(path)
                received = time.monotonic()
                reads.append((sent, received, path, _published(path, response), response.cache))
            stop.wait(0.005)  # a few hundred reads a second are enough, on a shared machine
        client.close()

    def change(*steps: tuple[str, dict | None], published: bool) -> Change:
        sent = time.monotonic()
        for action, body in steps:
            response = writer.request("POST", f"{base}/{action}/", stack.secretariat, body)
            assert response.status == 200, (action, response.body[:300])
        return Change(sent, time.monotonic(), published)

    dwell = WINDOW + MARGIN + 2.5
    changes = [Change(0.0, 0.0, True)]
    thread = threading.Thread(target=reader)
    thread.start()
    try:
        time.sleep(dwell)  # the cache holds the published state
        for _ in range(2):
            changes.append(change(("reopen", {"reason": "correction"}), published=False))
            time.sleep(dwell)
            changes.append(change(("close", None), ("publish", None), published=True))
            time.sleep(dwell)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()

    checked, stale, hits, before_change = 0, [], 0, 0
    for sent, received, path, published, cache in reads:
        hits += cache == "HIT"
        # The last change begun before the read; the read must end before the next one.
        current = [index for index, item in enumerate(changes) if item.sent <= sent][-1]
        following = changes[current + 1].sent if current + 1 < len(changes) else float("inf")
        if received >= following:
            continue
        if current and sent < changes[current].done + WINDOW + MARGIN:
            # Inside the window of a change: either state may be served.
            before_change += published != changes[current].published
            continue
        checked += 1
        if published != changes[current].published:
            stale.append((round(sent - changes[current].done, 2), path, published, cache))
    assert hits > 0, "the proxy cached nothing"
    # The cache held the state before a change when it changed: the window was put to test.
    assert before_change > 0
    assert checked >= 20, f"too few reads after the windows ({checked} of {len(reads)})"
    # (seconds after the change, path, published, cache status) of the first ones
    assert not stale, f"{len(stale)} stale of {checked}: {stale[:10]}"
