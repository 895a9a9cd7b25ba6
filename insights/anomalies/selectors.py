"""Reads: the series anomaly detection scores, built as long frames from the signal tables.

Series ids say what a series is, and are the stable part of each anomaly's Insight key:
``metric:<metric pk>:`` (total) and ``metric:<pk>:<dimension key>=<value>``, ``tickets:<product pk>:``,
``tickets:<product pk>:tag=<tag>``, ``csat:<product pk>:``, ``nps:<product pk>:``,
``mentions:<product pk>:``, ``sentiment:<product pk>:``, ``kb_no_result:<product pk>:``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd
from django.db.models import QuerySet

from insights.models import Insight, InsightKind
from productops.signals.models import Aggregation, Metric, MetricPoint, Unit

# Ticket tags with fewer tickets than this over the history are too thin to score.
MIN_TAG_TICKETS = 30


@dataclass
class SeriesInfo:
    series_id: str
    signal: str  # metric | tickets | csat | nps | mentions | sentiment | kb | themes
    label: str
    product_id: int | None
    metric_id: int | None = None
    dimension_key: str = ""
    dimension_value: str = ""
    sensitivity: str = "medium"
    bad_direction: str = "both"  # the direction that is bad news: up | down | both
    additive: bool = True  # sums over days mean something (counts, revenue); not for rates and means

    @property
    def is_total(self) -> bool:
        return not self.dimension_key


def _naive_utc(values: Any) -> pd.Series:
    ts = pd.to_datetime(pd.Series(values), utc=True)
    return ts.dt.tz_convert(None)


def metric_series(metric_ids: Iterable[int] | None = None) -> tuple[pd.DataFrame, dict[str, SeriesInfo]]:
    """Every metric's points, overall and per dimension value, as a long frame."""
    metrics = Metric.objects.all()
    if metric_ids is not None:
        metrics = metrics.filter(pk__in=list(metric_ids))
    info_by_metric = {m.pk: m for m in metrics}
    rows = MetricPoint.objects.filter(metric_id__in=list(info_by_metric)).values_list(
        "metric_id", "dimension_key", "dimension_value", "ts", "value"
    )
    frame = pd.DataFrame(list(rows), columns=["metric_id", "dimension_key", "dimension_value", "ts", "value"])
    infos: dict[str, SeriesInfo] = {}
    if frame.empty:
        return pd.DataFrame(columns=["series_id", "ts", "value"]), infos
    frame["ts"] = _naive_utc(frame["ts"])
    frame["series_id"] = (
        "metric:"
        + frame["metric_id"].astype(str)
        + ":"
        + frame["dimension_key"].where(
            frame["dimension_key"] == "", frame["dimension_key"] + "=" + frame["dimension_value"]
        )
    )
    for (sid, metric_id, dk, dv), _ in frame.groupby(
        ["series_id", "metric_id", "dimension_key", "dimension_value"]
    ):
        m = info_by_metric[int(metric_id)]
        bad = {"up": "down", "down": "up"}.get(m.good_direction, "both")
        label = m.name if not dk else f"{m.name} · {dk}={dv}"
        additive = m.aggregation == Aggregation.SUM and m.unit not in (Unit.RATIO, Unit.PERCENT)
        infos[str(sid)] = SeriesInfo(
            str(sid), "metric", label, m.product_id, m.pk, str(dk), str(dv), m.sensitivity, bad, additive
        )
    return frame[["series_id", "ts", "value", "dimension_key", "dimension_value"]], infos


def _day_grid(counts: pd.DataFrame) -> pd.DataFrame:
    """Daily counts (series_id, day, value), with zeros on the days between a series' first day and the
    last day of any series in the frame."""
    if counts.empty:
        return pd.DataFrame(columns=["series_id", "ts", "value"])
    end = counts["day"].max()
    out = []
    for sid, g in counts.groupby("series_id"):
        grid = pd.date_range(g["day"].min(), end, freq="D")
        s = g.groupby("day")["value"].sum().reindex(grid, fill_value=0)
        out.append(pd.DataFrame({"series_id": sid, "ts": grid, "value": s.to_numpy(dtype=float)}))
    return pd.concat(out, ignore_index=True)


def _rollup(qs: QuerySet[Any], columns: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame(list(qs.values_list(*columns)), columns=columns)
    if not frame.empty:
        frame["day"] = pd.to_datetime(frame["day"])
    return frame


def _weekly(frame: pd.DataFrame, sums: list[str]) -> pd.DataFrame:
    """Sums per product and week (Monday) of daily rollup rows."""
    week = frame["day"] - pd.to_timedelta(frame["day"].dt.day_of_week, unit="D")
    return frame.assign(week=week).groupby(["product_id", "week"])[sums].sum().reset_index()


def derived_series(product_ids: Iterable[int] | None = None) -> tuple[pd.DataFrame, dict[str, SeriesInfo]]:
    """Ticket volume (per product and tag), CSAT, NPS per week, mentions and sentiment, KB no-result rate.

    Read from the daily rollups (TicketRollup, NpsDaily, MentionDaily, SentimentDaily, KbDaily), which
    the write path keeps current before this runs, never from the raw rows: the cost is one row per
    product and day, whatever the volume of tickets or responses. Weekly values are sums of days over
    sums of days, so they equal the means over the raw rows.
    """
    from productops.dashboards.models import KbDaily, MentionDaily, NpsDaily, SentimentDaily, TicketRollup

    frames: list[pd.DataFrame] = []
    infos: dict[str, SeriesInfo] = {}

    def scoped(qs: QuerySet[Any]) -> QuerySet[Any]:
        qs = qs.filter(product__isnull=False)
        return qs.filter(product_id__in=list(product_ids)) if product_ids is not None else qs

    # Tag "" rows hold every ticket of a (product, channel, day); tagged rows one tag's (channel "").
    tickets = _rollup(
        scoped(TicketRollup.objects.all()), ["product_id", "tag", "day", "opened", "csat_sum", "csat_n"]
    )
    if not tickets.empty:
        tickets = tickets[tickets["opened"] > 0]
        total = tickets[tickets["tag"] == ""]
        volume = total.assign(
            series_id="tickets:" + total["product_id"].astype(str) + ":", value=total["opened"]
        )
        frames.append(_day_grid(volume[["series_id", "day", "value"]]))
        for sid, pid in volume.groupby("series_id")["product_id"].first().items():
            infos[str(sid)] = SeriesInfo(str(sid), "tickets", "Ticket volume", int(pid), bad_direction="up")
        tagged = tickets[tickets["tag"] != ""]
        if not tagged.empty:
            tagged = tagged.assign(
                series_id="tickets:" + tagged["product_id"].astype(str) + ":tag=" + tagged["tag"],
                value=tagged["opened"],
            )
            big = tagged.groupby("series_id")["value"].sum()
            tagged = tagged[tagged["series_id"].isin(big[big >= MIN_TAG_TICKETS].index)]
            if not tagged.empty:
                frames.append(_day_grid(tagged[["series_id", "day", "value"]]))
                for (sid, pid, tag), _ in tagged.groupby(["series_id", "product_id", "tag"]):
                    infos[str(sid)] = SeriesInfo(
                        str(sid),
                        "tickets",
                        f"Tickets tagged {tag}",
                        int(pid),
                        None,
                        "tag",
                        str(tag),
                        bad_direction="up",
                    )
        rated = total[total["csat_n"] > 0]
        if not rated.empty:
            csat = _weekly(rated, ["csat_sum", "csat_n"])
            csat["value"] = csat["csat_sum"] / csat["csat_n"]
            csat["series_id"] = "csat:" + csat["product_id"].astype(str) + ":"
            frames.append(csat.rename(columns={"week": "ts"})[["series_id", "ts", "value"]])
            for sid, pid in csat.groupby("series_id")["product_id"].first().items():
                infos[str(sid)] = SeriesInfo(
                    str(sid), "csat", "CSAT (weekly mean)", int(pid), bad_direction="down"
                )

    nps = _rollup(scoped(NpsDaily.objects.all()), ["product_id", "day", "n", "promoters", "detractors"])
    if not nps.empty:
        weekly = _weekly(nps[nps["n"] > 0], ["n", "promoters", "detractors"])
        weekly["value"] = (weekly["promoters"] - weekly["detractors"]) / weekly["n"] * 100
        weekly["series_id"] = "nps:" + weekly["product_id"].astype(str) + ":"
        frames.append(weekly.rename(columns={"week": "ts"})[["series_id", "ts", "value"]])
        for sid, pid in weekly.groupby("series_id")["product_id"].first().items():
            infos[str(sid)] = SeriesInfo(str(sid), "nps", "NPS (weekly)", int(pid), bad_direction="down")

    mentions = _rollup(scoped(MentionDaily.objects.filter(n__gt=0)), ["product_id", "day", "n"])
    if not mentions.empty:
        mentions = mentions.assign(
            series_id="mentions:" + mentions["product_id"].astype(str) + ":", value=mentions["n"]
        )
        frames.append(_day_grid(mentions[["series_id", "day", "value"]]))
        for sid, pid in mentions.groupby("series_id")["product_id"].first().items():
            infos[str(sid)] = SeriesInfo(str(sid), "mentions", "Mention volume", int(pid))
        scored = _rollup(
            scoped(SentimentDaily.objects.filter(source="mention", n__gt=0)),
            ["product_id", "day", "total", "n"],
        )
        if not scored.empty:
            sent = _weekly(scored, ["total", "n"])
            sent["value"] = sent["total"] / sent["n"]
            sent["series_id"] = "sentiment:" + sent["product_id"].astype(str) + ":"
            frames.append(sent.rename(columns={"week": "ts"})[["series_id", "ts", "value"]])
            for sid, pid in sent.groupby("series_id")["product_id"].first().items():
                infos[str(sid)] = SeriesInfo(
                    str(sid), "mentions", "Mention sentiment (weekly)", int(pid), None, bad_direction="down"
                )

    kb = _rollup(
        scoped(KbDaily.objects.filter(searches__gt=0)), ["product_id", "day", "searches", "no_result"]
    )
    if not kb.empty:
        kb["value"] = kb["no_result"] / kb["searches"]
        kb["ts"] = kb["day"]
        kb["series_id"] = "kb_no_result:" + kb["product_id"].astype(str) + ":"
        frames.append(kb[["series_id", "ts", "value"]])
        for sid, pid in kb.groupby("series_id")["product_id"].first().items():
            infos[str(sid)] = SeriesInfo(
                str(sid),
                "kb",
                "KB searches with no result (rate)",
                int(pid),
                bad_direction="up",
                additive=False,
            )

    _add_theme_volumes(frames, infos, product_ids)
    frame = (
        pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["series_id", "ts", "value"])
    )
    return frame, infos


def _add_theme_volumes(
    frames: list[pd.DataFrame], infos: dict[str, SeriesInfo], product_ids: Iterable[int] | None
) -> None:
    """Each feedback theme's weekly volume (insights.feedback's contract), so a spike in, say, "billing
    export fails" becomes an anomaly like any other series."""
    from insights.feedback.models import Theme
    from insights.feedback.selectors import theme_volume_frame

    themes = theme_volume_frame(product_ids=list(product_ids) if product_ids is not None else None)
    if themes.empty:
        return
    themes = themes.assign(ts=_naive_utc(themes["ts"]).to_numpy())
    ids = [int(sid.split(":", 1)[1]) for sid in themes["series_id"].unique()]
    for theme in Theme.objects.filter(pk__in=ids, product__isnull=False).only(
        "pk", "product_id", "label", "custom_name"
    ):
        sid = f"theme:{theme.pk}"
        name = theme.custom_name or theme.label
        infos[sid] = SeriesInfo(
            sid, "themes", f"Feedback theme: {name}", theme.product_id, bad_direction="up"
        )
    frames.append(themes[themes["series_id"].isin(list(infos))][["series_id", "ts", "value"]])


def changes(product_ids: Iterable[int] | None = None) -> list[tuple[int, Any]]:
    """Every evidence source's changes (flag changes, experiment starts, releases from trackers and
    Sentry deploys, PagerDuty incidents): see evidence.py."""
    from .evidence import collect

    return collect(product_ids)


def anomaly_insights() -> QuerySet[Insight]:
    return Insight.objects.filter(kind__in=[InsightKind.ANOMALY, InsightKind.INCIDENT])
