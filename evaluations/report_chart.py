"""A server-rendered SVG chart of rating counts per pillar, this year beside last year.

Geometry is computed here; the template only draws it. No JavaScript, no CDN."""

from dataclasses import dataclass
from typing import Any

COLOURS = {"a": "#2e7d32", "b": "#1565c0", "c": "#c62828"}
LABEL_WIDTH = 120
BAR_HEIGHT = 18
ROW_GAP = 14
PLOT_WIDTH = 480
TOP = 36


@dataclass(frozen=True)
class Segment:
    x: float
    width: float
    colour: str
    count: int
    rating: str


@dataclass(frozen=True)
class Bar:
    y: float
    label: str
    year_label: str
    segments: list[Segment]
    total: int


def _segments(counts: dict[str, Any], scale: float) -> list[Segment]:
    x = float(LABEL_WIDTH)
    segments = []
    for key in ("a", "b", "c"):
        width = counts.get(key, 0) * scale
        segments.append(Segment(x, width, COLOURS[key], counts.get(key, 0), key.upper()))
        x += width
    return segments


def pillar_chart(
    current: list[dict[str, Any]],
    previous: list[dict[str, Any]],
    *,
    year_label: str,
    previous_year_label: str,
) -> dict[str, Any]:
    """Bars for each pillar: the previous year (if any) above this year."""
    previous_by_pillar = {row["group"]["id"]: row for row in previous}
    largest = max([row["rated"] for row in current + previous] or [1]) or 1
    scale = PLOT_WIDTH / largest
    bars: list[Bar] = []
    y = float(TOP)
    for row in current:
        before = previous_by_pillar.get(row["group"]["id"])
        if before is not None:
            bars.append(
                Bar(
                    y,
                    row["group"]["name"],
                    previous_year_label,
                    _segments(before, scale),
                    before["rated"],
                )
            )
            y += BAR_HEIGHT + 2
        bars.append(Bar(y, row["group"]["name"], year_label, _segments(row, scale), row["rated"]))
        y += BAR_HEIGHT + ROW_GAP
    return {
        "bars": bars,
        "width": LABEL_WIDTH + PLOT_WIDTH + 60,
        "height": y + 10,
        "bar_height": BAR_HEIGHT,
        "legend": [
            (rating.upper(), colour, LABEL_WIDTH + index * 40)
            for index, (rating, colour) in enumerate(COLOURS.items())
        ],
    }
