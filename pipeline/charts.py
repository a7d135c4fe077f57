"""Server-rendered SVG charts: geometry here, markup in templates/pipeline/report_chart.html.

No chart library and no script: a chart is a title, a description, axis ticks with text labels
and one bar (or point) per value, each with its own <title>, so a screen reader has the chart's
meaning and every figure (the page also shows the same figures as a table).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 14, 40
MAX_X_LABELS = 10


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | Decimal | None]
    css: str = "s1"


@dataclass(frozen=True)
class Mark:
    """A bar (x, y, width, height) or a point (x, y) with its accessible text."""

    x: float
    y: float
    width: float
    height: float
    css: str
    text: str


@dataclass(frozen=True)
class Label:
    x: float
    y: float
    text: str


@dataclass(frozen=True)
class Chart:
    key: str  # unique on the page: the ids of its title and description
    title: str
    desc: str
    kind: str  # "bars" or "line"
    marks: list[Mark]
    y_ticks: list[Label]
    x_labels: list[Label]
    legend: list[Series] = field(default_factory=list)
    line: str = ""  # the polyline's points, for a line chart
    width: int = WIDTH
    height: int = HEIGHT
    empty: bool = False

    @property
    def plot_left(self) -> int:
        return LEFT

    @property
    def plot_right(self) -> int:
        return self.width - RIGHT

    @property
    def baseline(self) -> int:
        return self.height - BOTTOM


def usd(value: float | Decimal) -> str:
    return f"${value:,.2f}"


def percent(value: float | Decimal) -> str:
    return f"{value:.0f}%"


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 5 or 10 times a power of ten that is >= value (1 for 0)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * power + 1e-12:
            return step * power
    return 10 * power


def _y(value: float, top: float) -> float:
    plot = HEIGHT - TOP - BOTTOM
    return round(HEIGHT - BOTTOM - plot * (value / top), 2)


def _ticks(top: float, fmt: Callable[[float], str]) -> list[Label]:
    """Ticks at round values: quarters of 1 or 2 (x 10^k), fifths of 5 or 10."""
    mantissa = top / 10 ** math.floor(math.log10(top))
    count = 5 if round(mantissa) in (5, 10) else 4
    steps = [top * i / count for i in range(count + 1)]
    return [Label(LEFT - 6, _y(value, top), fmt(value)) for value in steps]


def _x_labels(labels: Sequence[str], centre: Callable[[int], float]) -> list[Label]:
    every = max(1, math.ceil(len(labels) / MAX_X_LABELS))
    return [
        Label(round(centre(i), 2), HEIGHT - BOTTOM + 16, text)
        for i, text in enumerate(labels)
        if i % every == 0
    ]


def bar_chart(
    *,
    key: str,
    title: str,
    desc: str,
    labels: Sequence[str],
    series: Sequence[Series],
    fmt: Callable[[float], str] = usd,
) -> Chart:
    """Vertical bars, one group per label and one bar per series in each group."""
    values = [float(v or 0) for s in series for v in s.values]
    top = nice_ceiling(max(values, default=0))
    slot = (WIDTH - LEFT - RIGHT) / max(len(labels), 1)
    gap = min(slot * 0.2, 12)
    bar = (slot - gap) / max(len(series), 1)
    marks = []
    for i, label in enumerate(labels):
        for k, one in enumerate(series):
            value = float(one.values[i] or 0)
            y = _y(value, top)
            name = f"{one.name} " if len(series) > 1 else ""
            marks.append(
                Mark(
                    x=round(LEFT + i * slot + gap / 2 + k * bar, 2),
                    y=y,
                    width=round(max(bar - 1, 1), 2),
                    height=round(HEIGHT - BOTTOM - y, 2),
                    css=one.css,
                    text=f"{label}: {name}{fmt(value)}",
                )
            )
    return Chart(
        key=key,
        title=title,
        desc=desc,
        kind="bars",
        marks=marks,
        y_ticks=_ticks(top, fmt),
        x_labels=_x_labels(labels, lambda i: LEFT + (i + 0.5) * slot),
        legend=list(series) if len(series) > 1 else [],
        empty=not labels,
    )


def line_chart(
    *,
    key: str,
    title: str,
    desc: str,
    labels: Sequence[str],
    values: Sequence[float | None],
    top: float = 100,
    fmt: Callable[[float], str] = percent,
) -> Chart:
    """A line through the values (None: no point), on a fixed scale 0..top (100%: pass rate)."""
    slot = (WIDTH - LEFT - RIGHT) / max(len(labels), 1)
    marks = [
        Mark(round(LEFT + (i + 0.5) * slot, 2), _y(v, top), 0, 0, "s1", f"{labels[i]}: {fmt(v)}")
        for i, v in enumerate(values)
        if v is not None
    ]
    return Chart(
        key=key,
        title=title,
        desc=desc,
        kind="line",
        marks=marks,
        y_ticks=_ticks(top, fmt),
        x_labels=_x_labels(labels, lambda i: LEFT + (i + 0.5) * slot),
        line=" ".join(f"{m.x},{m.y}" for m in marks),
        empty=not marks,
    )
