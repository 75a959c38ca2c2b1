"""The broad-listening engine: two-level clusters, labels, coordinates and initiative links."""

import json
import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest

from benchmarks.opinion_analysis import (
    initiative_texts_from_plan_file,
    link_accuracy,
    load_evaluation_set,
    with_confirmed_opinions,
)
from evaluations.listening.analysis import (
    AnalysisResult,
    InitiativeText,
    OpinionText,
    analyse,
    default_cluster_counts,
    tokens,
)
from evaluations.listening.vectors import VectorSettings

ROOT = Path(__file__).resolve().parent.parent
THEMES = {
    10: ["マイナンバーカード", "交付窓口", "休日", "受け取り"],
    20: ["バス", "公共交通", "デマンド交通", "通院"],
    30: ["スマートフォン", "操作", "高齢者", "講座"],
    40: ["携帯電話", "電波", "不感地域", "山間部"],
    50: ["タブレット", "授業", "プログラミング", "学校"],
}
TEMPLATES = [
    "{0}の{1}をもっと改善してほしい。{3}も大事。",
    "{2}について、{0}と{1}が不便だと感じます。［電話番号］",
    "{3}のために{1}と{2}を充実させてください。",
    "{0}と{2}、{3}の取組を進めてほしいです。［氏名］",
    "{1}の{3}が分かりにくい。{0}を見直して。",
    "{3}でも{0}と{2}を使いやすくしてほしい。",
]
INITIATIVES = [
    InitiativeText(id=number * 10, text=" ".join(words) + "の推進")
    for number, words in enumerate(THEMES.values(), start=1)
]


def themed_opinions() -> tuple[list[OpinionText], list[int]]:
    opinions, truths = [], []
    for theme, words in THEMES.items():
        for template in TEMPLATES:
            opinions.append(OpinionText(id=1000 + len(opinions), text=template.format(*words)))
            truths.append(theme)
    return opinions, truths


def dump(result: AnalysisResult) -> str:
    return json.dumps(asdict(result), ensure_ascii=False, sort_keys=True)


def assert_well_formed(result: AnalysisResult, opinions: list[OpinionText], top_links: int = 3):
    coarse = [c for c in result.clusters if c.level == 1]
    fine = [c for c in result.clusters if c.level == 2]
    assert result.clusters == coarse + fine
    coarse_keys = {c.key for c in coarse}
    fine_parent = {c.key: c.parent for c in fine}
    assert all(c.parent == "0" for c in coarse)
    assert set(fine_parent.values()) <= coarse_keys
    for level in (coarse, fine):
        assert sum(c.size for c in level) == len(opinions)
        assert [c.size for c in level] == sorted((c.size for c in level), reverse=True)
        assert all(c.size > 0 and len(c.terms) <= 8 for c in level)
    assert [p.opinion_id for p in result.placements] == [o.id for o in opinions]
    members: dict[str, set[int]] = {}
    for placement in result.placements:
        assert fine_parent[placement.fine] == placement.coarse
        members.setdefault(placement.fine, set()).add(placement.opinion_id)
        members.setdefault(placement.coarse, set()).add(placement.opinion_id)
        scores = [score for _, score in placement.links]
        assert len(placement.links) <= top_links
        assert scores == sorted(scores, reverse=True)
        assert all(0 < score <= 1 for score in scores)
    for cluster in result.clusters:
        assert len(members[cluster.key]) == cluster.size
        assert 1 <= len(cluster.representative_ids) <= min(5, cluster.size)
        assert set(cluster.representative_ids) <= members[cluster.key]
    assert result.parameters["n_coarse"] == len(coarse)
    assert result.parameters["n_fine"] == len(fine)


def test_tokens_keep_content_words_by_normalized_form():
    words = tokens("子どもたちがタブレットで勉強しています。ＡＩを使いたいと思います。")
    assert "子供達" in words and "タブレット" in words and "勉強" in words
    assert "ai" in words and "使う" in words
    assert not {"思う", "為る", "居る", "が", "で"} & set(words)


def test_tokens_drop_numbers_symbols_and_particles():
    assert tokens("１２３、４５６。！？ですがね") == []


def test_placeholders_are_never_words_but_the_same_words_written_plainly_are():
    assert tokens("［電話番号］［氏名］［メールアドレス］までどうぞ") == []
    assert "電話番号" in tokens("電話番号の入力欄が分かりにくい")


def test_placeholders_never_become_cluster_terms():
    opinions, _ = themed_opinions()
    masked = [
        OpinionText(id=o.id, text=f"［氏名］です。{o.text}［電話番号］［住所］") for o in opinions
    ]
    result = analyse(masked, INITIATIVES)
    terms = {term for cluster in result.clusters for term in cluster.terms}
    assert terms and not terms & {"氏名", "電話番号", "住所", "[", "]"}


def test_same_seed_gives_byte_identical_results():
    opinions, _ = themed_opinions()
    first = analyse(opinions, INITIATIVES, seed=7)
    second = analyse(opinions, INITIATIVES, seed=7)
    assert dump(first) == dump(second)


DUMP_SHIPPED_SET = """
import hashlib, json
from dataclasses import asdict
from benchmarks.opinion_analysis import initiative_texts_from_plan_file, load_evaluation_set
from evaluations.listening.analysis import OpinionText, analyse
rows = load_evaluation_set()
opinions = [OpinionText(id=int(row["id"]), text=row["text"]) for row in rows]
result = analyse(opinions, initiative_texts_from_plan_file(), seed=3)
print(hashlib.sha256(json.dumps(asdict(result), ensure_ascii=False).encode()).hexdigest())
"""


def test_result_does_not_depend_on_the_number_of_threads():
    digests = set()
    for threads in ("1", "2"):
        environment = os.environ | {"OPENBLAS_NUM_THREADS": threads, "OMP_NUM_THREADS": threads}
        output = subprocess.run(
            [sys.executable, "-c", DUMP_SHIPPED_SET],
            env=environment,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        digests.add(output.stdout.strip())
    assert len(digests) == 1


def test_another_seed_still_gives_a_well_formed_result():
    opinions, _ = themed_opinions()
    for seed in (1, 2):
        assert_well_formed(analyse(opinions, INITIATIVES, seed=seed), opinions)


def test_two_levels_fit_together_and_themes_are_found():
    opinions, truths = themed_opinions()
    result = analyse(opinions, INITIATIVES, n_fine=5, n_coarse=2)
    assert_well_formed(result, opinions)
    assert result.parameters["n_fine"] == 5 and result.parameters["n_coarse"] == 2
    by_theme: dict[int, set[str]] = {}
    for placement, theme in zip(result.placements, truths, strict=True):
        by_theme.setdefault(theme, set()).add(placement.fine)
    assert sum(len(clusters) == 1 for clusters in by_theme.values()) >= 4


def test_links_point_to_the_theme_initiative_and_respect_top_links():
    opinions, truths = themed_opinions()
    result = analyse(opinions, INITIATIVES, top_links=2)
    assert_well_formed(result, opinions, top_links=2)
    assert link_accuracy(result, truths, 1) >= 0.9
    assert all(p.links == [] for p in analyse(opinions, INITIATIVES, top_links=0).placements)
    assert all(p.links == [] for p in analyse(opinions, []).placements)


def test_cluster_terms_are_distinctive_words_of_the_cluster():
    opinions, truths = themed_opinions()
    result = analyse(opinions, INITIATIVES, n_fine=5, n_coarse=5)
    fine_of = {p.opinion_id: p.fine for p in result.placements}
    for cluster in (c for c in result.clusters if c.level == 2):
        themes = {t for o, t in zip(opinions, truths, strict=True) if fine_of[o.id] == cluster.key}
        if len(themes) == 1:
            theme_words = {word for text in THEMES[themes.pop()] for word in tokens(text)}
            assert cluster.terms[0] in theme_words


@pytest.mark.parametrize("size", [0, 1, 2, 5])
def test_tiny_inputs(size):
    opinions, _ = themed_opinions()
    chosen = opinions[::6][:size]
    result = analyse(chosen, INITIATIVES, n_fine=10, n_coarse=4)
    if size == 0:
        assert result.clusters == [] and result.placements == []
        return
    assert_well_formed(result, chosen)
    assert result.parameters["n_fine"] <= size


def test_identical_texts_make_one_cluster():
    opinions = [OpinionText(id=i, text="バスの本数を増やしてほしい。") for i in range(1, 30)]
    result = analyse(opinions, INITIATIVES)
    assert_well_formed(result, opinions)
    assert result.parameters["n_fine"] == 1 and result.parameters["n_coarse"] == 1
    assert len({(p.x, p.y) for p in result.placements}) == 1


def test_texts_without_content_words():
    texts = ["よろしくお願いします。", "［氏名］［電話番号］", "", "！！！", "はい。"]
    opinions = [OpinionText(id=i, text=text) for i, text in enumerate(texts, start=1)]
    for initiatives in (INITIATIVES, []):
        result = analyse(opinions, initiatives)
        assert_well_formed(result, opinions)
        assert all(c.terms == [] for c in result.clusters)
        assert all(p.links == [] for p in result.placements)


def test_progress_reports_every_stage_to_its_end():
    opinions, _ = themed_opinions()
    seen: dict[str, tuple[int, int]] = {}
    analyse(
        opinions,
        INITIATIVES,
        progress=lambda stage, done, total: seen.update({stage: (done, total)}),
    )
    assert list(seen) == ["tokenise", "vectorise", "cluster", "label", "place"]
    assert all(done == total for done, total in seen.values())


def test_default_cluster_counts_grow_slowly_and_stay_bounded():
    assert default_cluster_counts(0) == (0, 0)
    assert default_cluster_counts(1) == (1, 1)
    counts = [default_cluster_counts(n) for n in (10, 100, 1000, 100_000)]
    assert all(coarse <= fine for coarse, fine in counts)
    assert counts == sorted(counts)
    assert counts[-1] == (7, 50)


def test_shipped_evaluation_set_links_its_initiatives_well_above_chance():
    """Chance is 3/91 for top-3. The goal of 0.9 is not reached by words alone (measured 0.46,
    see benchmarks/README.md); this floor catches a regression of the linking."""
    rows = load_evaluation_set()
    opinions = [OpinionText(id=int(row["id"]), text=row["text"]) for row in rows]
    initiatives = initiative_texts_from_plan_file()
    result = analyse(opinions, initiatives)
    assert_well_formed(result, opinions)
    truths = [int(row["initiative_number"]) for row in rows]
    assert link_accuracy(result, truths, 1) >= 0.28
    assert link_accuracy(result, truths, 3) >= 0.45


def test_pseudo_feedback_helps_the_links_and_can_be_switched_off():
    """The surest opinions added to their initiative help the others; share 0 links once."""
    rows = load_evaluation_set()
    opinions = [OpinionText(id=int(row["id"]), text=row["text"]) for row in rows]
    truths = [int(row["initiative_number"]) for row in rows]
    initiatives = initiative_texts_from_plan_file()
    once = analyse(opinions, initiatives, vector_settings=VectorSettings(feedback_share=0.0))
    fed = analyse(opinions, initiatives)
    assert link_accuracy(fed, truths, 3) >= link_accuracy(once, truths, 3) + 0.03
    assert link_accuracy(fed, truths, 1) >= link_accuracy(once, truths, 1) + 0.02
    assert once.parameters["vectors"]["feedback_share"] == 0.0
    assert [p.fine for p in once.placements] == [p.fine for p in fed.placements]


def test_confirmed_opinions_added_to_their_initiative_improve_the_links():
    """The secretariat's confirmed links, fed back as initiative text, help the other opinions."""
    rows = load_evaluation_set()
    confirmed = [row for row in rows if int(row["id"]) % 10 < 3]
    others = [row for row in rows if int(row["id"]) % 10 >= 3]
    plain = initiative_texts_from_plan_file()
    enriched = with_confirmed_opinions(plain, confirmed)
    opinions = [OpinionText(id=int(row["id"]), text=row["text"]) for row in others]
    truths = [int(row["initiative_number"]) for row in others]
    before = link_accuracy(analyse(opinions, plain), truths, 3)
    after = link_accuracy(analyse(opinions, enriched), truths, 3)
    assert after >= before + 0.1
