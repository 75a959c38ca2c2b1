"""The public page of an opinion analysis: what it says, how its charts are drawn (dots scaled
into the box, sampled above 5,000, labels apart, twelve colours), and that nothing a citizen
wrote can become markup. Rendered from result dicts built here; no database."""

import copy
import itertools
import math
import random
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest
from django.template.loader import render_to_string

from evaluations.listening import page
from evaluations.listening.page import (
    MAX_DOTS,
    PALETTE,
    SCATTER_HEIGHT,
    SCATTER_PADDING,
    SCATTER_WIDTH,
    page_context,
    sample_indices,
    scale_points,
    text_width,
)

TEMPLATE = "evaluations/opinion_analysis.html"
INJECTION = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'
AGE_BANDS = ["70代以上", "10代", "不明", "30代", "20代", "9歳以下"]


def make_result(
    sizes: list[int],
    *,
    children: int = 2,
    llm: str | None = None,
    published: bool = True,
    label: str = "グループ{index}",
    seed: int = 0,
) -> dict:
    """A result shaped as the analysis serves it: ``sizes[i]`` opinions in level-1 cluster i,
    each cluster's points around its own centre, split into ``children`` level-2 clusters."""
    rng = random.Random(seed)
    clusters = [
        {"level": 0, "id": "0", "label": "全体", "takeaway": "", "value": sum(sizes), "parent": ""}
    ]
    arguments = []
    for index, size in enumerate(sizes):
        top = f"1_{index}"
        ids = [f"A{index}-{n}" for n in range(size)]
        clusters.append(
            {
                "level": 1,
                "id": top,
                "label": label.format(index=index),
                "takeaway": f"要約{index}",
                "value": size,
                "parent": "0",
                "terms": [f"語{index}a", f"語{index}b"],
                "representatives": ids[:7],
            }
        )
        for child in range(children):
            members = ids[child::children]
            clusters.append(
                {
                    "level": 2,
                    "id": f"2_{index}_{child}",
                    "label": f"小{index}-{child}",
                    "takeaway": "",
                    "value": len(members),
                    "parent": top,
                    "terms": [f"細{index}{child}"],
                    "representatives": members[:2],
                }
            )
        centre = (math.cos(index), math.sin(index))
        for n, arg_id in enumerate(ids):
            arguments.append(
                {
                    "arg_id": arg_id,
                    "argument": f"意見{arg_id}の本文",
                    "x": centre[0] + rng.gauss(0, 0.1),
                    "y": centre[1] + rng.gauss(0, 0.1),
                    "cluster_ids": ["0", top, f"2_{index}_{n % max(children, 1)}"],
                    "attributes": {
                        "age_band": AGE_BANDS[n % len(AGE_BANDS)],
                        "municipality": "秋田市",
                    },
                    "initiatives": [
                        {
                            "number": 1,
                            "title": "電子申請・届出サービスの充実",
                            "score": 0.6,
                            "confirmed": False,
                        },
                        {
                            "number": 7,
                            "title": "デジタル人材の育成",
                            "score": 0.2,
                            "confirmed": True,
                        },
                        {"number": 9, "title": "関連の薄い取組", "score": 0.1, "confirmed": False},
                    ],
                }
            )
    age_tab = {
        f"1_{index}": {
            band: sum(1 for n in range(size) if AGE_BANDS[n % 6] == band) for band in AGE_BANDS
        }
        for index, size in enumerate(sizes)
    }
    return {
        "analysis": {
            "id": 3,
            "plan": {"code": "akita-dx", "name": "秋田県DX推進計画", "organisation": "秋田県"},
            "title": "令和7年度 県民意見の分析",
            "seed": 0,
            "opinion_count": sum(sizes),
            "created_at": "2026-11-30T10:00:00+09:00",
            "published_at": "2026-11-30T03:00:00+00:00" if published else None,
            "method": {
                "tokenizer": "sudachipy 0.7.0, sudachidict-core 20261015",
                "vectoriser": "TF-IDF + LSA (100)",
                "clustering": "k-means (fine) + Ward (coarse)",
                "llm": llm,
            },
        },
        "overview": "全体として、手続のオンライン化を求める意見が多い。",
        "clusters": clusters,
        "arguments": arguments,
        "crosstabs": {
            "age_band": age_tab,
            "municipality": {f"1_{index}": {"秋田市": size} for index, size in enumerate(sizes)},
        },
        "initiatives": [
            {"number": 7, "title": "デジタル人材の育成", "value": 4},
            {"number": 1, "title": "電子申請・届出サービスの充実", "value": 35},
        ],
    }


def render(result: dict) -> str:
    return render_to_string(TEMPLATE, page_context(result))


class Elements(HTMLParser):
    """Every start tag of a page with its attributes, as a browser's tokenizer would see them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs) -> None:
        self.tags.append((tag, dict(attrs)))


def elements(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = Elements()
    parser.feed(html)
    return parser.tags


def svgs(html: str) -> list[ET.Element]:
    """Each inline SVG parsed as XML: it must be well-formed to be drawn at all."""
    return [ET.fromstring(match) for match in re.findall(r"<svg .*?</svg>", html, flags=re.S)]


SVG = "{http://www.w3.org/2000/svg}"


def circles(html: str) -> list[ET.Element]:
    charts = [svg for svg in svgs(html) if svg.find(f"{SVG}title") is not None]
    return [circle for svg in charts for circle in svg.iter(f"{SVG}circle")]


# --- what the page says ---------------------------------------------------------------------


def test_the_page_names_the_analysis_the_plan_the_dates_and_the_method() -> None:
    html = render(make_result([120, 60, 40]))
    assert '<html lang="ja">' in html
    assert "<h1>令和7年度 県民意見の分析</h1>" in html
    assert "秋田県DX推進計画（秋田県）" in html
    assert "220件" in html
    assert "2026年11月30日 10:00" in html
    assert "2026年11月30日 12:00" in html  # published at 03:00 UTC, shown in Japan time
    assert "sudachipy 0.7.0, sudachidict-core 20261015" in html
    assert "k-means (fine) + Ward (coarse)" in html
    assert "AIによる要約" not in html
    assert "未公表" not in html
    assert "全体として、手続のオンライン化を求める意見が多い。" in html


def test_the_ai_note_appears_only_when_a_language_model_wrote_the_summaries() -> None:
    html = render(make_result([10], llm="llm-jp-3 1.8b (local)"))
    assert "AIによる要約" in html
    assert "llm-jp-3 1.8b (local)" in html


def test_an_unpublished_analysis_says_it_is_a_preview() -> None:
    assert "未公表・プレビュー" in render(make_result([10], published=False))


def test_no_script_and_nothing_from_another_origin() -> None:
    html = render(make_result([50, 30]))
    tags = elements(html)
    assert not [tag for tag, _ in tags if tag in {"script", "link", "iframe", "object", "img"}]
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html)
    assert "@import" not in html and "url(" not in html
    assert not [name for _, attrs in tags for name in attrs if name.startswith("on")]


def test_each_level1_cluster_has_its_section_terms_children_and_representatives() -> None:
    result = make_result([12, 8], children=3)
    html = render(result)
    section = html.split('id="cluster-1"')[1].split('id="cluster-2"')[0]
    assert "グループ0" in section and "要約0" in section
    assert "特徴的な語：語0a、語0b" in section
    assert section.count("小0-") == 3 and "小1-" not in section
    assert section.count("<blockquote>") == 5  # seven representatives listed, five shown
    assert "意見A0-0の本文" in section and "意見A0-5の本文" not in section
    # the linked initiatives are the confirmed one and the best-scoring one
    assert "1 電子申請・届出サービスの充実（推定）" in section
    assert "7 デジタル人材の育成" in section and "7 デジタル人材の育成（推定）" not in section
    assert "関連の薄い取組" not in section


def test_opinions_whose_authors_did_not_consent_are_not_shown() -> None:
    result = make_result([10])
    hidden = {"A0-1", "A0-3"}
    for argument in result["arguments"]:
        if argument["arg_id"] in hidden:
            argument["argument"] = None
    result["clusters"][1]["representatives"] = ["A0-1", "A0-2", "missing", "A0-3", "A0-4"]
    context = page_context(result)
    assert [o.arg_id for o in context["clusters"][0].representatives] == ["A0-2", "A0-4"]
    html = render_to_string(TEMPLATE, context)
    assert "意見A0-2の本文" in html and "A0-1" not in html and "None" not in html
    assert len(circles(html)) == 10  # still counted and plotted


# --- hostile text ---------------------------------------------------------------------------


def test_text_from_citizens_and_staff_is_escaped_everywhere() -> None:
    result = make_result([6, 4])
    result["analysis"]["title"] = INJECTION
    result["analysis"]["plan"]["name"] = INJECTION
    result["analysis"]["method"]["llm"] = INJECTION
    result["overview"] = INJECTION
    for cluster in result["clusters"]:
        cluster.update(label=INJECTION, takeaway=INJECTION, terms=[INJECTION])
    for argument in result["arguments"]:
        argument["argument"] = INJECTION
        argument["initiatives"][0]["title"] = INJECTION
    result["crosstabs"]["municipality"] = {"1_0": {INJECTION: 3, "秋田市": 3}}
    result["crosstabs"][INJECTION] = {"1_0": {INJECTION: 1}}
    result["initiatives"][0]["title"] = INJECTION

    html = render(result)
    tags = elements(html)
    assert not [tag for tag, _ in tags if tag in {"script", "img"}]
    assert not [name for _, attrs in tags for name in attrs if name.startswith("on")]
    assert "<script>alert" not in html and "<img" not in html
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img") >= 10
    assert len(svgs(html)) >= 2  # still well-formed XML


def test_cluster_ids_never_reach_an_attribute() -> None:
    result = make_result([3])
    quote = '1_0" onmouseover="alert(1)'
    result["clusters"][1]["id"] = quote
    for argument in result["arguments"]:
        argument["cluster_ids"] = ["0", quote]
    html = render(result)
    assert not [name for _, attrs in elements(html) for name in attrs if name.startswith("on")]
    assert "グループ0" in html and len(circles(html)) == 3


# --- the scatter chart ----------------------------------------------------------------------


def test_points_are_scaled_into_the_box_with_y_upwards() -> None:
    points = [(-3.0, 10.0), (5.0, 20.0), (1.0, 15.0)]
    scaled = scale_points(points, width=200, height=100, padding=10)
    assert scaled[0] == (10, 90)  # smallest x at the left, smallest y at the bottom
    assert scaled[1] == (190, 10)
    assert scaled[2] == (100, 50)


def test_equal_coordinates_and_a_single_point_sit_in_the_middle() -> None:
    assert scale_points([(2.0, 2.0)] * 3, width=200, height=100, padding=10) == [(100, 50)] * 3
    assert scale_points([(0.5, -1.0)], width=200, height=100, padding=10) == [(100, 50)]
    assert scale_points([], width=200, height=100, padding=10) == []


def test_one_cluster_with_one_opinion() -> None:
    context = page_context(make_result([1], children=1))
    chart = context["scatter"]
    assert chart.groups[0].dots == [(SCATTER_WIDTH / 2, SCATTER_HEIGHT / 2)]
    assert [label.text for label in chart.labels] == ["グループ0"]
    html = render_to_string(TEMPLATE, context)
    assert len(circles(html)) == 1 and "100.0%" in html


def test_no_opinions_renders_a_page_without_charts() -> None:
    result = make_result([])
    result["overview"] = ""
    result["crosstabs"] = {}
    result["initiatives"] = []
    html = render(result)
    assert "図示できる意見はありません。" in html
    assert "グループはありません。" in html
    assert "<svg" not in html
    assert "0件" in html
    assert 'id="overview"' not in html and 'id="crosstabs"' not in html


def test_every_dot_lies_inside_the_box_and_keeps_its_cluster_colour() -> None:
    result = make_result([700, 500, 400, 400])
    html = render(result)
    dots = circles(html)
    assert len(dots) == 2000  # below the limit: all drawn, none sampled
    assert "抽出して表示" not in html
    for dot in dots:
        assert (
            SCATTER_PADDING - 0.05 <= float(dot.get("cx")) <= SCATTER_WIDTH - SCATTER_PADDING + 0.05
        )
        assert (
            SCATTER_PADDING - 0.05
            <= float(dot.get("cy"))
            <= SCATTER_HEIGHT - SCATTER_PADDING + 0.05
        )
    chart = page_context(result)["scatter"]
    assert [(group.colour, len(group.dots)) for group in chart.groups] == list(
        zip(PALETTE[:4], [700, 500, 400, 400], strict=True)
    )
    assert "2,000件を表示" in html


def test_above_the_limit_the_same_sample_is_drawn_and_the_page_says_so() -> None:
    result = make_result([4000, 2500])
    html = render(result)
    assert len(circles(html)) == MAX_DOTS
    assert "6,500件のうち5,000件を抽出して表示" in html
    shuffled = copy.deepcopy(result)
    random.Random(1).shuffle(shuffled["arguments"])
    first = page_context(result)["scatter"]
    second = page_context(shuffled)["scatter"]
    assert [sorted(g.dots) for g in first.groups] == [sorted(g.dots) for g in second.groups]
    # the sample keeps the clusters' proportions roughly (a hash, not the first 5,000)
    assert [len(group.dots) for group in first.groups] == pytest.approx([3077, 1923], abs=80)


def test_the_sample_does_not_depend_on_order() -> None:
    keys = [f"A{n}" for n in range(300)]
    chosen = {keys[i] for i in sample_indices(keys, 100)}
    reversed_keys = keys[::-1]
    assert {reversed_keys[i] for i in sample_indices(reversed_keys, 100)} == chosen
    assert len(chosen) == 100
    assert sample_indices(keys[:50], 100) == list(range(50))


def test_opinions_without_finite_coordinates_are_left_out_of_the_chart() -> None:
    result = make_result([5])
    result["arguments"][0]["x"] = None
    result["arguments"][1]["y"] = float("nan")
    result["arguments"][2]["x"] = float("inf")
    chart = page_context(result)["scatter"]
    assert chart.plotted == 2 and sum(len(g.dots) for g in chart.groups) == 2


def test_opinions_outside_every_level1_cluster_are_drawn_grey() -> None:
    result = make_result([4])
    result["arguments"][0]["cluster_ids"] = ["0"]
    chart = page_context(result)["scatter"]
    assert [(g.label, len(g.dots)) for g in chart.groups] == [("未分類", 1), ("グループ0", 3)]


def test_labels_sit_at_their_centroid_and_never_overlap() -> None:
    result = make_result([30] * 12)
    for argument in result["arguments"]:  # every cluster centred on the same spot
        argument["x"], argument["y"] = 0.0, 0.0
    result["arguments"][0]["x"] = 1.0  # so that the axis has a span
    labels = page_context(result)["scatter"].labels
    assert len(labels) == 12
    boxes = []
    for label in labels:
        half = text_width(label.text, page.LABEL_FONT_SIZE) / 2
        boxes.append((label.x - half, label.y - page.LABEL_LINE + 4, label.x + half, label.y + 4))
        assert label.x - half >= 0 and label.x + half <= SCATTER_WIDTH
        assert page.LABEL_LINE <= label.y <= SCATTER_HEIGHT
    for a, b in itertools.combinations(boxes, 2):
        assert not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3])


def test_an_isolated_label_is_at_its_cluster_centroid() -> None:
    context = page_context(make_result([40, 40]))
    chart = context["scatter"]
    for group, label in zip(chart.groups, chart.labels, strict=True):
        x = sum(x for x, _ in group.dots) / len(group.dots)
        y = sum(y for _, y in group.dots) / len(group.dots)
        assert label.x == pytest.approx(x, abs=0.2) and label.y == pytest.approx(y, abs=0.2)


def test_long_labels_are_shortened_in_charts_and_whole_elsewhere() -> None:
    long = "スマートフォンによる行政手続のオンライン申請と窓口での本人確認の簡素化に関する意見"
    html = render(make_result([20, 10], label=long + "{index}"))
    fits = {"chart-label": (page.LABEL_FONT_SIZE, page.MAX_CHART_LABEL_WIDTH)}
    bar_fit = (page.BAR_FONT_SIZE, page.BAR_LABEL_WIDTH - 8)
    chart_texts = [
        ("".join(text.itertext()), fits.get(text.get("class"), bar_fit))
        for svg in svgs(html)
        for text in svg.iter(f"{SVG}text")
        if text.find(f"{SVG}title") is not None
    ]
    assert len(chart_texts) == 4  # two scatter labels, two bar labels
    for text, (font_size, room) in chart_texts:
        tooltip, shown = text[: len(long) + 1], text[len(long) + 1 :]
        assert tooltip in {long + "0", long + "1"}
        assert shown.endswith("…") and tooltip.startswith(shown[:-1])
        assert text_width(shown, font_size) <= room
    assert html.count(f"<title>{long}0</title>") == 2  # scatter label and bar label tooltips
    assert f'<a href="#cluster-1">{long}0</a>' in html


# --- colours and the bar chart --------------------------------------------------------------


def _luminance(colour: str) -> float:
    def linear(channel: int) -> float:
        value = channel / 255
        return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(int(colour[i : i + 2], 16)) for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _lab(colour: str) -> tuple[float, float, float]:
    def linear(channel: int) -> float:
        value = channel / 255
        return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(int(colour[i : i + 2], 16)) for i in (1, 3, 5))
    x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883

    def f(t: float) -> float:
        return t ** (1 / 3) if t > 0.008856 else 7.787 * t + 16 / 116

    return 116 * f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z))


def test_twelve_distinguishable_colours_each_visible_on_white() -> None:
    assert len(set(PALETTE)) == 12
    for colour in PALETTE:
        assert 1.05 / (_luminance(colour) + 0.05) >= 3.0, colour
    for a, b in itertools.combinations(PALETTE, 2):
        assert math.dist(_lab(a), _lab(b)) >= 20, (a, b)


def test_twelve_clusters_get_twelve_colours_and_a_thirteenth_cycles() -> None:
    clusters = page_context(make_result([5] * 13))["clusters"]
    assert len({cluster.colour for cluster in clusters[:12]}) == 12
    assert clusters[12].colour == clusters[0].colour


def test_the_bar_chart_is_proportional_and_has_a_table() -> None:
    result = make_result([120, 60, 30])
    context = page_context(result)
    widths = [bar.width for bar in context["bars"].bars]
    assert widths[0] == page.BAR_PLOT_WIDTH
    assert widths[1] == pytest.approx(widths[0] / 2) and widths[2] == pytest.approx(widths[0] / 4)
    html = render_to_string(TEMPLATE, context)
    table = html.split("表2 大きなグループごとの意見数")[1].split("</table>")[0]
    assert 'グループ0</a></th><td class="number">120件</td><td class="number">57.1%' in table
    assert 'グループ2</a></th><td class="number">30件</td><td class="number">14.3%' in table


def test_each_chart_has_an_accessible_name_and_a_table() -> None:
    html = render(make_result([10, 10]))
    charts = [svg for svg in svgs(html) if svg.get("role") == "img"]
    assert len(charts) == 2
    for chart in charts:
        for reference in chart.get("aria-labelledby").split():
            assert f'id="{reference}"' in html
    assert "表1 図1の色とグループ" in html and "表2 大きなグループごとの意見数" in html


# --- cross-tabulations and initiatives ------------------------------------------------------


def test_age_bands_are_in_age_order_with_totals() -> None:
    result = make_result([12, 6])
    crosstab = page_context(result)["crosstabs"][0]
    assert crosstab.title == "年代"
    assert crosstab.columns == ["9歳以下", "10代", "20代", "30代", "70代以上", "不明"]
    assert [row.total for row in crosstab.rows] == [12, 6]
    assert crosstab.totals == [3, 3, 3, 3, 3, 3] and crosstab.grand_total == 18
    html = render(result)
    assert "グループ × 年代" in html


def test_municipalities_show_the_ten_largest_and_the_rest_as_others() -> None:
    result = make_result([30, 20])
    towns = {f"町{n:02d}": n + 1 for n in range(14)}  # 町13 the largest
    result["crosstabs"]["municipality"] = {"1_0": towns, "1_1": {"町00": 20}}
    crosstab = page_context(result)["crosstabs"][1]
    assert crosstab.columns[0] == "町00"  # 1 + 20
    assert crosstab.columns[1:10] == [f"町{n:02d}" for n in range(13, 4, -1)]
    assert crosstab.columns[-1] == "その他" and crosstab.folded == 4
    assert crosstab.rows[0].counts[-1] == 2 + 3 + 4 + 5  # 町01..町04
    assert crosstab.rows[0].total == sum(towns.values())
    assert sum(crosstab.rows[0].counts) == crosstab.rows[0].total
    assert "市町村は意見の多い上位10を表示し、ほかの4は「その他」" in render(result)


def test_initiatives_are_listed_by_number_with_their_counts() -> None:
    html = render(make_result([10]))
    section = html.split('id="initiatives"')[1]
    first = section.index('電子申請・届出サービスの充実</th><td class="number">35件')
    assert first < section.index('デジタル人材の育成</th><td class="number">4件')
