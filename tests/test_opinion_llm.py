"""The optional language-model step (``evaluations.listening.llm``) against a local fake
OpenAI-compatible server: off by default, titles and summaries parsed from plain, fenced or
wrapped JSON and cut to length, each failure (garbage, HTTP error, timeout, redirect, an
oversized answer) kept to its cluster, the key sent only when set, and no personal data sent."""

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.test import override_settings

from evaluations.listening.llm import (
    SUMMARY_MAX_CHARS,
    TITLE_MAX_CHARS,
    UNREACHABLE_LIMIT,
    ClusterLabel,
    ClusterPrompt,
    json_object_in,
    label_clusters,
    llm_enabled,
    write_overview,
)
from evaluations.listening.masking import EMAIL_PLACEHOLDER, NAME_PLACEHOLDER, PHONE_PLACEHOLDER


@dataclass
class Reply:
    content: str = ""
    status: int = 200
    delay: float = 0.0
    drip: float = 0.0
    raw: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: dict

    @property
    def user_message(self) -> str:
        return self.body["messages"][1]["content"]


def completion(content: str) -> bytes:
    return json.dumps(
        {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
            ],
        }
    ).encode()


class FakeServer:
    """Records each request; ``answer`` (set by the test) decides the reply to it."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.answer: Callable[[Recorded], Reply] = lambda request: Reply(
            '{"title": "見出し", "summary": "要約"}'
        )
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                request = Recorded(
                    path=self.path,
                    headers={name.lower(): value for name, value in self.headers.items()},
                    body=json.loads(self.rfile.read(length)),
                )
                fake.requests.append(request)
                reply = fake.answer(request)
                time.sleep(reply.delay)
                payload = reply.raw if reply.raw is not None else completion(reply.content)
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(payload)))
                    self.end_headers()
                    if reply.drip:
                        for index in range(0, len(payload), 16):
                            self.wfile.write(payload[index : index + 16])
                            self.wfile.flush()
                            time.sleep(reply.drip)
                    else:
                        self.wfile.write(payload)
                except OSError:
                    pass  # the client gave up waiting

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake() -> Iterator[FakeServer]:
    server = FakeServer()
    with override_settings(
        OPINION_LLM_BASE_URL=server.base_url,
        OPINION_LLM_MODEL="local-model",
        OPINION_LLM_API_KEY="",
        OPINION_LLM_TIMEOUT_SECONDS=5,
        OPINION_LLM_MAX_OPINIONS_PER_CLUSTER=10,
    ):
        yield server
    server.close()


def cluster(key: str, *opinions: str, terms: tuple[str, ...] = ("除雪", "道路")) -> ClusterPrompt:
    return ClusterPrompt(key=key, terms=list(terms), opinions=list(opinions or ("除雪を早く",)))


def by_marker(replies: dict[str, Reply]) -> Callable[[Recorded], Reply]:
    """The reply named by the first marker found in the request's user message."""

    def answer(request: Recorded) -> Reply:
        for marker, reply in replies.items():
            if marker in request.user_message:
                return reply
        raise AssertionError(request.user_message)

    return answer


def test_off_by_default_sends_nothing(fake: FakeServer) -> None:
    with override_settings(OPINION_LLM_BASE_URL=""):
        assert not llm_enabled()
        outcome = label_clusters([cluster("a"), cluster("b")])
        overview = write_overview([("除雪", "除雪の要望", 12)])
    assert outcome.labels == {} and outcome.errors == []
    assert overview is None
    assert fake.requests == []


def test_titles_and_summaries_are_written_cluster_by_cluster(fake: FakeServer) -> None:
    fake.answer = by_marker(
        {
            "除雪を早く": Reply('{"title": "除雪の迅速化", "summary": "除雪を早めてほしい声。"}'),
            "バスを増やして": Reply('{"title": "バスの増便", "summary": "通院の足の確保。"}'),
        }
    )
    outcome = label_clusters(
        [cluster("0", "除雪を早く", "朝の除雪が遅い"), cluster("1", "バスを増やして")]
    )
    assert llm_enabled()
    assert outcome.labels == {
        "0": ClusterLabel("除雪の迅速化", "除雪を早めてほしい声。"),
        "1": ClusterLabel("バスの増便", "通院の足の確保。"),
    }
    assert outcome.errors == [] and outcome.model == "local-model"
    first = fake.requests[0]
    assert first.path == "/v1/chat/completions"
    assert first.body["model"] == "local-model" and first.body["temperature"] == 0
    assert [message["role"] for message in first.body["messages"]] == ["system", "user"]
    assert "JSON" in first.body["messages"][0]["content"]
    assert "除雪、道路" in first.user_message
    assert first.user_message.index("除雪を早く") < first.user_message.index("朝の除雪が遅い")


def test_fenced_or_wrapped_json_is_read(fake: FakeServer) -> None:
    fake.answer = by_marker(
        {
            "fenced": Reply('```json\n{"title": "子育て支援", "summary": "アプリの改善"}\n```'),
            "wrapped": Reply('はい。次の通りです。{"title": "窓口", "summary": "待ち時間"} 以上'),
        }
    )
    outcome = label_clusters([cluster("f", "fenced"), cluster("w", "wrapped")])
    assert outcome.labels == {
        "f": ClusterLabel("子育て支援", "アプリの改善"),
        "w": ClusterLabel("窓口", "待ち時間"),
    }


def test_json_is_found_after_braces_that_are_not_json() -> None:
    assert json_object_in('{見出し} {"title": "t", "summary": "s"}') == {
        "title": "t",
        "summary": "s",
    }


def test_titles_and_summaries_are_cut_to_length(fake: FakeServer) -> None:
    fake.answer = lambda request: Reply(
        json.dumps({"title": "長" * 50, "summary": "要" * 300 + "\n改行"})
    )
    label = label_clusters([cluster("a")]).labels["a"]
    assert label.title == "長" * TITLE_MAX_CHARS
    assert label.summary == "要" * SUMMARY_MAX_CHARS


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (Reply("申し訳ありませんが、お答えできません。"), "JSON"),
        (Reply('{"summary": "見出しがない"}'), "見出し"),
        (Reply(raw=b"<html>not json</html>"), "形式"),
        (Reply("", status=500), "HTTP 500"),
        (Reply("", status=307, headers={"location": "/v1/elsewhere"}), "HTTP 307"),
    ],
)
def test_a_failed_cluster_keeps_no_label_and_the_others_do(
    fake: FakeServer, reply: Reply, reason: str
) -> None:
    fake.answer = by_marker({"bad": reply, "good": Reply('{"title": "良い", "summary": "要約"}')})
    outcome = label_clusters([cluster("x", "bad"), cluster("y", "good")])
    assert outcome.labels == {"y": ClusterLabel("良い", "要約")}
    assert len(outcome.errors) == 1
    assert "x" in outcome.errors[0] and reason in outcome.errors[0]
    assert [request.path for request in fake.requests] == ["/v1/chat/completions"] * 2


def test_an_oversized_answer_is_not_read_to_its_end(fake: FakeServer) -> None:
    fake.answer = lambda request: Reply(json.dumps({"title": "t", "summary": "s" * 100_000}))
    outcome = label_clusters([cluster("a")])
    assert outcome.labels == {}
    assert "大きすぎ" in outcome.errors[0]


def test_a_slow_endpoint_times_out_and_the_rest_is_given_up(fake: FakeServer) -> None:
    fake.answer = lambda request: Reply('{"title": "遅い", "summary": "s"}', delay=3.0)
    clusters = [cluster(str(index)) for index in range(5)]
    started = time.monotonic()
    with override_settings(OPINION_LLM_TIMEOUT_SECONDS=0.2):
        outcome = label_clusters(clusters)
    elapsed = time.monotonic() - started
    assert outcome.labels == {}
    assert len(outcome.errors) == len(clusters)
    assert len(fake.requests) == UNREACHABLE_LIMIT
    assert elapsed < 0.2 * UNREACHABLE_LIMIT + 1.5


def test_an_answer_dripping_in_is_cut_at_the_timeout(fake: FakeServer) -> None:
    # Each piece comes well within the timeout; the whole answer does not.
    fake.answer = lambda request: Reply(
        '{"title": "少しずつ", "summary": "' + "s" * 200 + '"}', drip=0.1
    )
    started = time.monotonic()
    with override_settings(OPINION_LLM_TIMEOUT_SECONDS=0.5):
        outcome = label_clusters([cluster("a")])
    assert outcome.labels == {}
    assert "時間内" in outcome.errors[0]
    assert time.monotonic() - started < 1.0


def test_an_unreachable_endpoint_is_an_error_not_an_exception(fake: FakeServer) -> None:
    fake.close()
    outcome = label_clusters([cluster("a"), cluster("b"), cluster("c")])
    assert outcome.labels == {}
    assert len(outcome.errors) == 3


@pytest.mark.parametrize(("key", "expected"), [("", None), ("sk-local-123", "Bearer sk-local-123")])
def test_the_key_is_sent_only_when_set(fake: FakeServer, key: str, expected: str | None) -> None:
    with override_settings(OPINION_LLM_API_KEY=key):
        label_clusters([cluster("a")])
    assert fake.requests[0].headers.get("authorization") == expected


PERSONAL = {
    "phone": "018-860-1234",
    "email": "taro.sato@example.jp",
    "name": "佐藤太郎",
    "address": "山王4丁目1番1号",
    "postal": "010-8570",
}


def test_no_personal_data_reaches_the_endpoint(fake: FakeServer) -> None:
    opinions = (
        f"私は{PERSONAL['name']}です。電話{PERSONAL['phone']}に連絡を。",
        f"〒{PERSONAL['postal']} 秋田市{PERSONAL['address']}、{PERSONAL['email']}",
    )
    summaries = [("除雪", f"{PERSONAL['name']}さんの要望", 3)]
    label_clusters([cluster("a", *opinions, terms=("除雪", PERSONAL["name"]))])
    write_overview(summaries)
    sent = json.dumps([request.body for request in fake.requests], ensure_ascii=False)
    assert len(fake.requests) == 2
    for value in PERSONAL.values():
        assert value not in sent
    for placeholder in (NAME_PLACEHOLDER, PHONE_PLACEHOLDER, EMAIL_PLACEHOLDER):
        assert placeholder in sent
    assert "秋田市" in sent


def test_personal_data_in_an_answer_is_masked(fake: FakeServer) -> None:
    fake.answer = lambda request: Reply(
        '{"title": "田中さんの提案", "summary": "連絡先は090-1234-5678。"}'
    )
    label = label_clusters([cluster("a")]).labels["a"]
    assert label == ClusterLabel(f"{NAME_PLACEHOLDER}さんの提案", f"連絡先は{PHONE_PLACEHOLDER}。")


def test_at_most_the_configured_number_of_opinions_is_sent(fake: FakeServer) -> None:
    opinions = [f"意見その{index}です" for index in range(6)]
    with override_settings(OPINION_LLM_MAX_OPINIONS_PER_CLUSTER=2):
        label_clusters([cluster("a", *opinions)])
    message = fake.requests[0].user_message
    assert "意見その0" in message and "意見その1" in message
    assert "意見その2" not in message


def test_the_overview_is_one_paragraph_from_titles_and_sizes(fake: FakeServer) -> None:
    fake.answer = lambda request: Reply('```json\n{"overview": "除雪と交通への要望が多い。"}\n```')
    overview = write_overview([("除雪", "除雪を早く", 40), ("バス", "増便を", 12)])
    assert overview == "除雪と交通への要望が多い。"
    message = fake.requests[0].user_message
    assert "除雪（40件）" in message and "バス（12件）" in message


def test_a_failed_overview_is_none(fake: FakeServer) -> None:
    fake.answer = lambda request: Reply("", status=502)
    assert write_overview([("除雪", "除雪を早く", 40)]) is None
    assert len(fake.requests) == 1
