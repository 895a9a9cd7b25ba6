"""The Opportunities view: portfolio items and unlinked themes of one product, ranked by evidence.

Evidence is the feedback in the themes linked to an item (`feedback.EvidenceLink`, not rejected), or in
the theme itself for a theme no item addresses yet. From it: pieces of feedback, distinct customers
(an account attribute where the feedback carries one, else the respondent's or author's hashed id, else
the piece itself), accounts, NPS respondents, the plan mix, revenue (an account attribute's ARR, MRR or
revenue, counted once per account), sentiment and the linked themes' trend; plus the key results the
item serves (`goals.Alignment`, confirmed) and its effort from tracker estimates.

The RICE score is reach * impact * confidence / effort, every factor computed here with its reason and
replaceable by a PM (`OpportunityFactors`). `evidence_frame` and `people_table` are shared by the
counts and by the drill-down page, so a count is always the number of rows it opens.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from statistics import median
from typing import Any

import pandas as pd
from django.db.models import Q

from insights.feedback.models import EvidenceLink, LinkStatus, Theme, ThemeMember, ThemeStatus
from productops.goals.models import Alignment, AlignmentStatus, KeyResult
from productops.portfolio.models import PortfolioItem, Product, StatusCategory, effort_points
from productops.signals.models import Mention, NpsResponse

from .models import OpportunityFactors

ACCOUNT_KEYS = ("account", "account_id", "company", "organization", "org")
REVENUE_KEYS = ("arr", "mrr", "revenue")
PLAN_KEYS = ("plan", "tier")
OPPORTUNITY_KINDS = ("initiative", "epic")
IMPACT_STEPS = (0.25, 0.5, 1.0, 2.0, 3.0)  # Intercom's RICE scale: minimal .. massive
DEFAULT_EFFORT = 5.0  # points, when no item of the product is estimated at all
EVIDENCE_COLUMNS = ["member_id", "theme_id", "source", "object_id", "ts", "sentiment", "segment", "person"]
FACTORS = ("reach", "impact", "confidence", "effort")


def _first(segment: Any, keys: tuple[str, ...]) -> str:
    if not isinstance(segment, dict):
        return ""
    for key in keys:
        value = segment.get(key)
        if value not in (None, ""):
            return str(value)
    return ""


def _revenue(segment: Any) -> float | None:
    raw = _first(segment, REVENUE_KEYS)
    try:
        return float(raw) if raw else None
    except ValueError:
        return None


def evidence_frame(theme_ids: list[int], window: Q | None = None) -> pd.DataFrame:
    """The feedback in these themes (within `window`, a Q over the member's time), one row per piece,
    with the person behind it where known."""
    members = ThemeMember.objects.filter(theme_id__in=theme_ids)
    if window is not None:
        members = members.filter(window)
    rows = list(members.values_list("id", "theme_id", "source", "object_id", "ts", "sentiment", "segment"))
    frame = pd.DataFrame(rows, columns=EVIDENCE_COLUMNS[:-1])
    frame["person"] = ""
    if frame.empty:
        return frame
    people: dict[tuple[str, int], str] = {}
    nps_ids = frame.loc[frame["source"] == "nps", "object_id"].tolist()
    if nps_ids:
        for pk, h in (
            NpsResponse.objects.filter(pk__in=nps_ids)
            .exclude(respondent_hash="")
            .values_list("pk", "respondent_hash")
        ):
            people[("nps", pk)] = h
    mention_ids = frame.loc[frame["source"] == "mention", "object_id"].tolist()
    if mention_ids:
        for pk, h in (
            Mention.objects.filter(pk__in=mention_ids)
            .exclude(author_hash="")
            .values_list("pk", "author_hash")
        ):
            people[("mention", pk)] = h
    frame["person"] = [
        people.get((s, int(o)), "") for s, o in zip(frame["source"], frame["object_id"], strict=True)
    ]
    return frame


def _identities(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out["account"] = [_first(s, ACCOUNT_KEYS) for s in out["segment"]]
    out["plan"] = [_first(s, PLAN_KEYS) for s in out["segment"]]
    out["revenue"] = [_revenue(s) for s in out["segment"]]
    out["customer"] = [
        f"account:{a}" if a else f"person:{p[:12]}" if p else f"{s}:{o}"
        for a, p, s, o in zip(out["account"], out["person"], out["source"], out["object_id"], strict=True)
    ]
    return out


PEOPLE_BY = ("customer", "account", "respondent")


def _keyed(ids: pd.DataFrame, by: str) -> pd.DataFrame:
    """The rows that count for `by`, with the identity they count by in column "key": every piece by
    customer; pieces with an account by account; NPS responses by respondent."""
    if by == "account":
        out = ids[ids["account"] != ""].copy()
        out["key"] = out["account"]
    elif by == "respondent":
        out = ids[ids["source"] == "nps"].copy()
        out["key"] = [
            p[:12] if p else f"nps:{o}" for p, o in zip(out["person"], out["object_id"], strict=True)
        ]
    else:
        out = ids.copy()
        out["key"] = out["customer"]
    return out


def people_table(frame: pd.DataFrame, by: str) -> list[dict[str, Any]]:
    """One row per distinct customer, account or NPS respondent in the evidence: what the counts count.

    Columns: who, feedback (pieces), sources, plan (the most frequent), revenue (accounts), last (date)."""
    if frame.empty:
        return []
    out = []
    for who, group in _keyed(_identities(frame), by).groupby("key", sort=True):
        plans = Counter(p for p in group["plan"] if p)
        revenue = group["revenue"].dropna()
        out.append(
            {
                "who": str(who),
                "feedback": len(group),
                "sources": ", ".join(sorted(set(group["source"]))),
                "plan": plans.most_common(1)[0][0] if plans else "",
                "revenue": float(revenue.max()) if len(revenue) else None,
                "last": pd.Timestamp(group["ts"].max()).date(),
            }
        )
    out.sort(key=lambda r: (-r["feedback"], r["who"]))
    return out


@dataclass
class Evidence:
    feedback: int = 0
    customers: int = 0
    accounts: int = 0
    respondents: int = 0
    plans: list[tuple[str, int]] = field(default_factory=list)  # pieces of feedback per plan
    plan_key: str = ""
    revenue: float | None = None
    sentiment: float | None = None


def summarise(frame: pd.DataFrame) -> Evidence:
    if frame.empty:
        return Evidence()
    ids = _identities(frame)
    plans = Counter(p for p in ids["plan"] if p)
    plan_key = next(
        (k for k in PLAN_KEYS if any(isinstance(s, dict) and s.get(k) for s in ids["segment"])), ""
    )
    per_account = ids[ids["account"] != ""].groupby("account")["revenue"].max().dropna()
    sentiment = ids["sentiment"].dropna()
    return Evidence(
        feedback=len(ids),
        customers=int(_keyed(ids, "customer")["key"].nunique()),
        accounts=int(_keyed(ids, "account")["key"].nunique()),
        respondents=int(_keyed(ids, "respondent")["key"].nunique()),
        plans=sorted(plans.items(), key=lambda kv: (-kv[1], kv[0])),
        plan_key=plan_key,
        revenue=float(per_account.sum()) if len(per_account) else None,
        sentiment=float(sentiment.mean()) if len(sentiment) else None,
    )


@dataclass
class Factor:
    name: str
    computed: float | None
    reason: str
    override: float | None = None

    @property
    def value(self) -> float | None:
        return self.override if self.override is not None else self.computed

    @property
    def edited(self) -> bool:
        return self.override is not None


@dataclass
class Opportunity:
    key: str  # "item:<pk>" or "theme:<pk>"
    title: str
    kind: str  # initiative, epic or theme
    item: PortfolioItem | None
    theme: Theme | None
    themes: list[Theme]
    key_results: list[KeyResult]
    evidence: Evidence
    trend: float | None  # relative change of the linked themes' last 4 weeks against the 8 before
    recent: int
    effort_source: str  # "item", "stories", "assumed"
    estimated_stories: int
    factors: dict[str, Factor]
    note: str = ""

    @property
    def score(self) -> float | None:
        r, i, c, e = (self.factors[n].value for n in FACTORS)
        if r is None or i is None or c is None or not e:
            return None
        return r * i * c / e

    @property
    def team(self) -> Any:
        return self.item.team if self.item else None


def _impact(evidence: Evidence, krs: int) -> tuple[float, str]:
    step = 2 if evidence.feedback else 1  # medium with evidence, low without
    why = ["medium: customer evidence" if evidence.feedback else "low: no customer evidence"]
    if krs:
        step += 1
        why.append(f"+1 step: serves {krs} key result{'s' if krs != 1 else ''}")
    if evidence.sentiment is not None and evidence.sentiment <= -0.2:
        step += 1
        why.append(f"+1 step: negative sentiment ({evidence.sentiment:+.2f})")
    step = min(step, len(IMPACT_STEPS) - 1)
    return IMPACT_STEPS[step], "; ".join(why)


def _confidence(evidence: Evidence, estimated: bool) -> tuple[float, str]:
    if evidence.feedback >= 30 and estimated:
        return 1.0, "high: 30+ pieces of feedback and a tracker estimate"
    if evidence.feedback >= 10 or (estimated and evidence.feedback):
        return 0.8, "medium: 10+ pieces of feedback, or some feedback and a tracker estimate"
    return 0.5, "low: little evidence" + ("" if estimated else " and no estimate")


def _trend(themes: list[Theme]) -> tuple[float | None, int]:
    recent = sum(t.recent_volume for t in themes)
    previous = sum(t.previous_volume for t in themes)
    if previous > 0:
        return (recent - previous) / previous, recent
    return None, recent


def _story_efforts(item_ids: list[int]) -> dict[int, tuple[float, int]]:
    """For each item: the summed estimates of the stories under it (children or grandchildren), and how
    many stories are estimated."""
    rows = PortfolioItem.objects.filter(
        Q(parent_id__in=item_ids) | Q(parent__parent_id__in=item_ids), kind="story", is_gone=False
    ).values_list("parent_id", "parent__parent_id", "estimate_points", "estimate_size")
    out: dict[int, list[float]] = defaultdict(list)
    wanted = set(item_ids)
    for parent, grand, points, size in rows:
        value = effort_points(points, size)
        if value is None:
            continue
        for owner in {p for p in (parent, grand) if p is not None} & wanted:
            out[owner].append(value)
    return {k: (sum(v), len(v)) for k, v in out.items()}


def opportunities(
    product: Product, *, team_id: int | None = None, window: Q | None = None
) -> list[Opportunity]:
    """Open initiatives and epics of the product, and its active themes linked to no item, with their
    evidence (the feedback within `window`, a Q over the time of the feedback) and RICE factors
    (overrides applied), in no particular order."""
    items_qs = (
        PortfolioItem.objects.filter(product=product, kind__in=OPPORTUNITY_KINDS, is_gone=False)
        .exclude(status_category=StatusCategory.DONE)
        .select_related("team")
    )
    if team_id is not None:
        items_qs = items_qs.filter(team_id=team_id)
    items = list(items_qs)
    item_ids = [i.pk for i in items]
    links = list(
        EvidenceLink.objects.filter(item_id__in=item_ids)
        .exclude(status=LinkStatus.REJECTED)
        .values_list("item_id", "theme_id")
    )
    linked_anywhere = set(
        EvidenceLink.objects.filter(theme__product=product)
        .exclude(status=LinkStatus.REJECTED)
        .values_list("theme_id", flat=True)
    )
    unlinked = (
        []
        if team_id is not None
        else list(
            Theme.objects.filter(product=product, status=ThemeStatus.ACTIVE)
            .exclude(pk__in=linked_anywhere)
            .order_by("-size")
        )
    )
    theme_ids = {t for _, t in links} | {t.pk for t in unlinked}
    themes = Theme.objects.in_bulk(list(theme_ids))
    themes_of: dict[int, list[int]] = defaultdict(list)
    for item_id, theme_id in links:
        themes_of[item_id].append(theme_id)
    members = evidence_frame(list(theme_ids), window)
    krs: dict[int, list[KeyResult]] = defaultdict(list)
    for a in Alignment.objects.filter(item_id__in=item_ids, status=AlignmentStatus.CONFIRMED).select_related(
        "key_result", "key_result__objective"
    ):
        krs[a.item_id].append(a.key_result)
    stories = _story_efforts(item_ids)
    overrides = {
        ("item", o.item_id) if o.item_id else ("theme", o.theme_id): o
        for o in OpportunityFactors.objects.filter(Q(item_id__in=item_ids) | Q(theme_id__in=theme_ids))
    }
    efforts = [
        e
        for i in items
        if (e := effort_points(i.estimate_points, i.estimate_size) or stories.get(i.pk, (0, 0))[0])
    ]
    assumed = float(median(efforts)) if efforts else DEFAULT_EFFORT

    def build(
        key: str, title: str, kind: str, item: PortfolioItem | None, theme: Theme | None, tids: list[int]
    ) -> Opportunity:
        mine = members[members["theme_id"].isin(tids)] if not members.empty else members
        ev = summarise(mine)
        my_krs = krs.get(item.pk, []) if item else []
        own = effort_points(item.estimate_points, item.estimate_size) if item else None
        story_sum, n_stories = stories.get(item.pk, (0.0, 0)) if item else (0.0, 0)
        if own is not None:
            effort, effort_source, why_effort = own, "item", "the item's own estimate in the tracker"
        elif n_stories:
            effort, effort_source = story_sum, "stories"
            why_effort = f"sum of {n_stories} estimated stories under it"
        else:
            effort, effort_source = assumed, "assumed"
            why_effort = "no estimate: assumed the product's median effort" if efforts else "no estimate"
        impact, why_impact = _impact(ev, len(my_krs))
        confidence, why_conf = _confidence(ev, effort_source != "assumed")
        trend, recent = _trend([themes[t] for t in tids if t in themes])
        factors = {
            "reach": Factor(
                "reach", float(ev.customers), f"{ev.customers} distinct customers in the evidence"
            ),
            "impact": Factor("impact", impact, why_impact),
            "confidence": Factor("confidence", confidence, why_conf),
            "effort": Factor("effort", effort, why_effort),
        }
        override = overrides.get(("item", item.pk) if item else ("theme", theme.pk if theme else 0))
        note = ""
        if override is not None:
            for name in FACTORS:
                factors[name].override = getattr(override, name)
            note = override.note
        return Opportunity(
            key=key,
            title=title,
            kind=kind,
            item=item,
            theme=theme,
            themes=[themes[t] for t in tids if t in themes],
            key_results=my_krs,
            evidence=ev,
            trend=trend,
            recent=recent,
            effort_source=effort_source,
            estimated_stories=n_stories,
            factors=factors,
            note=note,
        )

    out = [build(f"item:{i.pk}", i.title, i.kind, i, None, themes_of.get(i.pk, [])) for i in items]
    out += [build(f"theme:{t.pk}", t.name, "theme", None, t, [t.pk]) for t in unlinked]
    return out


SORTS = {
    "score": lambda o: o.score,
    "reach": lambda o: o.factors["reach"].value,
    "impact": lambda o: o.factors["impact"].value,
    "confidence": lambda o: o.factors["confidence"].value,
    "effort": lambda o: o.factors["effort"].value,
    "feedback": lambda o: o.evidence.feedback,
    "customers": lambda o: o.evidence.customers,
    "accounts": lambda o: o.evidence.accounts,
    "respondents": lambda o: o.evidence.respondents,
    "revenue": lambda o: o.evidence.revenue,
    "sentiment": lambda o: o.evidence.sentiment,
    "trend": lambda o: o.trend,
    "krs": lambda o: len(o.key_results),
    "title": lambda o: o.title.lower(),
}


def sort_opportunities(rows: list[Opportunity], sort: str) -> list[Opportunity]:
    """Sort by a column ("-score" descending); empty values last either way, ties by title."""
    name = sort.lstrip("-")
    key = SORTS.get(name, SORTS["score"])
    desc = sort.startswith("-") if name in SORTS else True
    present = [r for r in rows if key(r) is not None]
    missing = [r for r in rows if key(r) is None]
    present.sort(key=lambda r: r.title.lower())
    present.sort(key=key, reverse=desc)
    return present + sorted(missing, key=lambda r: r.title.lower())
