"""The Goals page (objectives tree, key result progress, alignment), key result detail, the forms to
create and edit objectives and key results, check-ins, alignment decisions and the CSV import.

Everyone with a role reads; editing is for the lead and the PMs of the product (`permissions.py`),
checked in every view that writes, so a PM of another product gets a 403.
"""

from __future__ import annotations

import base64
from collections import defaultdict

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Prefetch, Q
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from insights.models import Insight, InsightKind
from productops.accounts.roles import pm_required
from productops.portfolio.models import PortfolioItem, StatusCategory
from productops.ui.filters import ALL_TIME, Choice, Filters, filter_bar_context, parse_filters

from . import services
from .charts import projection_chart
from .csv_import import CsvImportError, import_goals, template_csv
from .forms import CheckInForm, ImportForm, KeyResultForm, LinkForm, ObjectiveForm
from .models import Alignment, AlignmentStatus, KeyResult, KrStatus, Level, Objective
from .permissions import can_edit, editable_product_ids, user_team_ids

GOALS_PARAMS = {
    "status": Choice(values=tuple(KrStatus.values)),
    "level": Choice(values=tuple(Level.values)),
}
UNALIGNED_SHOWN = 50
SUGGESTIONS_SHOWN = 30
BAD_ROWS_SESSION_KEY = "goals_bad_rows"


def _objectives(filters: Filters) -> list[Objective]:
    qs = Objective.objects.select_related("product", "team", "owner", "parent")
    if not filters.all_time:
        qs = qs.filter(period_end__gte=filters.start, period_start__lte=filters.end)
    if filters.product:
        qs = qs.filter(product=filters.product)
    if filters.team:
        qs = qs.filter(Q(team=filters.team) | Q(level=Level.PRODUCT, product__in=filters.team.products.all()))
    if level := filters.get("level"):
        qs = qs.filter(level=level)
    krs = KeyResult.objects.select_related("metric").annotate(
        linked=Count("alignments", filter=Q(alignments__status=AlignmentStatus.CONFIRMED))
    )
    if status := filters.get("status"):
        qs = qs.filter(key_results__status=status).distinct()
        krs = krs.filter(status=status)
    return list(qs.prefetch_related(Prefetch("key_results", queryset=krs.order_by("pk"))))


def _tree(objectives: list[Objective]) -> list[tuple[Objective, int]]:
    """Depth-first: company objectives, then the product objectives under them, then team ones."""
    shown = {o.pk for o in objectives}
    children: dict[int | None, list[Objective]] = defaultdict(list)
    for o in objectives:
        children[o.parent_id if o.parent_id in shown else None].append(o)
    order: dict[str, int] = {Level.COMPANY: 0, Level.PRODUCT: 1, Level.TEAM: 2}
    out: list[tuple[Objective, int]] = []
    seen: set[int] = set()

    def walk(parent: int | None, depth: int) -> None:
        nodes = sorted(
            children.get(parent, []),
            key=lambda o: (order.get(o.level, 3), o.product.name if o.product else "", o.title),
        )
        for o in nodes:
            if o.pk in seen:
                continue
            seen.add(o.pk)
            out.append((o, min(depth, 4)))
            walk(o.pk, depth + 1)

    walk(None, 0)
    return out


def _unaligned_items(filters: Filters) -> tuple[list[PortfolioItem], int]:
    qs = (
        PortfolioItem.objects.filter(kind__in=services.ALIGNABLE_KINDS, is_gone=False)
        .exclude(status_category=StatusCategory.DONE)
        .exclude(alignments__status=AlignmentStatus.CONFIRMED)
        .select_related("team", "product")
    )
    if filters.product:
        qs = qs.filter(product=filters.product)
    if filters.team:
        qs = qs.filter(team=filters.team)
    return list(qs.order_by("target_date", "title")[:UNALIGNED_SHOWN]), qs.count()


@pm_required
def index(request: HttpRequest) -> HttpResponse:
    filters = parse_filters(request, params=GOALS_PARAMS, default_range=ALL_TIME)
    objectives = _objectives(filters)
    tree = _tree(objectives)
    allowed = editable_product_ids(request.user)
    teams = user_team_ids(request.user)
    editable = {
        o.pk
        for o in objectives
        if allowed is None or o.product_id in allowed or (o.product_id and o.team_id in teams)
    }
    counts: dict[str, int] = defaultdict(int)
    for o in objectives:
        for kr in o.key_results.all():
            counts[kr.status] += 1
    unaligned_objectives = [
        o
        for o in objectives
        if o.key_results.all() and not any(getattr(kr, "linked", 0) for kr in o.key_results.all())
    ]
    items, items_total = _unaligned_items(filters)
    suggestions = list(
        Alignment.objects.filter(
            status=AlignmentStatus.SUGGESTED, key_result__objective__in=[o.pk for o in objectives]
        )
        .select_related("item", "item__team", "key_result", "key_result__objective")
        .order_by("-score")[:SUGGESTIONS_SHOWN]
    )
    context = {
        **filter_bar_context(filters),
        "tree": tree,
        "editable": editable,
        "can_create": allowed is None or bool(allowed),
        "status_counts": [(s, KrStatus(s).label, counts.get(s, 0)) for s in KrStatus.values],
        "status_choices": KrStatus.choices,
        "level_choices": Level.choices,
        "unaligned_objectives": unaligned_objectives,
        "unaligned_items": items,
        "unaligned_items_total": items_total,
        "suggestions": suggestions,
        "querystring": filters.querystring(),
        "new_url": reverse("goals:objective_new"),
    }
    return render(request, "goals/index.html", context)


def _kr(pk: int) -> KeyResult:
    return get_object_or_404(
        KeyResult.objects.select_related("objective", "objective__product", "objective__team", "metric"),
        pk=pk,
    )


def _require_edit(request: HttpRequest, objective: Objective) -> None:
    if not can_edit(request.user, objective):
        raise PermissionDenied("Only the product-ops lead and the PMs of this product edit its goals.")


@pm_required
def key_result(request: HttpRequest, pk: int) -> HttpResponse:
    kr = _kr(pk)
    alignments = list(
        kr.alignments.select_related("item", "item__team", "decided_by").order_by("status", "-score")
    )
    insight = Insight.objects.filter(kind=InsightKind.GOAL_AT_RISK, key=services.insight_key(kr.pk)).first()
    editable = can_edit(request.user, kr.objective)
    context = {
        "kr": kr,
        "objective": kr.objective,
        "chart": projection_chart(kr),
        "explanation": (kr.projection or {}).get("explanation", ""),
        "check_ins": kr.check_ins.select_related("author")[:100],
        "confirmed": [a for a in alignments if a.status == AlignmentStatus.CONFIRMED],
        "suggested": [a for a in alignments if a.status == AlignmentStatus.SUGGESTED],
        "rejected": [a for a in alignments if a.status == AlignmentStatus.REJECTED],
        "insight": insight,
        "editable": editable,
        "checkin_form": CheckInForm(bound_kr=kr.is_bound),
        "link_form": LinkForm(kr=kr) if editable else None,
    }
    return render(request, "goals/key_result.html", context)


@pm_required
def objective_form(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    objective = get_object_or_404(Objective, pk=pk) if pk else None
    if objective is not None:
        _require_edit(request, objective)
    elif editable_product_ids(request.user) == set():
        # Not a 403: a PM may be here, they just belong to no team yet. Say how to get there.
        return render(
            request, "goals/objective_form.html", {"form": None, "objective": None, "no_rights": True}
        )
    initial = {}
    if objective is None and (parent := request.GET.get("parent", "")).isdigit():
        initial["parent"] = int(parent)
    form = ObjectiveForm(request.POST or None, instance=objective, user=request.user, initial=initial)
    if request.method == "POST" and form.is_valid():
        saved = form.save()
        messages.success(request, f"Saved the objective “{saved.title}”.")
        return HttpResponseRedirect(reverse("goals:index") + f"#objective-{saved.pk}")
    return render(request, "goals/objective_form.html", {"form": form, "objective": objective})


@pm_required
def key_result_form(
    request: HttpRequest, objective_pk: int | None = None, pk: int | None = None
) -> HttpResponse:
    kr = _kr(pk) if pk else None
    objective = kr.objective if kr else get_object_or_404(Objective, pk=objective_pk)
    _require_edit(request, objective)
    form = KeyResultForm(request.POST or None, instance=kr, objective=objective)
    if request.method == "POST" and form.is_valid():
        saved = form.save()
        services.refresh(saved)
        messages.success(request, f"Saved the key result “{saved.title}”.")
        return HttpResponseRedirect(reverse("goals:key_result", args=[saved.pk]))
    return render(request, "goals/key_result_form.html", {"form": form, "objective": objective, "kr": kr})


@pm_required
@require_POST
def check_in(request: HttpRequest, pk: int) -> HttpResponse:
    kr = _kr(pk)
    _require_edit(request, kr.objective)
    form = CheckInForm(request.POST, bound_kr=kr.is_bound)
    if form.is_valid():
        services.check_in(kr, request.user, form.cleaned_data["value"], form.cleaned_data["comment"].strip())
        messages.success(request, "Check-in saved.")
    else:
        errors = "; ".join(str(e) for errs in form.errors.values() for e in errs)
        messages.error(request, f"Check-in not saved: {errors}")
    return HttpResponseRedirect(reverse("goals:key_result", args=[kr.pk]) + "#check-ins")


@pm_required
@require_POST
def align(request: HttpRequest, pk: int) -> HttpResponse:
    kr = _kr(pk)
    _require_edit(request, kr.objective)
    action = request.POST.get("action", "")
    form = LinkForm(request.POST, kr=kr)
    item = None
    if action == "link":
        if form.is_valid():
            item, action = form.cleaned_data["item"], "confirm"
    else:
        raw = request.POST.get("item", "")
        item = PortfolioItem.objects.filter(pk=int(raw)).first() if raw.isdigit() and len(raw) < 12 else None
    product_id = kr.objective.product_id
    if item is None or action not in {"confirm", "reject", "unlink"}:
        messages.error(request, "Choose an initiative or epic and an action.")
    elif product_id and item.product_id and item.product_id != product_id:
        messages.error(request, "That work belongs to another product; it cannot serve this key result.")
    else:
        try:
            services.decide(kr, item, action, request.user)
        except services.AlignmentError as exc:
            messages.error(request, str(exc))
        else:
            done = {"confirm": "Linked", "reject": "Rejected", "unlink": "Unlinked"}[action]
            messages.success(request, f"{done}: {item.title}.")
    back = request.POST.get("next", "")
    if back == "index":
        return HttpResponseRedirect(reverse("goals:index") + "#suggestions")
    return HttpResponseRedirect(reverse("goals:key_result", args=[kr.pk]) + "#alignment")


@pm_required
def import_goals_view(request: HttpRequest) -> HttpResponse:
    if editable_product_ids(request.user) == set():
        return render(request, "goals/import.html", {"form": None, "no_rights": True})
    form = ImportForm(request.POST or None, request.FILES or None)
    report = None
    error = ""
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            report = import_goals(upload.read(), request.user)
        except CsvImportError as exc:
            error = exc.message
        else:
            for kr_id in dict.fromkeys(report.touched_key_results):
                services.refresh(KeyResult(pk=kr_id))
            if report.bad_rows_csv:
                request.session[BAD_ROWS_SESSION_KEY] = base64.b64encode(report.bad_rows_csv).decode()
            else:
                request.session.pop(BAD_ROWS_SESSION_KEY, None)
    return render(
        request,
        "goals/import.html",
        {
            "form": form,
            "report": report,
            "error": error,
            "errors_shown": report.errors[:200] if report else [],
        },
    )


@pm_required
def import_template(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(template_csv(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="goals-template.csv"'
    return response


@pm_required
def import_bad_rows(request: HttpRequest) -> HttpResponse:
    data = request.session.get(BAD_ROWS_SESSION_KEY)
    if not data:
        raise Http404("No bad rows from your last import.")
    response = HttpResponse(base64.b64decode(data), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="goals-bad-rows.csv"'
    return response
