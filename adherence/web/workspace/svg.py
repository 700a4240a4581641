"""Charts drawn on the server as inline SVG: no script, no library, nothing fetched, so they
show on an offline clinic network and under the workspace's Content Security Policy.

Each chart is ``<svg role="img" aria-labelledby="{id}-title {id}-desc">`` with a ``<title>``
and a ``<desc>`` that says the numbers in words; the page shows the same numbers as a table
next to it. Colour never carries meaning alone: the threshold line is dashed and labelled,
the two series of a grouped chart differ in fill pattern as well as colour and are named in
a legend. Bars carry ``class="bar"`` and ``data-value`` (the tests read them), and a
``<title>`` each (a tooltip for a mouse user).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from markupsafe import Markup

WIDTH = 640
HEIGHT = 260
LEFT = 44  # room for the y axis labels
RIGHT = 12
TOP = 24
BOTTOM = 44  # room for the x axis labels
PLOT_W = WIDTH - LEFT - RIGHT
PLOT_H = HEIGHT - TOP - BOTTOM
INK = "#1f2933"
BAR = "#0b57a4"
SECOND = "#8a4b08"


def _n(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".")


def _ticks(top: int) -> list[int]:
    """A few whole-number y ticks up to ``top`` (at least 1)."""
    step = max(1, -(-top // 4))
    return list(range(0, top + step, step))


def _head(chart_id: str, title: str, desc: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-labelledby="{chart_id}-title {chart_id}-desc" id={quoteattr(chart_id)}>',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(desc)}</desc>',
    ]


def _y_axis(top: int) -> tuple[list[str], float]:
    """Grid lines and labels; returns them and the pixels per unit."""
    ticks = _ticks(top)
    scale = PLOT_H / ticks[-1]
    out = []
    for t in ticks:
        y = TOP + PLOT_H - t * scale
        out.append(
            f'<line x1="{LEFT}" x2="{LEFT + PLOT_W}" y1="{_n(y)}" y2="{_n(y)}" '
            f'stroke="#d0d7de" stroke-width="1"/>'
        )
        out.append(
            f'<text x="{LEFT - 6}" y="{_n(y + 4)}" text-anchor="end" font-size="12" '
            f'fill="{INK}">{t}</text>'
        )
    return out, scale


def bar_x(index: int, count: int) -> tuple[float, float]:
    """Left edge and width of bar ``index`` of ``count`` equal slots across the plot."""
    slot = PLOT_W / count
    return LEFT + index * slot + slot * 0.1, slot * 0.8


def value_x(fraction: float) -> float:
    """The x of a value on a 0..1 axis spanning the plot (the histogram's PDC axis)."""
    return LEFT + fraction * PLOT_W


def histogram(
    chart_id: str,
    *,
    title: str,
    desc: str,
    labels: Sequence[str],
    values: Sequence[int],
    line_at: float,
    line_label: str,
    unit: str,
) -> Markup:
    """Equal-width bins over 0..1 (``labels`` name each in its tooltip; the axis marks the
    bin edges in percent), with a dashed vertical line at ``line_at`` (a fraction of the
    axis)."""
    top = max([1, *values])
    grid, scale = _y_axis(top)
    parts = [*_head(chart_id, title, desc), *grid]
    slot = PLOT_W / len(values)
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        x = LEFT + i * slot + 1
        h = value * scale
        parts.append(
            f'<rect class="bar" data-value="{value}" x="{_n(x)}" y="{_n(TOP + PLOT_H - h)}" '
            f'width="{_n(slot - 2)}" height="{_n(h)}" fill="{BAR}">'
            f"<title>{escape(label)}: {value} {escape(unit)}</title></rect>"
        )
    for k in range(len(values) + 1):  # the bin edges: 0, 10, ... 100 (%)
        parts.append(
            f'<text x="{_n(LEFT + k * slot)}" y="{TOP + PLOT_H + 16}" text-anchor="middle" '
            f'font-size="11" fill="{INK}">{round(100 * k / len(values))}</text>'
        )
    x = value_x(line_at)
    parts += [
        f'<line class="threshold" x1="{_n(x)}" x2="{_n(x)}" y1="{TOP - 8}" y2="{TOP + PLOT_H}" '
        f'stroke="#b3261e" stroke-width="2" stroke-dasharray="6 4"/>',
        f'<text x="{_n(x - 4)}" y="{TOP - 10}" text-anchor="end" font-size="12" '
        f'fill="{INK}">{escape(line_label)}</text>',
        f'<text x="{LEFT + PLOT_W / 2}" y="{HEIGHT - 6}" text-anchor="middle" font-size="12" '
        f'fill="{INK}">PDC (%)</text>',
        _axis_line(),
        "</svg>",
    ]
    return Markup("".join(parts))


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[int]


def grouped_bars(
    chart_id: str, *, title: str, desc: str, labels: Sequence[str], series: Sequence[Series]
) -> Markup:
    """Side-by-side bars per label (one per series), with a legend naming each series. The
    second series is hatched as well as coloured."""
    top = max([1, *(v for s in series for v in s.values)])
    grid, scale = _y_axis(top)
    parts = [
        *_head(chart_id, title, desc),
        '<defs><pattern id="' + chart_id + '-hatch" width="6" height="6" '
        'patternUnits="userSpaceOnUse" patternTransform="rotate(45)">'
        f'<rect width="6" height="6" fill="{SECOND}"/>'
        '<line x1="0" y1="0" x2="0" y2="6" stroke="#fff" stroke-width="2"/></pattern></defs>',
        *grid,
    ]
    fills = [BAR, f"url(#{chart_id}-hatch)"]
    for i, label in enumerate(labels):
        x0, width = bar_x(i, len(labels))
        each = width / len(series)
        for k, s in enumerate(series):
            value = s.values[i]
            h = value * scale
            parts.append(
                f'<rect class="bar" data-series="{k}" data-value="{value}" '
                f'x="{_n(x0 + k * each)}" y="{_n(TOP + PLOT_H - h)}" width="{_n(each)}" '
                f'height="{_n(h)}" fill="{fills[k % 2]}">'
                f"<title>{escape(label)}: {value} {escape(s.name)}</title></rect>"
            )
        if i % 2 == 0 or len(labels) <= 8:
            parts.append(
                f'<text x="{_n(x0 + width / 2)}" y="{TOP + PLOT_H + 16}" text-anchor="middle" '
                f'font-size="11" fill="{INK}">{escape(label)}</text>'
            )
    for k, s in enumerate(series):
        lx = LEFT + k * 150
        parts.append(
            f'<rect x="{lx}" y="{HEIGHT - 16}" width="12" height="12" fill="{fills[k % 2]}"/>'
            f'<text x="{lx + 16}" y="{HEIGHT - 6}" font-size="12" fill="{INK}">'
            f"{escape(s.name)}</text>"
        )
    parts += [_axis_line(), "</svg>"]
    return Markup("".join(parts))


def _axis_line() -> str:
    y = TOP + PLOT_H
    return f'<line x1="{LEFT}" x2="{LEFT + PLOT_W}" y1="{y}" y2="{y}" stroke="{INK}" stroke-width="1"/>'
