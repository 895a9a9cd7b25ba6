"""Alert rule pages (any user for themselves; the lead for teams and channels), the signed acknowledge
and mute links, and the chart image that chat apps fetch."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.core import signing
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from insights.models import Insight, InsightStatus
from insights.services import transition
from productops.accounts.roles import pm_required, public

from . import selectors, services
from .destinations import DeliveryError
from .forms import AlertRuleForm
from .message import chart_for
from .models import AlertRule
from .tokens import read_action_token, read_chart_token

MUTE_DAYS = 7


def _editable(request: HttpRequest, pk: int) -> AlertRule:
    rule = get_object_or_404(AlertRule.objects.select_related("owner", "team"), pk=pk)
    if not selectors.can_edit(request.user, rule):
        raise Http404("No alert rule you can edit has this id.")
    return rule


def _visible(request: HttpRequest, pk: int) -> AlertRule:
    rule = selectors.visible_rules(request.user).filter(pk=pk).first()
    if rule is None:
        raise Http404("No alert rule you can see has this id.")
    return rule


@pm_required
def rule_list(request: HttpRequest) -> HttpResponse:
    rules = list(selectors.visible_rules(request.user))
    for rule in rules:
        rule.editable = selectors.can_edit(request.user, rule)  # type: ignore[attr-defined]
    return render(request, "alerts/list.html", {"rules": rules})


@pm_required
def rule_detail(request: HttpRequest, pk: int) -> HttpResponse:
    rule = _visible(request, pk)
    return render(
        request,
        "alerts/detail.html",
        {
            "rule": rule,
            "editable": selectors.can_edit(request.user, rule),
            "deliveries": selectors.recent_deliveries(rule),
            "matching": selectors.matching_insights(rule).order_by("-detected_at")[:5],
        },
    )


def _form_page(request: HttpRequest, rule: AlertRule | None) -> HttpResponse:
    form = AlertRuleForm(request.POST or None, instance=rule, user=request.user)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            saved = form.save()
        if form.generated_secret:
            # Shown once, on this response only; stored encrypted and never displayed again.
            return render(
                request, "alerts/secret_once.html", {"rule": saved, "secret": form.generated_secret}
            )
        messages.success(request, f"Alert rule “{saved.name}” saved.")
        return redirect("alerts:detail", saved.pk)
    return render(request, "alerts/form.html", {"form": form, "rule": rule})


@pm_required
def rule_create(request: HttpRequest) -> HttpResponse:
    return _form_page(request, None)


@pm_required
def rule_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _form_page(request, _editable(request, pk))


@pm_required
@require_POST
def rule_delete(request: HttpRequest, pk: int) -> HttpResponse:
    rule = _editable(request, pk)
    name = rule.name
    rule.delete()
    messages.success(request, f"Alert rule “{name}” deleted.")
    return redirect("alerts:list")


@pm_required
@require_POST
def rule_test(request: HttpRequest, pk: int) -> HttpResponse:
    rule = _editable(request, pk)
    try:
        note = services.send_test(rule)
    except DeliveryError as exc:
        AlertRule.objects.filter(pk=rule.pk).update(last_error=exc.message, last_error_at=timezone.now())
        messages.error(request, f"The test alert failed: {exc.message}")
    else:
        messages.success(request, f"Test alert sent {note}.")
    return redirect("alerts:detail", rule.pk)


@public
@csrf_exempt  # the signed token is the credential; the link comes from e-mail or chat, without a session
@require_http_methods(["GET", "POST"])
def act(request: HttpRequest, token: str) -> HttpResponse:
    try:
        data = read_action_token(token)
    except signing.SignatureExpired:
        return render(request, "alerts/act.html", {"state": "expired"}, status=400)
    except signing.BadSignature:
        return render(request, "alerts/act.html", {"state": "invalid"}, status=400)
    insight = Insight.objects.filter(pk=data.insight_id).first()
    rule = AlertRule.objects.filter(pk=data.rule_id).first()
    if insight is None:
        return render(request, "alerts/act.html", {"state": "gone"}, status=404)
    ctx = {"insight": insight, "action": data.action, "token": token, "mute_days": MUTE_DAYS}
    if request.method == "GET":
        # Link scanners and chat unfurlers fetch GETs, so a GET only asks; the button POSTs.
        return render(request, "alerts/act.html", {**ctx, "state": "confirm"})
    user = request.user if request.user.is_authenticated else None
    comment = f"From the alert “{rule.name}”" if rule else "From an alert"
    if data.action == "acknowledge":
        if insight.status == InsightStatus.NEW:
            transition(insight, "acknowledge", user, comment=comment)
    else:
        transition(
            insight, "mute", user, comment=comment, until=timezone.now() + dt.timedelta(days=MUTE_DAYS)
        )
    insight.refresh_from_db()
    return render(request, "alerts/act.html", {**ctx, "state": "done"})


@public
def chart(request: HttpRequest, token: str) -> HttpResponse:
    """The PNG chart of an alert's insight, for Slack and Teams to fetch (they get no attachment)."""
    try:
        insight_id = read_chart_token(token)
    except signing.BadSignature:
        raise Http404("This chart link is not valid or has expired.") from None
    insight = get_object_or_404(Insight, pk=insight_id)
    drawn = chart_for(insight)
    if drawn is None:
        raise Http404("This insight has no chart.")
    response = HttpResponse(drawn.png, content_type="image/png")
    response["Cache-Control"] = "private, max-age=3600"
    return response
