"""Small PNG charts for the digest, drawn offline with matplotlib's Agg backend.

E-mail clients block scripts and remote images, so the digest's charts travel inside the message as
inline parts referenced by Content-ID; the browser preview shows the same bytes as data: URIs.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
from matplotlib import dates as mdates
from matplotlib.figure import Figure

INK = "#2563eb"
GOOD = "#059669"
BAD = "#dc2626"
SHADE = "#fecaca"


@dataclass(frozen=True)
class Chart:
    cid: str
    png: bytes
    alt: str
    width: int
    height: int

    @property
    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode()


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, transparent=False, facecolor="white")
    return buf.getvalue()


def sparkline(cid: str, values: Sequence[float], alt: str, good: bool | None) -> Chart:
    """A 160x40 line of the last weeks, the last point marked in the change's colour."""
    width, height = 160, 40
    fig = Figure(figsize=(width / 100, height / 100))
    ax = fig.add_axes((0.02, 0.1, 0.96, 0.8))
    ax.plot(range(len(values)), values, color=INK, linewidth=1.4)
    if len(values):
        colour = INK if good is None else GOOD if good else BAD
        ax.plot([len(values) - 1], [values[-1]], "o", color=colour, markersize=3.5)
    ax.set_axis_off()
    return Chart(cid=cid, png=_png(fig), alt=alt, width=width, height=height)


def anomaly_chart(
    cid: str,
    days: Sequence[dt.date],
    values: Sequence[float],
    window: tuple[dt.date, dt.date] | None,
    title: str,
) -> Chart:
    """A 560x180 daily line with the anomaly's window shaded."""
    width, height = 560, 180
    fig = Figure(figsize=(width / 100, height / 100))
    ax = fig.add_axes((0.08, 0.18, 0.9, 0.7))
    if window:
        ax.axvspan(
            mdates.date2num(window[0]), mdates.date2num(window[1]), color=SHADE, alpha=0.8, linewidth=0
        )
    ax.plot(mdates.date2num(list(days)), list(values), color=INK, linewidth=1.6)
    ax.xaxis_date()
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%d %b"))
    ax.set_title(title, fontsize=9, loc="left")
    ax.tick_params(labelsize=7)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.autofmt_xdate(rotation=0, ha="center")
    return Chart(
        cid=cid, png=_png(fig), alt=f"{title}: daily values, the anomaly shaded", width=width, height=height
    )
