"""A scoped recompute bounds theme work by the write's since-date: a few new rows join the existing
themes (the older members are not rewritten), re-sending them duplicates nothing, and a large write or a
product without themes is re-clustered in full."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from insights.feedback import services
from insights.feedback.models import Theme, ThemeMember, ThemeStatus
from productops.signals.models import SupportTicket
from tests.insights.factories import END, TOPICS, _ticket, make_product, make_tickets

pytestmark = pytest.mark.django_db


def _new_tickets(product: object, topic: str, count: int, start: int) -> list[SupportTicket]:
    rng = random.Random(start)
    rows = [
        _ticket(product, start + i, topic, TOPICS[topic], rng, END + timedelta(days=1, hours=i))
        for i in range(count)
    ]
    return SupportTicket.objects.bulk_create(rows)


def _theme_of_topic(product_id: int, topic: str) -> int:
    """The theme most of a topic's older tickets belong to."""
    ids = [
        t.pk for t in SupportTicket.objects.filter(product_id=product_id, tags=[topic], opened_at__lte=END)
    ]
    themes = list(
        ThemeMember.objects.filter(source="ticket", object_id__in=ids).values_list("theme_id", flat=True)
    )
    return max(set(themes), key=themes.count)


def test_a_few_new_rows_join_existing_themes_without_reclustering() -> None:
    product = make_product("atlas")
    make_tickets(product, per_topic=40, weeks=20, seed=5)
    services.recompute_feedback(product_ids=[product.pk], full=True)
    themes_before = set(
        Theme.objects.filter(product=product, status=ThemeStatus.ACTIVE).values_list("pk", flat=True)
    )
    members_before = set(ThemeMember.objects.filter(product=product).values_list("pk", flat=True))
    export_theme = _theme_of_topic(product.pk, "export")
    login_theme = _theme_of_topic(product.pk, "login")
    assert export_theme != login_theme and len(members_before) >= 60

    new = _new_tickets(product, "export", 6, 1000) + _new_tickets(product, "login", 4, 2000)
    since = END + timedelta(days=1)
    services.recompute_feedback(product_ids=[product.pk], since=since)

    # The older memberships are untouched (same rows), the themes are the same, the new rows joined them.
    assert members_before <= set(ThemeMember.objects.filter(product=product).values_list("pk", flat=True))
    assert (
        set(Theme.objects.filter(product=product, status=ThemeStatus.ACTIVE).values_list("pk", flat=True))
        == themes_before
    )
    joined = dict(
        ThemeMember.objects.filter(source="ticket", object_id__in=[t.pk for t in new]).values_list(
            "object_id", "theme_id"
        )
    )
    assert [joined.get(t.pk) for t in new[:6]] == [export_theme] * 6
    assert [joined.get(t.pk) for t in new[6:]] == [login_theme] * 4
    export = Theme.objects.get(pk=export_theme)
    assert export.size == ThemeMember.objects.filter(theme=export).count()

    # The same rows again (a re-sync): nothing duplicated.
    count = ThemeMember.objects.filter(product=product).count()
    services.recompute_feedback(product_ids=[product.pk], since=since)
    assert ThemeMember.objects.filter(product=product).count() == count


def test_a_large_write_or_a_product_without_themes_is_reclustered() -> None:
    product = make_product("atlas")
    since = END - timedelta(days=400)
    # No themes yet: the bounded path declines and the product is clustered in full.
    make_tickets(product, per_topic=30, weeks=20, seed=6)
    assert services.add_recent_members(product.pk, since) is None
    services.recompute_feedback(product_ids=[product.pk], since=since)
    members_before = set(ThemeMember.objects.filter(product=product).values_list("pk", flat=True))
    assert members_before

    _new_tickets(product, "darkmode", 60, 3000)  # more than a quarter of the themed feedback
    services.recompute_feedback(product_ids=[product.pk], since=END + timedelta(days=1))
    after = set(ThemeMember.objects.filter(product=product).values_list("pk", flat=True))
    assert not members_before & after  # every membership was rewritten by a full re-clustering
