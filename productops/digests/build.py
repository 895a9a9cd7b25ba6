"""build_digest(user, week): the one structured digest behind both the preview page and the e-mail.

It reads only: Insight rows for what the user follows, KPI changes from MetricPoint, portfolio items
that moved to done, and (for the lead) connections that fail or went stale. Everything is ranked by
importance (see `importance`).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from connectors.models import Connection, Health
from insights import kinds
from insights.models import Insight, InsightKind, InsightStatus, Severity
from productops.accounts.roles import Role, role_of
from productops.core.templatetags.safe_links import safe_url
from productops.portfolio.models import PortfolioItem, Product, StatusCategory, Team
from productops.signals.models import Metric, MetricPoint

from . import charts, links, novelty
from .charts import Chart
from .schedule import scheduled_moment, week_label
from .selectors import subscription_for

# Severity dominates (100 a level); then the kind, whose weights (insights.kinds, steps >= 15) outweigh
# recency (0-10) plus the detector's score (0-5), so an incident outranks an anomaly of the same severity
# on the same scope; then how directly the user follows it (0-20).
SCOPE_DIRECT, SCOPE_TEAM, SCOPE_GLOBAL = 20, 10, 0

SECTIONS = [(key, title, kinds.kinds_in_section(key)) for key, title in kinds.SECTIONS]
LEAD_KINDS = kinds.kinds_in_section("connectors")
MAX_KPIS = 6
MAX_TOP = 3


@dataclass
class Scope:
    """What a user follows. Following nothing means everything."""

    everything: bool
    direct_product_ids: set[int] = field(default_factory=set)
    product_ids: set[int] = field(default_factory=set)
    team_ids: set[int] = field(default_factory=set)
    team_slugs: set[str] = field(default_factory=set)

    def match(self, product_ids: set[int], team_ids: set[int]) -> int | None:
        """The scope bonus for an item concerning these products and teams, or None when the user does
        not follow it. An overlap concerns both its teams, so each team's followers get it."""
        if product_ids & self.direct_product_ids or team_ids & self.team_ids:
            return SCOPE_DIRECT
        if product_ids & self.product_ids:
            return SCOPE_TEAM
        if self.everything:
            return SCOPE_DIRECT if (product_ids or team_ids) else SCOPE_GLOBAL
        if not product_ids and not team_ids:
            return SCOPE_GLOBAL
        return None


@dataclass
class DigestItem:
    kind: str
    kind_label: str
    title: str
    summary: str
    url: str
    severity: int
    importance: float
    product: str = ""
    team: str = ""
    why: str = ""
    quote: str = ""
    ci: str = ""
    status: str = ""
    chart: Chart | None = None
    insight: Insight | None = field(default=None, repr=False, compare=False)
    novelty: str = ""  # "New", "Severity up from High", "Still open since 12 Nov" (novelty.py)

    @property
    def severity_label(self) -> str:
        return Severity(self.severity).label if self.severity in Severity.values else ""

    @property
    def colour(self) -> str:
        return Severity(self.severity).colour if self.severity in Severity.values else "#6b7280"


@dataclass
class KpiChange:
    name: str
    product: str
    unit: str
    this_week: float
    last_week: float
    change_pct: float | None
    good: bool | None
    url: str
    chart: Chart | None = None

    @property
    def display(self) -> str:
        """The week's value in its unit, readable at a glance."""
        v = self.this_week
        if self.unit == "ratio":
            return f"{v:.1%}"
        if self.unit == "percent":
            return f"{v:.1f}%"
        if self.unit == "seconds":
            return f"{v:,.0f} s"
        return f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.2f}".rstrip("0").rstrip(".")

    @property
    def arrow(self) -> str:
        if self.change_pct is None or abs(self.change_pct) < 0.05:
            return "→"
        return "▲" if self.change_pct > 0 else "▼"

    @property
    def colour(self) -> str:
        return "#6b7280" if self.good is None else "#059669" if self.good else "#dc2626"


@dataclass
class ShippedGroup:
    product: str
    team: str
    url: str
    items: list[dict[str, str]]


@dataclass
class Section:
    key: str
    title: str
    items: list[DigestItem]


@dataclass
class ViewHeadlines:
    name: str
    url: str
    counts: list[dict[str, Any]]


@dataclass
class Digest:
    user_id: int
    name: str
    week: str
    period_start: dt.datetime
    period_end: dt.datetime
    is_lead: bool
    following: str
    top: list[DigestItem]
    sections: list[Section]
    kpis: list[KpiChange]
    shipped: list[ShippedGroup]
    connectors: list[DigestItem]
    dashboard_url: str
    settings_url: str
    # The saved views the user subscribed to, with their headline counts for the week (savedviews app).
    views: list[ViewHeadlines] = field(default_factory=list)

    @property
    def charts(self) -> list[Chart]:
        out = [k.chart for k in self.kpis if k.chart]
        out += [i.chart for s in self.sections for i in s.items if i.chart]
        return out

    @property
    def insight_count(self) -> int:
        return sum(len(s.items) for s in self.sections)

    @property
    def shipped_count(self) -> int:
        return sum(len(g.items) for g in self.shipped)

    @property
    def item_count(self) -> int:
        return self.insight_count + self.shipped_count + len(self.connectors) + len(self.kpis)

    @property
    def is_quiet(self) -> bool:
        """Nothing notable: no insight, nothing shipped, no connector trouble. KPIs alone always move."""
        return not (self.insight_count or self.shipped_count or self.connectors)


def _scope(user: Any) -> tuple[Scope, str]:
    sub = subscription_for(user)
    products = list(sub.products.all()) if sub else []
    teams = list(sub.teams.prefetch_related("products")) if sub else []
    if not products and not teams:
        return Scope(everything=True), "everything"
    team_products = {p.pk for t in teams for p in t.products.all()}
    scope = Scope(
        everything=False,
        direct_product_ids={p.pk for p in products},
        product_ids={p.pk for p in products} | team_products,
        team_ids={t.pk for t in teams},
        team_slugs={t.slug for t in teams},
    )
    return scope, ", ".join([p.name for p in products] + [f"team {t.name}" for t in teams])


def period_for(user: Any, week: str, now: dt.datetime | None = None) -> tuple[dt.datetime, dt.datetime]:
    """The seven days that end at the user's scheduled moment of `week` (or now, if that is still ahead).

    Consecutive digests therefore cover consecutive weeks with no gap and no overlap.
    """
    now = now or timezone.now()
    sub = subscription_for(user)
    weekday, hour = (sub.weekday, sub.hour) if sub else (0, 9)
    end = min(scheduled_moment(week, weekday, hour, user_timezone(user)), now)
    return end - dt.timedelta(days=7), end


def user_timezone(user: Any) -> str:
    profile = getattr(user, "profile", None)
    return getattr(profile, "timezone", None) or "UTC"


def importance(
    severity: int,
    kind: str,
    scope_bonus: int,
    when: dt.datetime | None,
    period: tuple[dt.datetime, dt.datetime],
    score: float = 0,
) -> float:
    """Higher is more important: severity first, then kind, scope, recency (0-10) and score (0-5)."""
    start, end = period
    span = (end - start).total_seconds() or 1
    recency = 10 * min(max(((when or start) - start).total_seconds() / span, 0), 1)
    weight = kinds.KINDS[kind].weight if kind in kinds.KINDS else 0
    return severity * 100 + weight + scope_bonus + recency + min(max(score, 0), 5)


def _filters(
    product: Any, team: Any, period: tuple[dt.datetime, dt.datetime], **extra: Any
) -> dict[str, Any]:
    return {
        "product": getattr(product, "slug", ""),
        "team": getattr(team, "slug", ""),
        "from": period[0].date().isoformat(),
        "to": period[1].date().isoformat(),
        **extra,
    }


def _insights(
    scope: Scope, period: tuple[dt.datetime, dt.datetime], kind_names: list[str]
) -> list[DigestItem]:
    start, end = period
    in_week = (
        Q(detected_at__gte=start, detected_at__lt=end)
        | Q(starts_at__gte=start, starts_at__lt=end)
        | Q(starts_at__lt=end, ends_at__gte=start)
    )
    rows = (
        Insight.objects.filter(in_week, kind__in=kind_names)
        .exclude(status=InsightStatus.MUTED)
        .exclude(kind=InsightKind.OVERLAP, status=InsightStatus.RESOLVED)  # dismissed as "not an overlap"
        .select_related("product", "team")
        .prefetch_related("products", "teams")
        .order_by("-severity", "-detected_at")[:500]
    )
    items = []
    for ins in rows:
        bonus = scope.match({p.pk for p in ins.products.all()}, {t.pk for t in ins.teams.all()})
        if bonus is None:
            continue
        spec = kinds.spec_of(ins.kind)
        payload = spec.payload.from_dict(ins.payload)
        items.append(
            DigestItem(
                kind=ins.kind,
                kind_label=spec.label,
                title=ins.title,
                summary=ins.summary,
                url=links.absolute(spec.target(ins, payload)),
                severity=ins.severity,
                importance=importance(
                    ins.severity, ins.kind, bonus, ins.starts_at or ins.detected_at, period, ins.score
                ),
                product=ins.product.name if ins.product else "",
                team=", ".join(t.name for t in ins.teams.all()) or (ins.team.name if ins.team else ""),
                why=payload.why(),
                quote=payload.quote(),
                ci=payload.ci(),
                status=ins.get_status_display(),
                insight=ins,
            )
        )
    items.sort(key=lambda i: i.importance, reverse=True)
    return items


def _daily(points: pd.DataFrame, aggregation: str) -> pd.Series:
    how = {"sum": "sum", "mean": "mean", "last": "last"}.get(aggregation, "sum")
    return points.groupby("day")["value"].agg(how)


def _points(
    metric_ids: list[int], since: dt.datetime, until: dt.datetime, dimension: tuple[str, str] = ("", "")
) -> pd.DataFrame:
    rows = MetricPoint.objects.filter(
        metric_id__in=metric_ids,
        ts__gte=since,
        ts__lt=until,
        dimension_key=dimension[0],
        dimension_value=dimension[1],
    ).values_list("metric_id", "ts", "value")
    frame = pd.DataFrame.from_records(list(rows), columns=["metric_id", "ts", "value"])
    if not frame.empty:
        frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
        frame["day"] = frame["ts"].dt.date
    return frame


def _kpis(scope: Scope, period: tuple[dt.datetime, dt.datetime], with_charts: bool) -> list[KpiChange]:
    start, end = period
    metrics = Metric.objects.select_related("product")
    if not scope.everything:
        metrics = metrics.filter(product_id__in=scope.product_ids)
    by_id = {m.pk: m for m in metrics[:200]}
    if not by_id:
        return []
    frame = _points(list(by_id), start - dt.timedelta(days=28), end)
    if frame.empty:
        return []
    this = frame[frame["ts"] >= pd.Timestamp(start)]
    last = frame[
        (frame["ts"] >= pd.Timestamp(start - dt.timedelta(days=7))) & (frame["ts"] < pd.Timestamp(start))
    ]
    out = []
    for metric_id, group in frame.groupby("metric_id"):
        m = by_id[int(metric_id)]
        agg = {"sum": "sum", "mean": "mean", "last": "last"}.get(m.aggregation, "sum")
        now_vals = this[this["metric_id"] == metric_id].sort_values("ts")["value"]
        then_vals = last[last["metric_id"] == metric_id].sort_values("ts")["value"]
        if now_vals.empty:
            continue
        now_v = float(now_vals.agg(agg))
        then_v = float(then_vals.agg(agg)) if not then_vals.empty else float("nan")
        change = None if then_vals.empty or then_v == 0 else (now_v - then_v) / abs(then_v) * 100
        good = None
        if change is not None and m.good_direction in ("up", "down") and abs(change) >= 0.05:
            good = (change > 0) == (m.good_direction == "up")
        url = links.page_link("dashboards:explorer", (), _filters(m.product, None, period, metric=m.pk))
        kpi = KpiChange(m.name, m.product.name if m.product else "", m.unit, now_v, then_v, change, good, url)
        if with_charts:
            series = _daily(group.sort_values("ts"), m.aggregation)
            kpi.chart = charts.sparkline(
                f"kpi-{m.pk}@productops",
                [float(v) for v in series.to_numpy()],
                f"{m.name}, daily over four weeks",
                good,
            )
        out.append(kpi)
    out.sort(key=lambda k: abs(k.change_pct) if k.change_pct is not None else -1, reverse=True)
    return out[:MAX_KPIS]


def _top_anomaly_chart(item: DigestItem, period: tuple[dt.datetime, dt.datetime]) -> Chart | None:
    ins = item.insight
    if ins is None:
        return None
    payload = kinds.payload_of(ins)
    if isinstance(payload, kinds.IncidentPayload):  # an incident's chart is its first metric anomaly's
        keys = [e.get("key") for e in payload.evidence if e.get("type") == "anomaly" and e.get("key")]
        first = Insight.objects.filter(
            kind=InsightKind.ANOMALY, key__in=keys, payload__metric_id__isnull=False
        )
        anomaly = first.order_by("-severity", "pk").first()
        payload = kinds.payload_of(anomaly) if anomaly else payload
    if not isinstance(payload, kinds.AnomalyPayload) or payload.metric_id is None:
        return None
    metric = Metric.objects.filter(pk=payload.metric_id).first()
    if metric is None:
        return None
    dim = (payload.dimension_key or "", payload.dimension_value or "")
    start = min(ins.starts_at or period[0], period[0]) - dt.timedelta(days=21)
    frame = _points([metric.pk], start, period[1], dim)
    if frame.empty and dim != ("", ""):
        frame = _points([metric.pk], start, period[1])
    if frame.empty:
        return None
    series = _daily(frame.sort_values("ts"), metric.aggregation)
    window = None
    if ins.starts_at:
        window = (ins.starts_at.date(), min(ins.ends_at or period[1], period[1]).date())
    label = metric.name + (f" ({dim[0]} = {dim[1]})" if dim[0] else "")
    return charts.anomaly_chart(
        f"anomaly-{ins.pk}@productops",
        list(series.index),
        [float(v) for v in series.to_numpy()],
        window,
        label,
    )


def _shipped(scope: Scope, period: tuple[dt.datetime, dt.datetime]) -> list[ShippedGroup]:
    items = PortfolioItem.objects.filter(
        status_category=StatusCategory.DONE, done_at__gte=period[0], done_at__lt=period[1], is_gone=False
    ).select_related("product", "team")
    if not scope.everything:
        items = items.filter(Q(product_id__in=scope.product_ids) | Q(team_id__in=scope.team_ids))
    rank = {"initiative": 0, "epic": 1, "story": 2}
    groups: dict[tuple[Product | None, Team | None], list[PortfolioItem]] = defaultdict(list)
    for item in items.order_by("done_at")[:300]:
        groups[(item.product, item.team)].append(item)
    out = []
    for (product, team), rows in sorted(
        groups.items(),
        key=lambda kv: (kv[0][0].name if kv[0][0] else "~", kv[0][1].name if kv[0][1] else "~"),
    ):
        rows.sort(key=lambda i: (rank.get(i.kind, 3), i.title))
        url = links.page_link("overlaps:portfolio", (), _filters(product, team, period, status="done"))
        out.append(
            ShippedGroup(
                product=product.name if product else "No product",
                team=team.name if team else "No team",
                url=url,
                items=[
                    {"title": i.title, "kind": i.get_kind_display(), "url": safe_url(i.url) or url}
                    for i in rows
                ],
            )
        )
    return out


def _connectors(period: tuple[dt.datetime, dt.datetime]) -> list[DigestItem]:
    end = period[1]
    out = []
    # A stale connection with an open stale_connector insight is listed once, by that insight.
    with_insight = set(
        Insight.objects.filter(
            kind="stale_connector", status__in=[InsightStatus.NEW, InsightStatus.ACKNOWLEDGED]
        ).values_list("key", flat=True)
    )
    for conn in Connection.objects.select_related("product").order_by("name"):
        problem, severity = "", Severity.MEDIUM
        if conn.paused_reason:
            problem, severity = f"Paused: {conn.paused_reason}", Severity.HIGH
        elif conn.error_streak:
            problem = f"{conn.error_streak} failed sync(s) in a row: {conn.last_error[:200]}".rstrip(": ")
            severity = Severity.HIGH if conn.error_streak >= 3 else Severity.MEDIUM
        # Health as of when the digest is read (a preview of a past week shows today's state).
        elif (
            conn.health(max(end, timezone.now())) == Health.STALE
            and f"connection:{conn.pk}" not in with_insight
        ):
            when = conn.last_success_at.strftime("%Y-%m-%d %H:%M UTC") if conn.last_success_at else "never"
            problem, severity = f"Stale: last successful sync {when}", Severity.LOW
        if not problem:
            continue
        url = links.page_link("connectors:detail", [conn.pk])
        out.append(
            DigestItem(
                kind="connector",
                kind_label="Connector",
                title=conn.name,
                summary=problem,
                url=url,
                severity=severity,
                importance=severity * 100,
                product=conn.product.name if conn.product else "",
            )
        )
    out.sort(key=lambda i: i.importance, reverse=True)
    return out


def build_digest(
    user: Any, week: str | None = None, *, now: dt.datetime | None = None, with_charts: bool = True
) -> Digest:
    """The user's digest for ISO `week` (default: the current week in their timezone)."""
    now = now or timezone.now()
    week = week or week_label(now.astimezone(_tz(user)).date())
    period = period_for(user, week, now)
    scope, following = _scope(user)
    is_lead = role_of(user) == Role.LEAD

    kind_names = [k for _, _, ks in SECTIONS for k in ks] + (list(LEAD_KINDS) if is_lead else [])
    items = novelty.apply(user, week, _insights(scope, period, kind_names), now)
    sections = [Section(key, title, [i for i in items if i.kind in ks]) for key, title, ks in SECTIONS]
    connector_items = [i for i in items if i.kind in LEAD_KINDS] + (_connectors(period) if is_lead else [])
    top = [i for i in items if i.kind not in LEAD_KINDS][:MAX_TOP]
    if with_charts:
        # The top anomaly's chart: the best-ranked incident or anomaly whose metric we can find.
        for item in [i for i in items if i.kind in ("incident", "anomaly")][:3]:
            item.chart = _top_anomaly_chart(item, period)
            if item.chart:
                break

    return Digest(
        user_id=user.pk,
        name=user.get_full_name() or user.get_username(),
        week=week,
        period_start=period[0],
        period_end=period[1],
        is_lead=is_lead,
        following=following,
        top=top,
        sections=sections,
        kpis=_kpis(scope, period, with_charts),
        shipped=_shipped(scope, period),
        connectors=connector_items,
        dashboard_url=links.absolute(reverse("dashboards:overview")),
        settings_url=links.absolute(reverse("accounts:settings")),
        views=_subscribed_views(user, period),
    )


def _subscribed_views(user: Any, period: tuple[dt.datetime, dt.datetime]) -> list[ViewHeadlines]:
    """One section per saved view the user subscribed to (and may still open): its headline counts for
    the digest's week, each linking to the rows it counts."""
    from productops.savedviews.services import headline_counts, visible_views

    start, end = period[0].date(), (period[1] - dt.timedelta(seconds=1)).date()
    out = []
    for view in visible_views(user).filter(subscribers=user).order_by("name"):
        counts = [{**c, "url": links.absolute(c["url"])} for c in headline_counts(view, start, end)]
        out.append(ViewHeadlines(view.name, links.absolute(view.get_absolute_url()), counts))
    return out


def _tz(user: Any) -> Any:
    from .schedule import tz_of

    return tz_of(user_timezone(user))
