"""Masking of personal data in opinions (``evaluations.listening.masking``): phone numbers,
e-mail and postal addresses, individual numbers and personal names become placeholders, in
half- and full-width writing; ordinary words, numbers, place names and the prefecture's own
offices stay; the text around a mask is unchanged, and masking twice changes nothing more."""

import random

import pytest

from evaluations.listening.masking import (
    ADDRESS_PLACEHOLDER,
    EMAIL_PLACEHOLDER,
    INDIVIDUAL_NUMBER_PLACEHOLDER,
    NAME_PLACEHOLDER,
    PHONE_PLACEHOLDER,
    PLACEHOLDER_TEXTS,
    POSTAL_CODE_PLACEHOLDER,
    MaskedText,
    PersonalDataKind,
    mask,
    personal_data_spans,
)

ADDRESS, EMAIL, NAME = ADDRESS_PLACEHOLDER, EMAIL_PLACEHOLDER, NAME_PLACEHOLDER
PHONE, POSTAL, NUMBER = PHONE_PLACEHOLDER, POSTAL_CODE_PLACEHOLDER, INDIVIDUAL_NUMBER_PLACEHOLDER

# (opinion, expected masked text); the kinds are those of the placeholders in the result.
MASKED = [
    # Phone numbers
    ("電話は018-860-1234です", f"電話は{PHONE}です"),
    ("電話は0188601234です", f"電話は{PHONE}です"),
    ("携帯090-1234-5678まで", f"携帯{PHONE}まで"),
    ("(018)860-1234に連絡を", f"{PHONE}に連絡を"),
    ("（０１８）８６０－１２３４に連絡を", f"{PHONE}に連絡を"),
    ("+81-90-1234-5678へ", f"{PHONE}へ"),
    ("＋８１ ９０ １２３４ ５６７８へ", f"{PHONE}へ"),
    ("０９０ー１２３４ー５６７８です", f"{PHONE}です"),
    ("090―1234―5678です", f"{PHONE}です"),
    ("０１８‐８６０‐１２３４まで", f"{PHONE}まで"),
    ("窓口0120-123-456は混んでいる", f"窓口{PHONE}は混んでいる"),
    ("IP電話050-1234-5678", f"IP電話{PHONE}"),
    ("TEL0188601234", f"TEL{PHONE}"),
    # E-mail addresses
    ("メールはtaro.sato@example.jpまで", f"メールは{EMAIL}まで"),
    ("ｔａｒｏ＠ｅｘａｍｐｌｅ．ｊｐに返信を", f"{EMAIL}に返信を"),
    ("連絡先: a_b+dx@mail.pref.akita.lg.jp。", f"連絡先: {EMAIL}。"),
    ("taro＠example.jpまで", f"{EMAIL}まで"),
    ("ＤＸtaro@example.jpＤＸ推進", f"ＤＸ{EMAIL}ＤＸ推進"),
    # Postal codes
    ("〒010-8570 に送付", f"{POSTAL} に送付"),
    ("〒０１０８５７０", POSTAL),
    ("住所は010-8570です", f"住所は{POSTAL}です"),
    ("郵便は０１０－８５７０へ", f"郵便は{POSTAL}へ"),
    # Addresses: the municipality stays, what follows it goes
    ("秋田市山王4丁目1番1号に住んでいます", f"秋田市{ADDRESS}に住んでいます"),
    ("秋田市山王四丁目1-1です", f"秋田市{ADDRESS}です"),
    ("秋田市山王４丁目１－１です", f"秋田市{ADDRESS}です"),
    ("大館市字〇〇123番地", f"大館市{ADDRESS}"),
    ("三種町鹿渡123に住む", f"三種町{ADDRESS}に住む"),
    ("秋田県南秋田郡五城目町字上町12-3", f"秋田県南秋田郡五城目町{ADDRESS}"),
    ("にかほ市平沢1-2から", f"にかほ市{ADDRESS}から"),
    ("山王4丁目1番1号に住んでいる", f"{ADDRESS}に住んでいる"),
    ("東京都千代田区丸の内1-1に転居", f"東京都千代田区{ADDRESS}に転居"),
    ("〒010-8570 秋田市山王4丁目1番1号", f"{POSTAL} 秋田市{ADDRESS}"),
    # Individual numbers
    ("マイナンバーは123456789012です", f"マイナンバーは{NUMBER}です"),
    ("番号1234 5678 9012を書いた", f"番号{NUMBER}を書いた"),
    ("番号１２３４－５６７８－９０１２", f"番号{NUMBER}"),
    # Names: a full name, an honorific, or an introduction
    ("私は佐藤太郎です。", f"私は{NAME}です。"),
    ("田中さんに聞いた", f"{NAME}さんに聞いた"),
    ("山田様から", f"{NAME}様から"),
    ("鈴木花子先生の授業", f"{NAME}先生の授業"),
    ("名前は高橋です", f"名前は{NAME}です"),
    ("私、伊藤と申します。", f"私、{NAME}と申します。"),
    ("山田　太郎です", f"{NAME}です"),
    ("サトウさんとヤマダタロウ", f"{NAME}さんと{NAME}"),
    ("大館さんと能代に行った", f"{NAME}さんと能代に行った"),
    ("担当の佐藤課長に相談", f"担当の{NAME}課長に相談"),
    # Several kinds in one opinion
    (
        "佐藤太郎です。電話018-860-1234、mail: t@example.com",
        f"{NAME}です。電話{PHONE}、mail: {EMAIL}",
    ),
]

UNCHANGED = [
    "2025年に80.9%の人が利用し、10万円の補助で3人が申請した",
    "行政手続のオンライン化を進めてほしい",
    "秋田県、県庁、市役所の窓口をデジタル化してほしい",
    "横手市の人口は8万人",
    "国道7号が渋滞している",
    "議案第1号に賛成",
    "秋田市国道13号の除雪",
    "一番大事なのは子育て",
    "秋田市山王2丁目の交差点が危ない",
    "予算は123-4567の枠で",
    "合計は123456789012円",
    "1234567890123は13桁",
    "20200401に申請した",
    "令和6年4月1日から",
    "2025-04-01に開始",
    "ＤＸ推進計画第3版",
    "佐藤錦が好き",
    "秋田小町を食べた",
    "私は大館在住です",
    "私は秋田出身です",
    "私は学生です",
    "秋田県庁の佐藤",
    "宮沢賢治の本を読んだ",
    "能代の花火と角館の武家屋敷",
    "スコアは3-1だった",
    "version 1.2.3 を使う",
]


def kinds_in(masked: str) -> tuple[str, ...]:
    by_placeholder = {
        EMAIL: "email",
        PHONE: "phone",
        POSTAL: "postal_code",
        ADDRESS: "address",
        NAME: "name",
        NUMBER: "individual_number",
    }
    return tuple(sorted({kind for text, kind in by_placeholder.items() if text in masked}))


@pytest.mark.parametrize(("opinion", "expected"), MASKED)
def test_personal_data_is_masked(opinion: str, expected: str) -> None:
    result = mask(opinion)
    assert result.text == expected
    assert result.kinds == kinds_in(expected)
    assert result.kinds


@pytest.mark.parametrize("opinion", UNCHANGED)
def test_ordinary_text_stays(opinion: str) -> None:
    assert mask(opinion) == MaskedText(text=opinion, kinds=())


def test_the_table_is_broad() -> None:
    assert len(MASKED) + len(UNCHANGED) >= 40
    found = {kind for opinion, _expected in MASKED for kind in mask(opinion).kinds}
    assert found == {str(kind) for kind in PersonalDataKind}


@pytest.mark.parametrize("opinion", [o for o, _e in MASKED] + UNCHANGED)
def test_masking_twice_changes_nothing_more(opinion: str) -> None:
    once = mask(opinion).text
    assert mask(once).text == once


def test_placeholders_alone_are_not_personal_data() -> None:
    text = "、".join(sorted(PLACEHOLDER_TEXTS)) + "について"
    assert mask(text) == MaskedText(text=text, kinds=())


def test_kinds_are_sorted_and_unique() -> None:
    result = mask("田中さんと鈴木さん、090-1234-5678と018-860-1234")
    assert result.kinds == ("name", "phone")
    assert result.text == f"{NAME}さんと{NAME}さん、{PHONE}と{PHONE}"


PIECES = [
    ("018-860-1234", PHONE),
    ("taro@example.jp", EMAIL),
    ("〒010-8570", POSTAL),
    ("123456789012", NUMBER),
]
SURROUNDINGS = ["除雪を早くしてほしい。", "窓口は", "ＤＸで便利に、", "", "。連絡は", "バスの本数 "]


@pytest.mark.parametrize(("piece", "placeholder"), PIECES)
def test_text_around_a_mask_is_unchanged(piece: str, placeholder: str) -> None:
    chooser = random.Random(piece)
    for _ in range(20):
        before, after = chooser.choice(SURROUNDINGS), chooser.choice(SURROUNDINGS)
        assert mask(before + piece + after).text == before + placeholder + after


FRAGMENTS = [
    *(opinion for opinion, _expected in MASKED[::3]),
    *UNCHANGED[::3],
    "ＤＸ",
    "１２",
    "-",
    "さん",
    "です。",
    " ",
]


def test_masking_twice_changes_nothing_more_on_mixed_texts() -> None:
    chooser = random.Random(15)
    for _ in range(300):
        text = "".join(chooser.choice(FRAGMENTS) for _ in range(chooser.randint(1, 6)))
        once = mask(text)
        again = mask(once.text)
        assert again.text == once.text, text
        assert set(again.kinds) <= set(once.kinds)


def test_spans_point_at_the_original_text() -> None:
    text = "私は佐藤太郎です。電話は０１８－８６０－１２３４、住所は秋田市山王4丁目1番1号"
    spans = personal_data_spans(text)
    assert [(text[start:end], kind) for start, end, kind in spans] == [
        ("佐藤太郎", PersonalDataKind.NAME),
        ("０１８－８６０－１２３４", PersonalDataKind.PHONE),
        ("山王4丁目1番1号", PersonalDataKind.ADDRESS),
    ]


def test_overlapping_findings_become_one_mask() -> None:
    # The digits of the e-mail's local part are a phone number too: one mask, the e-mail.
    assert mask("09012345678@example.jp へ").text == f"{EMAIL} へ"


def test_a_long_text_is_masked_to_its_end() -> None:
    # Longer than the analyser takes at once (49,149 bytes): the name near the end is found.
    filler = "行政のデジタル化を進めてほしいと思います。" * 1500
    result = mask(filler + "私は佐藤太郎です。")
    assert result.text == filler + f"私は{NAME}です。"
    assert result.kinds == ("name",)
