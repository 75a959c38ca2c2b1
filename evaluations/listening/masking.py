"""Masking of personal data in citizens' opinions before they are analysed or shown.

Issue 15: phone numbers, e-mail and postal addresses, personal names and individual numbers
(マイナンバー) are replaced by a placeholder naming what was there; the original text is kept
for the secretariat alone. Patterns find the numbers and addresses; SudachiPy's part-of-speech
tags (``名詞,固有名詞,人名``) find the names, and only where something says a person is meant
(a given name after the surname, an honorific, 私は…です), so place names and the prefecture's
own offices stay. The municipality of an address is kept (it is not personal on its own and it
matters to the analysis); what follows it is masked.

Detection runs on a copy of the text in which full-width letters, digits and the many dashes
are folded to ASCII one character for one, so offsets stay those of the original. The
placeholders never match a pattern, which makes masking idempotent.
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from itertools import pairwise

from evaluations.listening.tokenizer import Morpheme, morphemes


class PersonalDataKind(StrEnum):
    EMAIL = "email"
    PHONE = "phone"
    POSTAL_CODE = "postal_code"
    ADDRESS = "address"
    NAME = "name"
    INDIVIDUAL_NUMBER = "individual_number"


EMAIL_PLACEHOLDER = "［メールアドレス］"
PHONE_PLACEHOLDER = "［電話番号］"
POSTAL_CODE_PLACEHOLDER = "［郵便番号］"
ADDRESS_PLACEHOLDER = "［住所］"
NAME_PLACEHOLDER = "［氏名］"
INDIVIDUAL_NUMBER_PLACEHOLDER = "［個人番号］"

PLACEHOLDERS: dict[PersonalDataKind, str] = {
    PersonalDataKind.EMAIL: EMAIL_PLACEHOLDER,
    PersonalDataKind.PHONE: PHONE_PLACEHOLDER,
    PersonalDataKind.POSTAL_CODE: POSTAL_CODE_PLACEHOLDER,
    PersonalDataKind.ADDRESS: ADDRESS_PLACEHOLDER,
    PersonalDataKind.NAME: NAME_PLACEHOLDER,
    PersonalDataKind.INDIVIDUAL_NUMBER: INDIVIDUAL_NUMBER_PLACEHOLDER,
}
# The analysis drops these as terms: they say nothing about the opinion.
PLACEHOLDER_TEXTS: frozenset[str] = frozenset(PLACEHOLDERS.values())

# Each pass masks at least one more character; real texts settle in two.
_MAX_PASSES = 5
# When two findings overlap, the one listed first names the merged mask.
_PRIORITY = (
    PersonalDataKind.EMAIL,
    PersonalDataKind.INDIVIDUAL_NUMBER,
    PersonalDataKind.PHONE,
    PersonalDataKind.POSTAL_CODE,
    PersonalDataKind.ADDRESS,
    PersonalDataKind.NAME,
)


@dataclass(frozen=True, slots=True)
class MaskedText:
    text: str
    kinds: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Span:
    start: int
    end: int
    kind: PersonalDataKind


# --- Folding -----------------------------------------------------------------------------

_DASHES = "‐‑‒–—―−﹣－ｰ"
_FOLD = str.maketrans(
    {
        **{chr(code): chr(code - 0xFEE0) for code in range(0xFF01, 0xFF5F)},
        **{dash: "-" for dash in _DASHES},
        "\u3000": " ",
    }
)
# The long-vowel mark is a dash only between digits (090ー1234ー5678), not in katakana.
_LONG_VOWEL_AS_DASH = re.compile(r"(?<=[0-9])ー|ー(?=[0-9])")
_PLACEHOLDER_PATTERN = re.compile("|".join(re.escape(p) for p in PLACEHOLDERS.values()))


def _folded(text: str) -> str:
    """The text for the patterns: same length, placeholders blanked, widths and dashes folded."""
    blanked = _PLACEHOLDER_PATTERN.sub(lambda match: "\x00" * len(match.group()), text)
    return _LONG_VOWEL_AS_DASH.sub("-", blanked.translate(_FOLD))


# --- Patterns ----------------------------------------------------------------------------

_EMAIL = re.compile(r"[0-9A-Za-z._%+\-]+@[0-9A-Za-z.\-]+")
_EMAIL_DOMAIN = re.compile(r"[0-9A-Za-z\-]+(?:\.[0-9A-Za-z\-]+)*\.[A-Za-z]{2,}")
# Letters may touch a number (TEL0188601234, ＤＸ123456789012); digits and joiners may not.
_PHONE = re.compile(
    r"(?<![0-9\-+.,])"
    r"(?:\+81[- ]?(?:\(0\)[- ]?)?\(?\d{1,4}\)?[- ]?\d{1,4}[- ]?\d{3,4}"
    r"|\(0\d{1,4}\)[- ]?\d{1,4}[- ]?\d{3,4}"
    r"|0\d{1,4}[- ]?\d{1,4}[- ]?\d{3,4})"
    r"(?![0-9\-])"
)
_POSTAL_MARKED = re.compile(r"〒 ?\d{3}-?\d{4}(?![0-9\-])")
_POSTAL_BARE = re.compile(r"(?<![0-9\-+.,])\d{3}-\d{4}(?![0-9\-])")
_POSTAL_CONTEXT = re.compile(r"住所|郵便|〒|在住|住ん|住ま|[都道府県市区町村郡]")
_POSTAL_CONTEXT_REACH = 12
_INDIVIDUAL_NUMBER = re.compile(
    r"(?<![0-9\-+.,])(?:\d{12}|\d{4}([- ])\d{4}\1\d{4})"
    r"(?![0-9\-.,]| ?[円%人件個回年])"
)

_NUMERAL = r"[0-9一二三四五六七八九十〇百千]+"
_HOUSE_NUMBER = re.compile(
    rf"{_NUMERAL}(?:(?:丁目|番地|番(?!目)|号|-){_NUMERAL})*(?:丁目|番地|番(?!目)|号)?"
)
# A number followed by one of these counts something; it is not a house number.
_UNIT_AFTER = re.compile(
    r"[0-9A-Za-z.,年月日時分人件個回円%万億歳代名度倍点位割枚台本冊]|[かヶヵカケ][所月国]"
)
_NOT_DISTRICTS = ("道", "線", "第", "号")
# Kanji, katakana and the marks of place names; の only between kanji (丸の内).
_PLACE_CHARACTER = re.compile(r"[一-龥々〆〇○ヶケァ-ヺー]|(?<=[一-龥])の(?=[一-龥])")
_PLACE_REACH = 20
_MUNICIPALITY_END = "市区町村"


def _digit_count(text: str) -> int:
    return sum(character.isdigit() for character in text)


def _is_wide(character: str) -> bool:
    return "\uff01" <= character <= "\uff5e"


def _same_width_around(text: str, at: int, start: int, end: int) -> tuple[int, int]:
    """The part of ``text[start:end]`` around the ``@`` at ``at`` written in one width on
    each side: in ＤＸtaro@example.jpＤＸ the address is taro@example.jp, between two words."""
    if at > start:
        wide, first = _is_wide(text[at - 1]), at - 1
        while first > start and _is_wide(text[first - 1]) == wide:
            first -= 1
        start = first
    if at + 1 < end:
        wide, last = _is_wide(text[at + 1]), at + 1
        while last + 1 < end and _is_wide(text[last + 1]) == wide:
            last += 1
        end = last + 1
    return start, end


def _email_spans(text: str, folded: str) -> Iterator[_Span]:
    for match in _EMAIL.finditer(folded):
        at = folded.index("@", match.start())
        start, end = _same_width_around(text, at, match.start(), match.end())
        domain = _EMAIL_DOMAIN.match(folded, at + 1, end)
        if start < at and domain:
            yield _Span(start, domain.end(), PersonalDataKind.EMAIL)


def _is_phone(number: str) -> bool:
    """Japanese numbers have 10 digits (11 for mobiles and 050); +81 drops the leading 0."""
    if number.startswith("+81"):
        national = number[3:].replace("(0)", "")
        return 9 <= _digit_count(national) <= 10
    return 10 <= _digit_count(number) <= 11


def _phone_spans(folded: str) -> Iterator[_Span]:
    for match in _PHONE.finditer(folded):
        if _is_phone(match.group()):
            yield _Span(match.start(), match.end(), PersonalDataKind.PHONE)


def _near_address_words(folded: str, start: int, end: int) -> bool:
    before = folded[max(0, start - _POSTAL_CONTEXT_REACH) : start]
    after = folded[end : end + _POSTAL_CONTEXT_REACH]
    return bool(_POSTAL_CONTEXT.search(before) or _POSTAL_CONTEXT.search(after))


def _postal_code_spans(folded: str) -> Iterator[_Span]:
    for match in _POSTAL_MARKED.finditer(folded):
        yield _Span(match.start(), match.end(), PersonalDataKind.POSTAL_CODE)
    for match in _POSTAL_BARE.finditer(folded):
        if _near_address_words(folded, match.start(), match.end()):
            yield _Span(match.start(), match.end(), PersonalDataKind.POSTAL_CODE)


def _individual_number_spans(folded: str) -> Iterator[_Span]:
    for match in _INDIVIDUAL_NUMBER.finditer(folded):
        yield _Span(match.start(), match.end(), PersonalDataKind.INDIVIDUAL_NUMBER)


# --- Addresses ---------------------------------------------------------------------------


def _place_before(folded: str, position: int) -> int:
    """Where the run of place-name characters that ends at ``position`` begins."""
    start = position
    while (
        start > 0 and position - start < _PLACE_REACH and _PLACE_CHARACTER.match(folded, start - 1)
    ):
        start -= 1
    return start


def _municipality_end(folded: str, place_start: int, place_end: int) -> int | None:
    """Just after the municipality (…市, …郡…町, …区) that opens the place name, if any.

    A name in kana (にかほ市, さいたま市) leaves only its last character in the run.
    """
    place = folded[place_start:place_end]
    city = place.find("市")
    county = place.find("郡")
    if county >= 1 and (city < 0 or county < city):
        for index in range(county + 2, len(place)):
            if place[index] in "町村":
                return place_start + index + 1
        return None
    if city >= 1 or (city == 0 and place_start > 0):
        return place_start + city + 1
    for index, character in enumerate(place):
        if character in _MUNICIPALITY_END and (index >= 1 or place_start > 0):
            return place_start + index + 1
    return None


def _is_house_level(number: str) -> bool:
    """A house or plot number (4丁目1番1号, 123番地, 1-1), not a neighbourhood (2丁目) nor a
    road (国道7号)."""
    return "番地" in number or len(re.findall(_NUMERAL, number)) >= 2


def _is_plot_number(folded: str, municipality_end: int, number: str, start: int) -> bool:
    """A bare number after a district (三種町鹿渡123), not after a road or an ordinal."""
    district = folded[municipality_end:start]
    return (
        number.isascii()
        and number.isdigit()
        and len(number) >= 2
        and bool(district)
        and not district.endswith(_NOT_DISTRICTS)
    )


def _address_spans(folded: str) -> Iterator[_Span]:
    for match in _HOUSE_NUMBER.finditer(folded):
        number, start, end = match.group(), match.start(), match.end()
        if _UNIT_AFTER.match(folded, end):
            continue
        place_start = _place_before(folded, start)
        municipality_end = _municipality_end(folded, place_start, start)
        if municipality_end is not None:
            if _is_house_level(number) or _is_plot_number(folded, municipality_end, number, start):
                yield _Span(municipality_end, end, PersonalDataKind.ADDRESS)
        elif _is_house_level(number) and re.search("丁目|番", number):
            yield _Span(place_start, end, PersonalDataKind.ADDRESS)


# --- Names -------------------------------------------------------------------------------

HONORIFICS = frozenset(
    {"さん", "様", "さま", "氏", "君", "くん", "ちゃん", "先生", "殿"}
    | {"課長", "部長", "係長", "主任", "主査", "室長", "所長", "班長", "局長", "次長"}
)
_INTRODUCTIONS = ("私は", "私、", "私,", "僕は", "わたしは", "名前は", "氏名は", "名前:", "氏名:")
_NAMING_VERBS = frozenset({"申す", "言う", "いう"})
# Surname-and-given-name pairs in the dictionary that name things, not people.
NOT_PERSONS = frozenset({"佐藤錦", "秋田小町", "小野小町"})
_TOKENIZER_CHUNK = 4000


def _is_person(morpheme: Morpheme) -> bool:
    return morpheme.pos[1:3] == ("固有名詞", "人名")


def _is_space(morpheme: Morpheme) -> bool:
    return morpheme.pos[0] == "空白"


def _name_run_end(tokens: list[Morpheme], first: int) -> int:
    """Index after the run of name morphemes from ``first``; one space may part a surname
    from its given name (山田　太郎)."""
    index = first + 1
    while index < len(tokens):
        if _is_person(tokens[index]):
            index += 1
        elif (
            _is_space(tokens[index])
            and index + 1 < len(tokens)
            and tokens[index - 1].pos[3] == "姓"
            and tokens[index + 1].pos[3] == "名"
        ):
            index += 2
        else:
            break
    return index


def _is_full_name(run: list[Morpheme]) -> bool:
    people = [token for token in run if not _is_space(token)]
    return any(a.pos[3] == "姓" and b.pos[3] == "名" for a, b in pairwise(people))


def _ends_introduction(tokens: list[Morpheme], after: int) -> bool:
    """The name closes the phrase: です, と申します, punctuation or the end of the text."""
    if after >= len(tokens):
        return True
    following = tokens[after]
    if following.pos[0] in ("助動詞", "補助記号", "空白"):
        return True
    return (
        following.surface == "と"
        and after + 1 < len(tokens)
        and tokens[after + 1].normalized in _NAMING_VERBS
    )


def _is_introduced(folded: str, tokens: list[Morpheme], start: int, after: int) -> bool:
    before = folded[max(0, start - 8) : start].rstrip()
    return before.endswith(_INTRODUCTIONS) and _ends_introduction(tokens, after)


def _text_chunks(text: str) -> Iterator[tuple[int, str]]:
    """Pieces short enough for the analyser (it refuses inputs over 49,149 bytes), cut after
    a sentence where one is near."""
    start = 0
    while len(text) - start > _TOKENIZER_CHUNK:
        limit = start + _TOKENIZER_CHUNK
        cut = max(text.rfind(mark, start + _TOKENIZER_CHUNK // 2, limit) for mark in "。\n")
        end = cut + 1 if cut >= 0 else limit
        yield start, text[start:end]
        start = end
    yield start, text[start:]


def _name_spans(text: str, folded: str) -> Iterator[_Span]:
    for offset, chunk in _text_chunks(text):
        tokens = morphemes(chunk)
        index = 0
        while index < len(tokens):
            if not _is_person(tokens[index]):
                index += 1
                continue
            after = _name_run_end(tokens, index)
            run = tokens[index:after]
            start, end = offset + run[0].begin, offset + run[-1].end
            if text[start:end] not in NOT_PERSONS and (
                _is_full_name(run)
                or (after < len(tokens) and tokens[after].surface in HONORIFICS)
                or _is_introduced(folded, tokens, start, after)
            ):
                yield _Span(start, end, PersonalDataKind.NAME)
            index = after


# --- Masking -----------------------------------------------------------------------------


def _merged(spans: list[_Span]) -> list[_Span]:
    """Overlapping findings become one mask, named by the kind that ranks first."""
    merged: list[_Span] = []
    for span in sorted(spans, key=lambda s: (s.start, -s.end)):
        if merged and span.start < merged[-1].end:
            last = merged[-1]
            kind = min(last.kind, span.kind, key=_PRIORITY.index)
            merged[-1] = _Span(last.start, max(last.end, span.end), kind)
        else:
            merged.append(span)
    return merged


def personal_data_spans(text: str) -> list[tuple[int, int, PersonalDataKind]]:
    """Where the personal data in ``text`` is, as (start, end, kind), in order, not overlapping."""
    folded = _folded(text)
    spans = [
        *_email_spans(text, folded),
        *_individual_number_spans(folded),
        *_phone_spans(folded),
        *_postal_code_spans(folded),
        *_address_spans(folded),
        *_name_spans(text, folded),
    ]
    return [(span.start, span.end, span.kind) for span in _merged(spans)]


def _masked_once(text: str) -> tuple[str, set[PersonalDataKind]]:
    pieces: list[str] = []
    kinds: set[PersonalDataKind] = set()
    position = 0
    for start, end, kind in personal_data_spans(text):
        pieces.append(text[position:start])
        pieces.append(PLACEHOLDERS[kind])
        kinds.add(kind)
        position = end
    pieces.append(text[position:])
    return "".join(pieces), kinds


def mask(text: str) -> MaskedText:
    """``text`` with each piece of personal data replaced by the placeholder of its kind.

    A mask can uncover more: a number that touched a masked one is alone now. Masking again
    until nothing changes makes ``mask(mask(x).text) == mask(x)`` hold.
    """
    kinds: set[PersonalDataKind] = set()
    for _pass in range(_MAX_PASSES):
        masked, found = _masked_once(text)
        kinds |= found
        if masked == text:
            break
        text = masked
    return MaskedText(text=text, kinds=tuple(sorted(kind.value for kind in kinds)))
