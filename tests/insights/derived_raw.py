"""The anomaly detector's derived series computed straight from the raw rows, as they were before the
daily rollups: the reference the rollup-based `insights.anomalies.selectors.derived_series` must match."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd
from django.db.models import QuerySet

from insights.anomalies.selectors import MIN_TAG_TICKETS, SeriesInfo, _naive_utc
from productops.signals.models import KbSearch, Mention, NpsResponse, SupportTicket


def _daily_counts(frame: pd.DataFrame, key: str) -> pd.DataFrame:
    """Counts per (series, day), with zeros on the days between a series' first and last day."""
    counts = frame.groupby([key, "day"]).size().rename("value").reset_index()
    end = counts["day"].max()
    out = []
    for sid, g in counts.groupby(key):
        grid = pd.date_range(g["day"].min(), end, freq="D")
        s = g.set_index("day")["value"].reindex(grid, fill_value=0)
        out.append(pd.DataFrame({"series_id": sid, "ts": grid, "value": s.to_numpy(dtype=float)}))
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=["series_id", "ts", "value"])


def derived_series_from_raw(
    product_ids: Iterable[int] | None = None,
) -> tuple[pd.DataFrame, dict[str, SeriesInfo]]:
    """Ticket volume (per product and tag), CSAT, NPS per week, mentions and sentiment, KB no-result rate."""
    frames: list[pd.DataFrame] = []
    infos: dict[str, SeriesInfo] = {}

    def scoped(qs: QuerySet[Any]) -> QuerySet[Any]:
        qs = qs.filter(product__isnull=False)
        return qs.filter(product_id__in=list(product_ids)) if product_ids is not None else qs

    tickets = pd.DataFrame(
        list(
            scoped(SupportTicket.objects.all()).values_list("product_id", "opened_at", "tags", "csat_rating")
        ),
        columns=["product_id", "opened_at", "tags", "csat"],
    )
    if not tickets.empty:
        tickets["day"] = _naive_utc(tickets["opened_at"]).dt.floor("D")
        tickets["series_id"] = "tickets:" + tickets["product_id"].astype(str) + ":"
        frames.append(_daily_counts(tickets, "series_id"))
        for sid, pid in tickets.groupby("series_id")["product_id"].first().items():
            infos[str(sid)] = SeriesInfo(str(sid), "tickets", "Ticket volume", int(pid), bad_direction="up")
        tagged = tickets.explode("tags").dropna(subset=["tags"])
        tagged = tagged[tagged["tags"].astype(str) != ""]
        if not tagged.empty:
            tagged["series_id"] = (
                "tickets:" + tagged["product_id"].astype(str) + ":tag=" + tagged["tags"].astype(str)
            )
            big = tagged.groupby("series_id").size()
            tagged = tagged[tagged["series_id"].isin(big[big >= MIN_TAG_TICKETS].index)]
            if not tagged.empty:
                frames.append(_daily_counts(tagged, "series_id"))
                for (sid, pid, tag), _ in tagged.groupby(["series_id", "product_id", "tags"]):
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
        rated = tickets.dropna(subset=["csat"])
        if not rated.empty:
            rated = rated.assign(week=rated["day"].dt.to_period("W-SUN").dt.start_time)
            csat = rated.groupby(["product_id", "week"])["csat"].mean().reset_index()
            csat["series_id"] = "csat:" + csat["product_id"].astype(str) + ":"
            frames.append(csat.rename(columns={"week": "ts", "csat": "value"})[["series_id", "ts", "value"]])
            for sid, pid in csat.groupby("series_id")["product_id"].first().items():
                infos[str(sid)] = SeriesInfo(
                    str(sid), "csat", "CSAT (weekly mean)", int(pid), bad_direction="down"
                )

    nps = pd.DataFrame(
        list(scoped(NpsResponse.objects.all()).values_list("product_id", "submitted_at", "score")),
        columns=["product_id", "submitted_at", "score"],
    )
    if not nps.empty:
        nps["week"] = _naive_utc(nps["submitted_at"]).dt.to_period("W-SUN").dt.start_time
        nps["promoter"] = (nps["score"] >= 9).astype(float)
        nps["detractor"] = (nps["score"] <= 6).astype(float)
        weekly = nps.groupby(["product_id", "week"])[["promoter", "detractor"]].mean().reset_index()
        weekly["value"] = (weekly["promoter"] - weekly["detractor"]) * 100
        weekly["series_id"] = "nps:" + weekly["product_id"].astype(str) + ":"
        frames.append(weekly.rename(columns={"week": "ts"})[["series_id", "ts", "value"]])
        for sid, pid in weekly.groupby("series_id")["product_id"].first().items():
            infos[str(sid)] = SeriesInfo(str(sid), "nps", "NPS (weekly)", int(pid), bad_direction="down")

    mentions = pd.DataFrame(
        list(scoped(Mention.objects.all()).values_list("product_id", "posted_at", "sentiment")),
        columns=["product_id", "posted_at", "sentiment"],
    )
    if not mentions.empty:
        mentions["day"] = _naive_utc(mentions["posted_at"]).dt.floor("D")
        mentions["series_id"] = "mentions:" + mentions["product_id"].astype(str) + ":"
        frames.append(_daily_counts(mentions, "series_id"))
        for sid, pid in mentions.groupby("series_id")["product_id"].first().items():
            infos[str(sid)] = SeriesInfo(str(sid), "mentions", "Mention volume", int(pid))
        scored = mentions.dropna(subset=["sentiment"])
        if not scored.empty:
            scored = scored.assign(week=scored["day"].dt.to_period("W-SUN").dt.start_time)
            sent = scored.groupby(["product_id", "week"])["sentiment"].mean().reset_index()
            sent["series_id"] = "sentiment:" + sent["product_id"].astype(str) + ":"
            frames.append(
                sent.rename(columns={"week": "ts", "sentiment": "value"})[["series_id", "ts", "value"]]
            )
            for sid, pid in sent.groupby("series_id")["product_id"].first().items():
                infos[str(sid)] = SeriesInfo(
                    str(sid), "mentions", "Mention sentiment (weekly)", int(pid), None, bad_direction="down"
                )

    kb = pd.DataFrame(
        list(
            scoped(KbSearch.objects.all()).values_list("product_id", "date", "searches", "no_result_searches")
        ),
        columns=["product_id", "date", "searches", "no_result"],
    )
    if not kb.empty:
        daily = kb.groupby(["product_id", "date"])[["searches", "no_result"]].sum().reset_index()
        daily = daily[daily["searches"] > 0]
        daily["value"] = daily["no_result"] / daily["searches"]
        daily["ts"] = pd.to_datetime(daily["date"])
        daily["series_id"] = "kb_no_result:" + daily["product_id"].astype(str) + ":"
        frames.append(daily[["series_id", "ts", "value"]])
        for sid, pid in daily.groupby("series_id")["product_id"].first().items():
            infos[str(sid)] = SeriesInfo(
                str(sid),
                "kb",
                "KB searches with no result (rate)",
                int(pid),
                bad_direction="up",
                additive=False,
            )

    frame = (
        pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["series_id", "ts", "value"])
    )
    return frame, infos
