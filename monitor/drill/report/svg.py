"""Hand-written SVG: scales, ticks, axes and marks as strings.

The drill report is one file a trainer opens anywhere, offline; a plotting library would add
a dependency and either images or a script. Every function returns markup for an ``<svg>``
inlined in HTML5 (no ``xmlns`` needed there, and none wanted: the page names no URL).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from html import escape


def esc(s: object) -> str:
    return escape(str(s), quote=True)


def n(x: float) -> str:
    """A coordinate with one decimal at most: the page stays small."""
    r = round(x, 1)
    return str(int(r)) if r == int(r) else f"{r:.1f}"


@dataclass(frozen=True)
class Linear:
    """Maps the domain [d0, d1] onto the range [r0, r1] (pixels)."""

    d0: float
    d1: float
    r0: float
    r1: float

    def __call__(self, v: float) -> float:
        if self.d1 == self.d0:
            return self.r0
        return self.r0 + (v - self.d0) * (self.r1 - self.r0) / (self.d1 - self.d0)


def nice_step(span: float, count: int) -> float:
    """A step of 1, 2 or 5 times a power of ten giving about ``count`` ticks over ``span``."""
    if span <= 0:
        return 1.0
    raw = span / max(count, 1)
    mag = 10.0 ** math.floor(math.log10(raw))
    return next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)


def ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    step = nice_step(hi - lo, count)
    first = math.ceil(lo / step) * step
    out, v = [], first
    while v <= hi + step * 1e-9:
        out.append(round(v, 10))
        v += step
    return out


def data_attrs(data: dict[str, object]) -> str:
    """`` data-key="value"`` attributes: what a mark stands for, readable from the page source."""
    return "".join(f' data-{k}="{esc(v)}"' for k, v in data.items())


def svg(
    width: float,
    height: float,
    body: str,
    label: str,
    cls: str = "plot",
    data: dict[str, object] | None = None,
) -> str:
    return (
        f'<svg class="{cls}"{data_attrs(data or {})} viewBox="0 0 {n(width)} {n(height)}"'
        f' width="{n(width)}" height="{n(height)}" role="img" aria-label="{esc(label)}">'
        f"<title>{esc(label)}</title>{body}</svg>"
    )


def text(x: float, y: float, s: object, cls: str = "", anchor: str = "start") -> str:
    c = f' class="{cls}"' if cls else ""
    a = f' text-anchor="{anchor}"' if anchor != "start" else ""
    return f'<text x="{n(x)}" y="{n(y)}"{c}{a}>{esc(s)}</text>'


def line(x1: float, y1: float, x2: float, y2: float, cls: str) -> str:
    return f'<line x1="{n(x1)}" y1="{n(y1)}" x2="{n(x2)}" y2="{n(y2)}" class="{cls}"/>'


def rect(x: float, y: float, w: float, h: float, fill: str, title: str = "", cls: str = "") -> str:
    c = f' class="{cls}"' if cls else ""
    body = f'x="{n(x)}" y="{n(y)}" width="{n(max(w, 0))}" height="{n(max(h, 0))}" fill="{fill}"{c}'
    return f"<rect {body}><title>{esc(title)}</title></rect>" if title else f"<rect {body}/>"


def polyline(points: Sequence[tuple[float, float]], color: str, cls: str = "series") -> str:
    pts = " ".join(f"{n(x)},{n(y)}" for x, y in points)
    return f'<polyline points="{pts}" stroke="{color}" class="{cls}"/>'


def marker(x: float, y: float, color: str, title: str, r: float = 3.0, cls: str = "mark") -> str:
    return (
        f'<circle cx="{n(x)}" cy="{n(y)}" r="{n(r)}" fill="{color}" class="{cls}">'
        f"<title>{esc(title)}</title></circle>"
    )


def dots(points: Iterable[tuple[float, float]], color: str, series: str) -> str:
    """Many points as one path of zero-length strokes with round caps: a station costs about
    ten bytes instead of a ``<circle>`` element's fifty."""
    d = "".join(f"M{n(x)} {n(y)}h0" for x, y in points)
    return f'<path class="dots" stroke="{color}" data-series="{esc(series)}" d="{d}"/>' if d else ""


def x_axis(
    sx: Linear,
    y: float,
    values: Iterable[float],
    label: str = "",
    fmt: str = "{:g}",
    grid_to: float | None = None,
) -> str:
    """Ticks under the plot at ``y``; with ``grid_to``, vertical grid lines up to that y."""
    out = [line(sx.r0, y, sx.r1, y, "axis")]
    for v in values:
        x = sx(v)
        if grid_to is not None:
            out.append(line(x, grid_to, x, y, "grid"))
        out.append(text(x, y + 12, fmt.format(v), "tick", "middle"))
    if label:
        out.append(text((sx.r0 + sx.r1) / 2, y + 26, label, "axis-label", "middle"))
    return "".join(out)


def y_axis(
    sy: Linear,
    x: float,
    values: Iterable[float],
    label: str = "",
    fmt: str = "{:g}",
    grid_to: float | None = None,
) -> str:
    """Ticks left of the plot at ``x``; with ``grid_to``, horizontal grid lines to that x."""
    out = [line(x, sy.r0, x, sy.r1, "axis")]
    for v in values:
        y = sy(v)
        if grid_to is not None:
            out.append(line(x, y, grid_to, y, "grid"))
        out.append(text(x - 4, y + 3.5, fmt.format(v), "tick", "end"))
    if label:
        top = min(sy.r0, sy.r1)
        out.append(text(x - 4, top - 6, label, "axis-label", "start"))
    return "".join(out)


def sequential(t: float) -> str:
    """A light-to-dark blue for t in [0, 1] (a count's share of the densest cell)."""
    t = min(max(t, 0.0), 1.0)
    lo, hi = (222, 235, 247), (8, 48, 107)
    r, g, b = (round(a + (z - a) * t) for a, z in zip(lo, hi, strict=True))
    return f"#{r:02x}{g:02x}{b:02x}"
