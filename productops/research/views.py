"""The Research pages: the studies list (with redundant research across teams), a study with its notes
and highlights, the side-by-side comparison an insight links to, the forms and the import.

Everyone with a role reads; the lead and the PMs of a study's product edit it (`permissions.py`),
checked in every view that writes, so a PM of another product gets a 403.
"""

from __future__ import annotations

from collections import Counter

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import get_random_string
from django.views.decorators.http import require_POST

from insights.models import Insight, InsightKind, InsightStatus
from productops.accounts.roles import pm_required
from productops.signals.csv_import import CsvImportError
from productops.signals.services import record_write
from productops.ui.filters import ALL_TIME, Choice, Filters, filter_bar_context, parse_filters

from .forms import HighlightForm, ImportForm, NoteForm, StudyForm
from .imports import import_csv, import_markdown, template_csv
from .models import Highlight, Method, Study
from .permissions import can_edit_product, editable_product_ids

RESEARCH_PARAMS = {"method": Choice(values=tuple(Method.values))}
MANUAL = "manual"


def _studies(filters: Filters) -> list[Study]:
    qs = Study.objects.select_related("product", "team", "owner").annotate(
        n_notes=Count("notes", distinct=True), n_highlights=Count("highlights", distinct=True)
    )
    if not filters.all_time:
        qs = qs.filter(Q(started_on__isnull=True) | filters.window("started_on", dates=True))
    if filters.product:
        qs = qs.filter(product=filters.product)
    if filters.team:
        qs = qs.filter(Q(team=filters.team) | Q(team__isnull=True, product__teams=filters.team)).distinct()
    if method := filters.get("method"):
        qs = qs.filter(method=method)
    return list(qs.order_by("-started_on", "title")[:500])


def _written(study: Study) -> None:
    """A PM's edit is a write like any other: themes, sentiment, mentions and overlaps follow."""
    record_write(study.source_key, {"research"}, [study.product_id])


@pm_required
def index(request: HttpRequest) -> HttpResponse:
    filters = parse_filters(request, params=RESEARCH_PARAMS, default_range=ALL_TIME)
    studies = _studies(filters)
    tags: Counter[str] = Counter()
    for tag_list in Highlight.objects.filter(study__in=[s.pk for s in studies]).values_list(
        "tags", flat=True
    ):
        tags.update(str(t).lower() for t in tag_list or [])
    redundant = Insight.objects.filter(kind=InsightKind.REDUNDANT_RESEARCH).exclude(
        status__in=[InsightStatus.RESOLVED]
    )
    if filters.product:
        redundant = redundant.filter(products=filters.product)
    if filters.team:
        redundant = redundant.filter(teams=filters.team)
    allowed = editable_product_ids(request.user)
    context = {
        **filter_bar_context(filters),
        "studies": studies,
        "top_tags": tags.most_common(12),
        "redundant": list(redundant.order_by("-score")[:20]),
        "can_create": allowed is None or bool(allowed),
        "methods": Method.choices,
    }
    return render(request, "research/index.html", context)


def _require_edit(request: HttpRequest, study: Study) -> None:
    if not can_edit_product(request.user, study.product_id):
        raise PermissionDenied("Only the product-ops lead and the PMs of this product edit its research.")


@pm_required
def study(request: HttpRequest, pk: int) -> HttpResponse:
    s = get_object_or_404(Study.objects.select_related("product", "team", "owner"), pk=pk)
    editable = can_edit_product(request.user, s.product_id)
    notes = list(s.notes.order_by("created_at"))
    note_titles = {n.external_id: n.title for n in notes}
    highlights = list(s.highlights.order_by("created_at"))
    for h in highlights:
        h.note_title = note_titles.get(h.note_ref, "")  # type: ignore[attr-defined]
    related = Insight.objects.filter(kind=InsightKind.REDUNDANT_RESEARCH).filter(
        Q(payload__study_a_id=s.pk) | Q(payload__study_b_id=s.pk)
    )
    context = {
        "study": s,
        "notes": notes,
        "highlights": highlights,
        "editable": editable,
        "highlight_form": HighlightForm() if editable else None,
        "note_form": NoteForm() if editable else None,
        "related": list(related),
    }
    return render(request, "research/study.html", context)


@pm_required
def study_form(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    s = get_object_or_404(Study, pk=pk) if pk else None
    if s is not None:
        _require_edit(request, s)
    elif editable_product_ids(request.user) == set():
        return render(request, "research/study_form.html", {"form": None, "study": None, "no_rights": True})
    form = StudyForm(request.POST or None, instance=s, user=request.user)
    if request.method == "POST" and form.is_valid():
        saved: Study = form.save(commit=False)
        if not can_edit_product(request.user, saved.product_id):
            raise PermissionDenied("Only the product-ops lead and the PMs of this product edit its research.")
        if not saved.pk:
            saved.source_key, saved.external_id = MANUAL, f"study-{get_random_string(16)}"
        saved.last_seen_at = timezone.now()
        with transaction.atomic():
            saved.save()
            _written(saved)
        messages.success(request, f"Saved “{saved.title}”.")
        return HttpResponseRedirect(reverse("research:study", args=[saved.pk]))
    return render(request, "research/study_form.html", {"form": form, "study": s})


@pm_required
@require_POST
def add_highlight(request: HttpRequest, pk: int) -> HttpResponse:
    s = get_object_or_404(Study, pk=pk)
    _require_edit(request, s)
    form = HighlightForm(request.POST)
    if form.is_valid():
        h: Highlight = form.save(commit=False)
        h.study, h.external_id = s, f"manual-{get_random_string(16)}"
        with transaction.atomic():
            h.save()
            _written(s)
        messages.success(request, "Highlight added; it joins the feedback themes at the next recompute.")
    else:
        messages.error(request, "The highlight needs a quote.")
    return HttpResponseRedirect(reverse("research:study", args=[s.pk]) + "#highlights")


@pm_required
@require_POST
def add_note(request: HttpRequest, pk: int) -> HttpResponse:
    s = get_object_or_404(Study, pk=pk)
    _require_edit(request, s)
    form = NoteForm(request.POST)
    if form.is_valid() and (form.cleaned_data["title"] or form.cleaned_data["text"]):
        note = form.save(commit=False)
        note.study, note.external_id = s, f"manual-{get_random_string(16)}"
        with transaction.atomic():
            note.save()
            _written(s)
        messages.success(request, "Note added.")
    else:
        messages.error(request, "A note needs a title or some text.")
    return HttpResponseRedirect(reverse("research:study", args=[s.pk]) + "#notes")


@pm_required
def compare(request: HttpRequest, a: int, b: int) -> HttpResponse:
    """Two studies side by side: the page a redundant-research insight links to."""
    studies = Study.objects.select_related("product", "team").annotate(
        n_highlights=Count("highlights", distinct=True)
    )
    left, right = get_object_or_404(studies, pk=a), get_object_or_404(studies, pk=b)
    insight = Insight.objects.filter(
        kind=InsightKind.REDUNDANT_RESEARCH, key=f"research:{min(a, b)}:{max(a, b)}"
    ).first()
    tags_l = {t.lower() for h in left.highlights.all() for t in h.tags or []} | {t.lower() for t in left.tags}
    tags_r = {t.lower() for h in right.highlights.all() for t in h.tags or []} | {
        t.lower() for t in right.tags
    }
    context = {
        "left": left,
        "right": right,
        "insight": insight,
        "shared_tags": sorted(tags_l & tags_r),
        "left_highlights": list(left.highlights.order_by("created_at")[:10]),
        "right_highlights": list(right.highlights.order_by("created_at")[:10]),
    }
    return render(request, "research/compare.html", context)


@pm_required
def import_view(request: HttpRequest) -> HttpResponse:
    allowed = editable_product_ids(request.user)
    if allowed == set():
        return render(request, "research/import.html", {"form": None, "no_rights": True})
    form = ImportForm(request.POST or None, request.FILES or None)
    result = None
    if request.method == "POST" and form.is_valid():
        try:
            if f := form.cleaned_data.get("csv_file"):
                result = import_csv(f.read(), request.user)
            else:
                files = [(f.name, f.read()) for f in form.cleaned_data["markdown_files"]]
                result = import_markdown(files, request.user)
        except CsvImportError as exc:
            form.add_error("csv_file", str(exc))
        else:
            if result.studies:
                messages.success(
                    request,
                    f"Imported {result.studies} stud{'y' if result.studies == 1 else 'ies'}, "
                    f"{result.notes} notes and {result.highlights} highlights.",
                )
            if result.ok:
                return HttpResponseRedirect(reverse("research:index"))
    return render(request, "research/import.html", {"form": form, "result": result})


@pm_required
def import_template(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(template_csv(), content_type="text/csv")
    response["Content-Disposition"] = 'attachment; filename="research-template.csv"'
    return response
