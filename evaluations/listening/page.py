"""The public page of a published opinion analysis, built from its JSON.

Everything the page draws is computed here (the scatter's dots and labels, the bar chart,
the cross-tabulations), so the template only lays it out and the geometry can be tested
without a browser. No JavaScript and no external assets: the site's CSP allows neither
inline scripts nor other origins, and the page must print as it shows.
"""

import hashlib
import math
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.utils import timezone

# Twelve colours told apart by eye (CIE76 distance of 24 or more between any two) and each
# with a contrast of at least 3:1 against the white page (WCAG 1.4.11 for graphics).
PALETTE = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#d95f02",
    "#7b3fb3",
    "#8c564b",
    "#c2185b",
    "#5f6b6d",
    "#7a7a00",
    "#00838f",
    "#1a237e",
    "#a35d00",
)
UNCLUSTERED_COLOUR = "#bdbdbd"
UNCLUSTERED_LABEL = "未分類"

MAX_DOTS = 5000
SCATTER_WIDTH = 760
SCATTER_HEIGHT = 520
SCATTER_PADDING = 24
LABEL_FONT_SIZE = 13
LABEL_LINE = 18
MAX_CHART_LABEL_WIDTH = 14 * LABEL_FONT_SIZE

BAR_LABEL_WIDTH = 230
BAR_PLOT_WIDTH = 420
BAR_HEIGHT = 20
BAR_GAP = 8
BAR_FONT_SIZE = 12

MAX_REPRESENTATIVES = 5
CROSSTAB_COLUMN_LIMITS = {"municipality": 10}
ATTRIBUTE_NAMES = {"age_band": "年代", "municipality": "市町村"}
OTHERS_COLUMN = "その他"


# --- text -----------------------------------------------------------------------------------


def text_width(text: str, font_size: float) -> float:
    """Estimated width of ``text`` in SVG units: full-width characters take one em, the rest
    about half (no font metrics on the server)."""
    wide = sum(1 for char in text if unicodedata.east_asian_width(char) in "WFA")
    return (wide + (len(text) - wide) * 0.55) * font_size


def shorten(text: str, font_size: float, max_width: float) -> str:
    """``text`` cut with an ellipsis so that it fits ``max_width`` (the full text stays in the
    element's tooltip and in the tables)."""
    if text_width(text, font_size) <= max_width:
        return text
    kept = text
    while kept and text_width(kept + "…", font_size) > max_width:
        kept = kept[:-1]
    return kept + "…"


def colour_for(index: int) -> str:
    """The palette cycles beyond twelve clusters; their labels still tell them apart."""
    return PALETTE[index % len(PALETTE)]


def percentage(part: int, whole: int) -> float | None:
    return round(part * 100 / whole, 1) if whole else None


# --- the scatter chart ----------------------------------------------------------------------


def scale_axis(values: list[float], low: float, high: float) -> list[float]:
    """``values`` mapped linearly onto ``low``..``high``; all at the middle when they are all
    equal (one opinion, or a degenerate projection)."""
    if not values:
        return []
    smallest, largest = min(values), max(values)
    span = largest - smallest
    if not span > 0 or not math.isfinite(span):
        return [(low + high) / 2] * len(values)
    return [low + (value - smallest) / span * (high - low) for value in values]


def scale_points(
    points: list[tuple[float, float]], *, width: float, height: float, padding: float
) -> list[tuple[float, float]]:
    """Data coordinates into an SVG box, y upwards as in the analysis's plot."""
    xs = scale_axis([x for x, _ in points], padding, width - padding)
    ys = scale_axis([y for _, y in points], height - padding, padding)
    return list(zip(xs, ys, strict=True))


def sample_indices(keys: list[str], limit: int) -> list[int]:
    """At most ``limit`` positions of ``keys``, the same ones on every run and every machine
    (chosen by a hash of the key, not by a random generator), in their original order."""
    if len(keys) <= limit:
        return list(range(len(keys)))
    ranked = sorted(
        range(len(keys)),
        key=lambda index: (hashlib.blake2b(keys[index].encode(), digest_size=8).digest(), index),
    )
    return sorted(ranked[:limit])


def _finite_point(argument: dict[str, Any]) -> tuple[float, float] | None:
    x, y = argument.get("x"), argument.get("y")
    if not isinstance(x, int | float) or not isinstance(y, int | float):
        return None
    if not (math.isfinite(x) and math.isfinite(y)):
        return None
    return float(x), float(y)


@dataclass(frozen=True)
class DotGroup:
    colour: str
    label: str
    dots: list[tuple[float, float]]


@dataclass(frozen=True)
class ChartLabel:
    x: float
    y: float
    text: str
    full_text: str


@dataclass(frozen=True)
class ScatterChart:
    width: int
    height: int
    radius: float
    groups: list[DotGroup]
    labels: list[ChartLabel]
    plotted: int
    drawn: int

    @property
    def sampled(self) -> bool:
        return self.drawn < self.plotted


def dot_radius(count: int) -> float:
    """Smaller dots as they crowd, so that clusters stay visible as shapes."""
    if count <= 500:
        return 3.0
    if count <= 2000:
        return 2.2
    return 1.6


def _overlaps(box: tuple[float, float, float, float], placed: list[tuple]) -> bool:
    left, top, right, bottom = box
    return any(
        left < other[2] and other[0] < right and top < other[3] and other[1] < bottom
        for other in placed
    )


def place_labels(
    centres: list[tuple[float, float, str]], *, width: float, height: float
) -> list[ChartLabel]:
    """Each label at its cluster's centroid, moved up or down by whole lines until it does not
    cover a label already placed, and kept inside the box."""
    placed: list[tuple[float, float, float, float]] = []
    labels = []
    for x, y, text in centres:
        short = shorten(text, LABEL_FONT_SIZE, MAX_CHART_LABEL_WIDTH)
        half = text_width(short, LABEL_FONT_SIZE) / 2 + 2
        x = min(max(x, half), width - half)
        for step in range(0, 2 * int(height // LABEL_LINE) + 1):
            offset = (step + 1) // 2 * LABEL_LINE * (1 if step % 2 else -1)
            candidate = min(max(y + offset, LABEL_LINE), height - 4)
            box = (x - half, candidate - LABEL_LINE + 4, x + half, candidate + 4)
            if not _overlaps(box, placed):
                break
        placed.append(box)
        labels.append(ChartLabel(round(x, 1), round(candidate, 1), short, text))
    return labels


def scatter_chart(arguments: list[dict[str, Any]], level1: list["Level1Cluster"]) -> ScatterChart:
    """One dot per opinion with coordinates, coloured by its level-1 cluster; labels at each
    cluster's centroid (of all its opinions, drawn or not)."""
    located = [(arg, point) for arg in arguments if (point := _finite_point(arg)) is not None]
    scaled = scale_points(
        [point for _, point in located],
        width=SCATTER_WIDTH,
        height=SCATTER_HEIGHT,
        padding=SCATTER_PADDING,
    )
    cluster_of = {cluster.id: cluster for cluster in level1}
    owners = [_level1_of(arg, cluster_of) for arg, _ in located]
    kept = sample_indices([str(arg.get("arg_id", "")) for arg, _ in located], MAX_DOTS)

    dots: dict[str | None, list[tuple[float, float]]] = defaultdict(list)
    for index in kept:
        x, y = scaled[index]
        dots[owners[index]].append((round(x, 1), round(y, 1)))
    groups = [
        DotGroup(cluster.colour, cluster.label, dots[cluster.id])
        for cluster in level1
        if dots.get(cluster.id)
    ]
    if dots.get(None):
        groups.insert(0, DotGroup(UNCLUSTERED_COLOUR, UNCLUSTERED_LABEL, dots[None]))

    members: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for owner, point in zip(owners, scaled, strict=True):
        if owner is not None:
            members[owner].append(point)
    centres = [
        (
            sum(x for x, _ in members[cluster.id]) / len(members[cluster.id]),
            sum(y for _, y in members[cluster.id]) / len(members[cluster.id]),
            cluster.label,
        )
        for cluster in level1
        if members.get(cluster.id)
    ]
    return ScatterChart(
        width=SCATTER_WIDTH,
        height=SCATTER_HEIGHT,
        radius=dot_radius(len(kept)),
        groups=groups,
        labels=place_labels(centres, width=SCATTER_WIDTH, height=SCATTER_HEIGHT),
        plotted=len(located),
        drawn=len(kept),
    )


def _level1_of(argument: dict[str, Any], cluster_of: dict[str, Any]) -> str | None:
    return next((cid for cid in argument.get("cluster_ids") or () if cid in cluster_of), None)


# --- the bar chart --------------------------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    y: float
    width: float
    colour: str
    label: str
    full_label: str
    value: int


@dataclass(frozen=True)
class BarChart:
    width: int
    height: float
    label_width: int
    bar_height: int
    bars: list[Bar]


def bar_chart(level1: list["Level1Cluster"]) -> BarChart:
    """Level-1 cluster sizes as horizontal bars, in the clusters' order."""
    largest = max((cluster.value for cluster in level1), default=0) or 1
    scale = BAR_PLOT_WIDTH / largest
    bars = []
    y = float(BAR_GAP)
    for cluster in level1:
        short = shorten(cluster.label, BAR_FONT_SIZE, BAR_LABEL_WIDTH - 12)
        bars.append(
            Bar(y, cluster.value * scale, cluster.colour, short, cluster.label, cluster.value)
        )
        y += BAR_HEIGHT + BAR_GAP
    return BarChart(
        width=BAR_LABEL_WIDTH + BAR_PLOT_WIDTH + 70,
        height=y,
        label_width=BAR_LABEL_WIDTH,
        bar_height=BAR_HEIGHT,
        bars=bars,
    )


# --- clusters and opinions ------------------------------------------------------------------


@dataclass(frozen=True)
class LinkedInitiative:
    number: int
    title: str
    confirmed: bool


@dataclass(frozen=True)
class Opinion:
    arg_id: str
    text: str
    initiatives: list[LinkedInitiative]


@dataclass(frozen=True)
class SubCluster:
    label: str
    value: int
    terms: list[str]


@dataclass(frozen=True)
class Level1Cluster:
    anchor: str
    id: str
    label: str
    takeaway: str
    terms: list[str]
    value: int
    share: float | None
    colour: str
    children: list[SubCluster] = field(default_factory=list)
    representatives: list[Opinion] = field(default_factory=list)


def linked_initiatives(argument: dict[str, Any]) -> list[LinkedInitiative]:
    """The initiatives an opinion counts towards: those confirmed and the best-scoring one."""
    candidates = argument.get("initiatives") or []
    best = max(candidates, key=lambda link: link.get("score") or 0, default=None)
    return [
        LinkedInitiative(link["number"], link.get("title", ""), bool(link.get("confirmed")))
        for link in candidates
        if link.get("confirmed") or link is best
    ]


def representatives(cluster: dict[str, Any], by_id: dict[str, dict]) -> list[Opinion]:
    """Up to five of the cluster's representative opinions whose authors agreed to publish."""
    opinions = []
    for arg_id in cluster.get("representatives") or []:
        argument = by_id.get(arg_id)
        if argument is None or not argument.get("argument"):
            continue
        opinions.append(Opinion(arg_id, argument["argument"], linked_initiatives(argument)))
        if len(opinions) == MAX_REPRESENTATIVES:
            break
    return opinions


def level1_clusters(result: dict[str, Any]) -> list[Level1Cluster]:
    clusters = result.get("clusters") or []
    total = result["analysis"].get("opinion_count") or 0
    by_id = {str(arg.get("arg_id")): arg for arg in result.get("arguments") or []}
    children: dict[str, list[SubCluster]] = defaultdict(list)
    for cluster in clusters:
        if cluster.get("level") == 2:
            children[cluster.get("parent", "")].append(
                SubCluster(
                    cluster.get("label", ""), cluster.get("value", 0), cluster.get("terms") or []
                )
            )
    tops = [cluster for cluster in clusters if cluster.get("level") == 1]
    return [
        Level1Cluster(
            anchor=f"cluster-{index + 1}",
            id=cluster["id"],
            label=cluster.get("label", ""),
            takeaway=cluster.get("takeaway", ""),
            terms=cluster.get("terms") or [],
            value=cluster.get("value", 0),
            share=percentage(cluster.get("value", 0), total),
            colour=colour_for(index),
            children=children.get(cluster["id"], []),
            representatives=representatives(cluster, by_id),
        )
        for index, cluster in enumerate(tops)
    ]


# --- cross-tabulations and initiatives ------------------------------------------------------


@dataclass(frozen=True)
class CrosstabRow:
    label: str
    counts: list[int]
    total: int


@dataclass(frozen=True)
class Crosstab:
    attribute: str
    title: str
    columns: list[str]
    rows: list[CrosstabRow]
    totals: list[int]
    grand_total: int
    folded: int  # values gathered under その他


def _natural_key(value: str) -> tuple:
    """年代 in age order ("9歳以下" < "10代" < "70代以上"), anything without a number last."""
    number = re.search(r"\d+", value)
    return (0, int(number.group()), value) if number else (1, 0, value)


def crosstab(
    attribute: str, table: dict[str, dict[str, int]], level1: list[Level1Cluster]
) -> Crosstab:
    """Level-1 clusters × the values of one attribute; where the attribute has a column limit,
    the most frequent values and the rest under その他."""
    totals_by_value: dict[str, int] = defaultdict(int)
    for cluster in level1:
        for value, count in (table.get(cluster.id) or {}).items():
            totals_by_value[value] += count
    limit = CROSSTAB_COLUMN_LIMITS.get(attribute)
    if limit is None:
        columns = sorted(totals_by_value, key=_natural_key)
        folded: list[str] = []
    else:
        ranked = sorted(totals_by_value, key=lambda value: (-totals_by_value[value], value))
        columns, folded = ranked[:limit], ranked[limit:]
    rows = []
    for cluster in level1:
        counts = table.get(cluster.id) or {}
        cells = [counts.get(value, 0) for value in columns]
        if folded:
            cells.append(sum(counts.get(value, 0) for value in folded))
        rows.append(CrosstabRow(cluster.label, cells, sum(counts.values())))
    headers = columns + ([OTHERS_COLUMN] if folded else [])
    totals = [sum(row.counts[index] for row in rows) for index in range(len(headers))]
    return Crosstab(
        attribute=attribute,
        title=ATTRIBUTE_NAMES.get(attribute, attribute),
        columns=headers,
        rows=rows,
        totals=totals,
        grand_total=sum(row.total for row in rows),
        folded=len(folded),
    )


def crosstabs(result: dict[str, Any], level1: list[Level1Cluster]) -> list[Crosstab]:
    """The known attributes first (年代, 市町村), then any other the analysis tabulated."""
    tables = result.get("crosstabs") or {}
    order = [name for name in ATTRIBUTE_NAMES if name in tables]
    order += sorted(name for name in tables if name not in ATTRIBUTE_NAMES)
    return [crosstab(name, tables[name] or {}, level1) for name in order]


def initiatives(result: dict[str, Any]) -> list[dict[str, Any]]:
    return sorted(result.get("initiatives") or [], key=lambda item: item.get("number", 0))


# --- the page -------------------------------------------------------------------------------


def local_time(value: str | None) -> datetime | None:
    """An ISO 8601 timestamp in the site's time zone (Asia/Tokyo), for display."""
    if not value:
        return None
    moment = datetime.fromisoformat(value)
    return timezone.localtime(moment) if timezone.is_aware(moment) else moment


def page_context(result: dict[str, Any]) -> dict[str, Any]:
    """Everything ``evaluations/opinion_analysis.html`` needs, from the analysis's JSON."""
    analysis = result["analysis"]
    level1 = level1_clusters(result)
    arguments = result.get("arguments") or []
    return {
        "analysis": analysis,
        "plan": analysis.get("plan") or {},
        "method": analysis.get("method") or {},
        "created_at": local_time(analysis.get("created_at")),
        "published_at": local_time(analysis.get("published_at")),
        "opinion_count": analysis.get("opinion_count") or 0,
        "overview": (result.get("overview") or "").strip(),
        "clusters": level1,
        "scatter": scatter_chart(arguments, level1),
        "bars": bar_chart(level1),
        "crosstabs": crosstabs(result, level1),
        "initiatives": initiatives(result),
    }
