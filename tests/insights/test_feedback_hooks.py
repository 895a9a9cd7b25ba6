"""The recompute hooks are registered and do the work; the management command runs them."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from insights.feedback.models import Theme
from insights.recompute import RecomputeScope, hooks, run
from productops.signals.models import SupportTicket

from .factories import make_product, make_tickets


def test_hooks_are_registered_with_their_families() -> None:
    registered = hooks()
    assert registered["feedback"][0] == frozenset({"nps", "tickets", "mentions", "kb", "research"})
    assert registered["experiments"][0] == frozenset({"experiments"})
    assert registered["redundant_research"][0] == frozenset({"research"})
    assert registered["competitors"][0] == frozenset({"nps", "tickets", "mentions", "research"})


@pytest.mark.django_db
def test_ticket_sync_runs_the_feedback_hook() -> None:
    product = make_product()
    make_tickets(product)
    ran = run(RecomputeScope(families={"tickets"}, product_ids={product.pk}))
    assert "feedback" in ran and "experiments" not in ran
    assert Theme.objects.filter(product=product).exists()
    assert not SupportTicket.objects.filter(sentiment__isnull=True).exists()


@pytest.mark.django_db
def test_command_reports_what_it_did() -> None:
    make_tickets(make_product())
    out = io.StringIO()
    call_command("recompute_feedback", "--product", "acme", stdout=out)
    assert "75 rows scored" in out.getvalue()
    with pytest.raises(SystemExit, match="Unknown product"):
        call_command("recompute_feedback", "--product", "nope", stdout=io.StringIO())
