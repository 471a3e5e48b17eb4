"""Charts drawn on the server as inline SVG: incidents per day stacked by policy band, and the MTTR trend.

Only geometry is computed here (rectangles, polylines, ticks, in a fixed viewBox that the page scales to its
width); the template writes the SVG elements, escaping every label. No JavaScript library, nothing fetched.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from ai_service.incidents.store import DailyVolume, MttrPoint
from ai_service.vocabulary import BANDS

WIDTH = 1000.0
HEIGHT = 280.0
LEFT = 64.0
RIGHT = 10.0
TOP = 12.0
BOTTOM = 34.0
MAX_X_LABELS = 7

#: Stack order (bottom first) and CSS class of each band; incidents not triaged yet on top.
BAND_CLASSES: dict[str, str] = {band: f"band-{band.lower()}" for band in BANDS} | {"untriaged": "band-none"}


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    width: float
    height: float
    css: str
    tip: str


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    tip: str


@dataclass(frozen=True)
class Series:
    css: str
    label: str
    points: list[Point]

    @property
    def path(self) -> str:
        """The polyline's ``points`` attribute."""
        return " ".join(f"{p.x:.1f},{p.y:.1f}" for p in self.points)


@dataclass
class Chart:
    title: str
    summary: str
    rects: list[Rect] = field(default_factory=list)
    series: list[Series] = field(default_factory=list)
    x_ticks: list[Tick] = field(default_factory=list)
    y_ticks: list[Tick] = field(default_factory=list)
    legend: list[tuple[str, str]] = field(default_factory=list)
    empty: bool = True
    width: float = WIDTH
    height: float = HEIGHT
    left: float = LEFT
    top: float = TOP
    plot_width: float = WIDTH - LEFT - RIGHT
    plot_height: float = HEIGHT - TOP - BOTTOM

    @property
    def baseline(self) -> float:
        return self.top + self.plot_height


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 x 10^n at or above ``value`` (1 for nothing), for a y axis's top."""
    if value <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * magnitude >= value - 1e-9:
            return float(step * magnitude)
    return float(10 * magnitude)


def _x_ticks(periods: Sequence[date], slot: float, left: float, fmt: str) -> list[Tick]:
    if not periods:
        return []
    every = max(1, math.ceil(len(periods) / MAX_X_LABELS))
    return [Tick(left + slot * (i + 0.5), period.strftime(fmt)) for i, period in enumerate(periods) if i % every == 0]


def days_between(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def volume_chart(rows: Sequence[DailyVolume], *, first: date, last: date) -> Chart:
    """Incidents first seen per day from ``first`` to ``last``, stacked by band (AUTO at the bottom)."""
    days = days_between(first, last)
    counts: dict[date, dict[str, int]] = {day: {} for day in days}
    for row in rows:
        if row.day in counts:
            key = row.band if row.band in BAND_CLASSES else "untriaged"
            counts[row.day][key] = counts[row.day].get(key, 0) + row.incidents
    total = sum(sum(c.values()) for c in counts.values())
    chart = Chart(
        title="Incidents per day, by policy band",
        summary=f"{total} incident(s) from {first:%d %b} to {last:%d %b}",
        legend=[(css, band) for band, css in BAND_CLASSES.items()],
        empty=total == 0,
    )
    top = max(2.0, nice_ceiling(max((sum(c.values()) for c in counts.values()), default=0)))
    slot = chart.plot_width / max(1, len(days))
    bar = max(1.0, slot * 0.72)
    for i, day in enumerate(days):
        y = chart.baseline
        for band, css in BAND_CLASSES.items():
            n = counts[day].get(band, 0)
            if not n:
                continue
            height = chart.plot_height * n / top
            y -= height
            x = chart.left + slot * i + (slot - bar) / 2
            chart.rects.append(Rect(x, y, bar, height, css, f"{day:%a %d %b}: {n} {band}"))
    chart.y_ticks = [
        Tick(chart.baseline - chart.plot_height * f, _count(top * f)) for f in (0, 0.5, 1) if (top * f).is_integer()
    ]
    chart.x_ticks = _x_ticks(days, slot, chart.left, "%d %b")
    return chart


def _count(value: float) -> str:
    return f"{value:g}"


def periods_between(first: date, last: date, every: str) -> list[date]:
    """Every day, or every ISO week's Monday, from ``first``'s period to ``last``'s."""
    if every == "week":
        start = first - timedelta(days=first.weekday())
        return [start + timedelta(weeks=n) for n in range((last - start).days // 7 + 1)]
    return days_between(first, last)


def _duration_label(seconds: float) -> str:
    if seconds >= 2 * 86400:
        return f"{seconds / 86400:g} d"
    if seconds >= 2 * 3600:
        return f"{seconds / 3600:g} h"
    if seconds >= 120:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


def _nice_seconds(value: float) -> float:
    """A y axis top in a unit that reads well (minutes, hours or days)."""
    for unit in (86400.0, 3600.0, 60.0, 1.0):
        if value >= 2 * unit:
            return nice_ceiling(value / unit) * unit
    return nice_ceiling(value)


def mttr_chart(points: Sequence[MttrPoint], *, first: date, last: date, every: str) -> Chart:
    """Mean and median time to resolve per day or week of resolution (periods without any resolution left out
    of the lines)."""
    periods = periods_between(first, last, every)
    by_period = {p.period: p for p in points}
    resolved = sum(p.resolved for p in points)
    chart = Chart(
        title=f"Time to resolve per {every}",
        summary=f"{resolved} incident(s) resolved from {first:%d %b} to {last:%d %b}",
        legend=[("line-median", "median"), ("line-mean", "mean")],
        empty=resolved == 0,
    )
    highest = max((p.mean_seconds or 0.0 for p in points), default=0.0)
    highest = max(highest, max((p.median_seconds or 0.0 for p in points), default=0.0))
    top = _nice_seconds(highest)
    slot = chart.plot_width / max(1, len(periods))
    fmt = "%d %b"
    for css, label, attribute in (("line-median", "median", "median_seconds"), ("line-mean", "mean", "mean_seconds")):
        series = Series(css, label, [])
        for i, period in enumerate(periods):
            point = by_period.get(period)
            value = getattr(point, attribute) if point is not None else None
            if value is None or point is None:
                continue
            y = chart.baseline - chart.plot_height * min(value, top) / top
            tip = f"{'week of ' if every == 'week' else ''}{period:%d %b}: {label} {_duration_label(round(value))}"
            series.points.append(Point(chart.left + slot * (i + 0.5), y, f"{tip} ({point.resolved} resolved)"))
        chart.series.append(series)
    chart.y_ticks = [Tick(chart.baseline - chart.plot_height * f, _duration_label(top * f)) for f in (0, 0.5, 1)]
    chart.x_ticks = _x_ticks(periods, slot, chart.left, fmt)
    return chart
