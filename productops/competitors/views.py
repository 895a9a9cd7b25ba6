"""The Competitors pages: share of voice over time, sentiment, co-occurring themes and quotes, one
competitor's page with its battle-card notes, and the lead's configuration of names and domains.

PMs read and add battle-card notes; only the product-ops lead adds, edits or removes competitors.
"""

from __future__ import annotations

from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from insights.models import Insight, InsightKind, InsightStatus
from productops.accounts.roles import Role, lead_required, pm_required, role_of
from productops.ui import drill
from productops.ui.filters import Choice, filter_bar_context, parse_filters

from . import charts, selectors
from .forms import BattleCardNoteForm, CompetitorForm
from .models import Competitor, MentionSource
from .tasks import rescan_mentions

PARAMS = {"source": Choice(values=tuple(MentionSource.values))}
DEFAULT_RANGE = "180d"


@pm_required
def index(request: HttpRequest) -> HttpResponse:
    filters = parse_filters(request, params=PARAMS, default_range=DEFAULT_RANGE)
    summaries = selectors.summaries(filters)
    for s in summaries:
        s.themes = selectors.co_themes(filters, s.competitor, limit=3) if s.count else []
    table = selectors.weekly(filters)
    slugs = {s.competitor.name: s.competitor.slug for s in summaries}
    spikes = Insight.objects.filter(kind=InsightKind.COMPETITOR_SPIKE).exclude(status=InsightStatus.RESOLVED)
    context = {
        **filter_bar_context(filters),
        "summaries": summaries,
        "chart": charts.share_of_voice(table, filters, slugs),
        "drill_base": drill.drill_base(filters),
        "spikes": list(spikes.order_by("-starts_at")[:5]),
        "is_lead": role_of(request.user) == Role.LEAD,
        "sources": MentionSource.choices,
        "total": sum(s.count for s in summaries),
    }
    return render(request, "competitors/index.html", context)


@pm_required
def detail(request: HttpRequest, slug: str) -> HttpResponse:
    competitor = get_object_or_404(Competitor, slug=slug)
    filters = parse_filters(request, params=PARAMS, default_range=DEFAULT_RANGE)
    qs = selectors.mentions(filters, competitor)
    form = BattleCardNoteForm(request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            note = form.save(commit=False)
            note.competitor, note.author = competitor, request.user
            note.save()
            messages.success(request, "Note added to the battle card.")
            return HttpResponseRedirect(reverse("competitors:detail", args=[slug]) + "#notes")
        messages.error(request, "The note needs some text and a date.")
    summary = next((s for s in selectors.summaries(filters) if s.competitor.pk == competitor.pk), None)
    context = {
        **filter_bar_context(filters),
        "competitor": competitor,
        "summary": summary,
        "count": qs.count(),
        "chart": charts.weekly_mentions(selectors.weekly(filters, competitor), filters, competitor),
        "themes": selectors.co_themes(filters, competitor, limit=8),
        "quotes": selectors.quotes(filters, competitor, limit=12),
        "drill_base": drill.drill_base(filters),
        "rows_url": drill.rows_url("competitor-mentions", filters, competitor=competitor.slug),
        "notes": list(competitor.notes.select_related("author")[:50]),
        "form": form,
        "is_lead": role_of(request.user) == Role.LEAD,
        "spikes": list(
            Insight.objects.filter(kind=InsightKind.COMPETITOR_SPIKE, payload__competitor_id=competitor.pk)
            .exclude(status=InsightStatus.RESOLVED)
            .order_by("-starts_at")[:5]
        ),
    }
    return render(request, "competitors/detail.html", context)


def _rescan() -> None:
    transaction.on_commit(lambda: rescan_mentions.delay())


@lead_required
def manage(request: HttpRequest, slug: str | None = None) -> HttpResponse:
    """The lead's list of competitors and the form to add or edit one."""
    competitor = get_object_or_404(Competitor, slug=slug) if slug else None
    form = CompetitorForm(request.POST or None, instance=competitor)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            saved = form.save()
            _rescan()
        messages.success(
            request,
            f"Saved {saved.name}. Mentions are being found again in every source; this takes a minute.",
        )
        return HttpResponseRedirect(reverse("competitors:manage"))
    context = {"form": form, "competitor": competitor, "competitors": list(Competitor.objects.all())}
    return render(request, "competitors/manage.html", context)


@lead_required
@require_POST
def delete(request: HttpRequest, slug: str) -> HttpResponse:
    competitor = get_object_or_404(Competitor, slug=slug)
    name = competitor.name
    competitor.delete()  # its mentions and notes go with it
    messages.success(request, f"Removed {name} and its mentions.")
    return HttpResponseRedirect(reverse("competitors:manage"))
