"""The service's own messages in the caller's language: Japanese by default (and for a
language it does not offer), English with ``Accept-Language: en``; and the Japanese catalog
(``locale/ja``) complete, and compiled into the committed ``.mo``."""

import ast
import gettext
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import translation

from tests.conftest import PLAN_CODE
from tests.helpers import if_match, progress_csv, sheet_row, url

JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
LOCALE = Path(settings.BASE_DIR) / "locale" / "ja" / "LC_MESSAGES"
PO, MO = LOCALE / "django.po", LOCALE / "django.mo"
SOURCES = ("dxapi", "evaluations", "initiatives")
GETTEXT_CALLS = {"_", "gettext", "gettext_lazy", "gettext_noop"}


@pytest.fixture(autouse=True)
def _language_restored() -> Iterator[None]:
    """A request leaves its language active in the thread: give the next test the one it
    had before (the refusals here are sent in English too)."""
    before = translation.get_language()
    yield
    translation.activate(before)


# --- The doors ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Refusal:
    """A request that is refused the same way however often it is sent."""

    send: Callable[[dict[str, str]], object]  # the test client's response, given headers
    status: int
    attr: str | None
    en: str
    ja: str


def csv_upload(rows: list[dict[str, object]]) -> io.BytesIO:
    return progress_csv([sheet_row(**row) for row in rows])


@pytest.fixture
def refusals(r7, draft, api, editor, secretariat) -> dict[str, Refusal]:
    def import_(headers):
        data = {
            "file": csv_upload([{"initiative_number": 89, "kpi_order": 1, "value": "千"}]),
            "plan": PLAN_CODE,
            "fiscal_year": "R7",
        }
        return secretariat.post("/api/v1/imports/progress/", data, format="multipart", **headers)

    def stale(headers):
        return editor.patch(
            url(draft),
            {"progress_text": "x"},
            format="json",
            HTTP_IF_MATCH=f'"evaluation-{draft.pk}-v99"',
            **headers,
        )

    return {
        "409 evaluation": Refusal(
            lambda headers: secretariat.post(url(draft, "approve"), **if_match(draft), **headers),
            409,
            None,
            "Cannot approve an evaluation that is draft. (current state: draft)",
            "評価が「作成中」のため、承認できません。（現在の状態: 作成中）",
        ),
        "409 round": Refusal(
            lambda headers: secretariat.post(reverse("round-publish", args=[r7.pk]), **headers),
            409,
            None,
            "The R7 round is open. (current state: open)",
            "R7のラウンドが「受付中」のため、この操作はできません。（現在の状態: 受付中）",
        ),
        "403 role": Refusal(
            lambda headers: editor.post(url(draft, "approve"), **if_match(draft), **headers),
            403,
            None,
            "Only the plan's secretariat may do this.",
            "この操作ができるのは計画の事務局だけです。",
        ),
        "400 rule": Refusal(
            lambda headers: editor.post(url(draft, "submit"), **if_match(draft), **headers),
            400,
            "rating",
            "Give a rating (A, B, C or -) before submitting.",
            "提出する前に評価（A・B・C・-）を入力してください。",
        ),
        "400 sheet": Refusal(
            import_, 400, "rows[2].value", "'千' is not a number.", "「千」は数値ではありません。"
        ),
        "412 stale": Refusal(
            stale,
            412,
            None,
            "The record has changed (now version 1): fetch it again.",
            "記録が変更されています（現在の版: 1）。最新の記録を取得し直してください。",
        ),
        "428 no If-Match": Refusal(
            lambda headers: editor.patch(
                url(draft), {"progress_text": "x"}, format="json", **headers
            ),
            428,
            None,
            "Send If-Match with the ETag of the version you are changing.",
            "変更する版の ETag を If-Match ヘッダーで送ってください。",
        ),
        "400 filter": Refusal(
            lambda headers: api.get(reverse("evaluation-list"), {"fiscal_year": "next"}, **headers),
            400,
            "fiscal_year",
            "'next' is not a fiscal year: use a year such as 2024 or R6.",
            "「next」は年度として読めません。2024 や R6 のように入力してください。",
        ),
        "400 page size": Refusal(
            lambda headers: api.get("/api/v1/departments/", {"page_size": "0"}, **headers),
            400,
            "page_size",
            "Must be a whole number from 1 to 200.",
            "1〜200 の整数を指定してください。",
        ),
        "404 no route": Refusal(
            lambda headers: api.delete("/api/v1/departments/1.5/", **headers),
            404,
            None,
            "No such resource.",
            "指定されたデータは見つかりません。",
        ),
    }


def only_detail(response, status: int, attr: str | None) -> str:
    assert response.status_code == status, response.content
    (error,) = response.json()["errors"]
    assert error["attr"] == attr
    return error["detail"]


@pytest.mark.parametrize(
    "door",
    [
        "409 evaluation",
        "409 round",
        "403 role",
        "400 rule",
        "400 sheet",
        "412 stale",
        "428 no If-Match",
        "400 filter",
        "400 page size",
        "404 no route",
    ],
)
def test_refusals_are_japanese_by_default_and_english_on_request(refusals, door) -> None:
    refusal = refusals[door]

    japanese = only_detail(refusal.send({}), refusal.status, refusal.attr)
    english = only_detail(
        refusal.send({"HTTP_ACCEPT_LANGUAGE": "en"}), refusal.status, refusal.attr
    )
    french = only_detail(refusal.send({"HTTP_ACCEPT_LANGUAGE": "fr"}), refusal.status, refusal.attr)

    assert japanese == refusal.ja
    assert JAPANESE.search(japanese) and refusal.en not in japanese
    assert english == refusal.en
    assert french == refusal.ja  # a language the service does not offer: Japanese


def test_drf_messages_follow_the_same_language(r7, draft, editor) -> None:
    """DRF's own messages (its catalogs) answer the same header as the service's."""
    response = editor.patch(url(draft), {"rating": "Z"}, format="json", **if_match(draft))
    assert response.status_code == 400
    assert "有効な選択肢ではありません" in response.json()["errors"][0]["detail"]
    response = editor.patch(
        url(draft), {"rating": "Z"}, format="json", HTTP_ACCEPT_LANGUAGE="en", **if_match(draft)
    )
    assert "is not a valid choice" in response.json()["errors"][0]["detail"]
    assert response["Content-Language"] == "en"


def chunked(client, **headers):
    return client.generic(
        "POST",
        "/api/v1/rounds/",
        b'{"plan": 1, "fiscal_year": "R6"}',
        content_type="application/json",
        HTTP_TRANSFER_ENCODING="chunked",
        **headers,
    )


def test_refusals_before_the_locale_middleware_speak_the_callers_language(
    staff_api, settings
) -> None:
    """411 and 413 are answered before ``LocaleMiddleware`` runs: they read the caller's
    language themselves, not the one a previous request left active in the thread."""
    staff_api.get("/api/v1/plans/", HTTP_ACCEPT_LANGUAGE="en")

    response = chunked(staff_api)
    assert (
        only_detail(response, 411, None) == "本文は Content-Length ヘッダーを付けて送ってください。"
    )
    response = chunked(staff_api, HTTP_ACCEPT_LANGUAGE="en")
    assert only_detail(response, 411, None) == "Send the body with a Content-Length."

    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10
    body = {"plan": 1, "fiscal_year": "R6"}
    response = staff_api.post("/api/v1/rounds/", body, format="json")
    assert only_detail(response, 413, None) == "リクエストの本文が 10 バイトを超えています。"
    response = staff_api.post("/api/v1/rounds/", body, format="json", HTTP_ACCEPT_LANGUAGE="en")
    assert only_detail(response, 413, None) == "The request body is over 10 bytes."


# --- The catalog ----------------------------------------------------------------------------


@dataclass
class Entry:
    msgid: str
    msgstr: list[str]
    msgctxt: str | None = None
    msgid_plural: str | None = None
    fuzzy: bool = False

    @property
    def translations(self) -> dict:
        """The entry as ``gettext.GNUTranslations`` reads it from the ``.mo``."""
        key = self.msgid if self.msgctxt is None else f"{self.msgctxt}\x04{self.msgid}"
        if self.msgid_plural is None:
            return {key: self.msgstr[0]}
        return {(key, index): text for index, text in enumerate(self.msgstr)}


def po_entries(path: Path) -> list[Entry]:
    """The entries of a ``.po`` file as ``makemessages`` writes them: separated by blank
    lines; obsolete ones (``#~``) left out."""
    entries = []
    for block in path.read_text(encoding="utf-8").split("\n\n"):
        fields: dict[str, list[str]] = {}
        fuzzy = False
        current: list[str] = []
        for line in block.splitlines():
            if line.startswith("#,"):
                fuzzy = "fuzzy" in line
            elif line.startswith('"'):
                current.append(ast.literal_eval(line))  # a PO string is a Python string too
            elif line and not line.startswith("#"):
                keyword, _, value = line.partition(" ")
                current = fields.setdefault(keyword, [ast.literal_eval(value)])
        if "msgid" not in fields:
            continue
        text = {keyword: "".join(parts) for keyword, parts in fields.items()}
        plurals = sorted(keyword for keyword in text if keyword.startswith("msgstr["))
        entries.append(
            Entry(
                msgid=text["msgid"],
                msgstr=[text[keyword] for keyword in plurals or ["msgstr"]],
                msgctxt=text.get("msgctxt"),
                msgid_plural=text.get("msgid_plural"),
                fuzzy=fuzzy,
            )
        )
    return entries


def test_every_message_of_the_catalog_is_translated() -> None:
    entries = po_entries(PO)
    messages = [entry for entry in entries if entry.msgid]
    assert len(messages) > 100
    assert [entry.msgid for entry in entries if entry.fuzzy] == []
    assert [entry.msgid for entry in messages if not all(entry.msgstr)] == []
    placeholders = re.compile(r"%\(\w+\)s")
    for entry in messages:
        wanted = sorted(placeholders.findall(entry.msgid))
        for text in entry.msgstr:
            assert sorted(placeholders.findall(text)) == wanted, entry.msgid


def test_the_committed_mo_is_compiled_from_the_po() -> None:
    """A fresh clone needs no gettext tools: the ``.mo`` is committed, and is the ``.po``'s
    (``manage.py compilemessages -l ja --ignore=.venv`` after every change to it)."""
    with MO.open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)._catalog
    compiled.pop("")  # the header (msgfmt leaves out its POT-Creation-Date)
    expected: dict = {}
    for entry in po_entries(PO):
        if entry.msgid and not entry.fuzzy and all(entry.msgstr):
            expected.update(entry.translations)
    assert compiled == expected, "locale/ja: run `manage.py compilemessages` and commit the .mo"


def wrapped_messages() -> dict[str, str]:
    """The literal messages the code passes to ``gettext`` & co., with where they are."""
    found: dict[str, str] = {}
    root = Path(settings.BASE_DIR)
    for source in SOURCES:
        for path in sorted((root / source).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Name)
                    and node.func.id in GETTEXT_CALLS
                    and node.args
                ):
                    continue
                message = node.args[0]
                if isinstance(message, ast.Constant) and isinstance(message.value, str):
                    found.setdefault(message.value, f"{path.relative_to(root)}:{node.lineno}")
    return found


def test_every_english_message_of_the_code_has_its_japanese() -> None:
    """An English message added to the code is in the catalog, translated (run
    ``makemessages -l ja --ignore=.venv --ignore=benchmarks``, translate, compile). Messages
    written in Japanese need no entry: untranslated, they are shown as they are."""
    with MO.open("rb") as handle:
        catalog = gettext.GNUTranslations(handle)._catalog
    messages = wrapped_messages()
    assert "Only the plan's secretariat may do this." in messages
    missing = [
        f"{where}: {message}"
        for message, where in messages.items()
        if not JAPANESE.search(message) and not catalog.get(message)
    ]
    assert missing == []
