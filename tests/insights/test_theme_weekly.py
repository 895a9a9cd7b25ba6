"""The ThemeWeekly rollup holds exactly the members' weekly counts after every kind of member write,
and the series read from it are the series counted from the member rows."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

from insights.feedback import selectors, services
from insights.feedback.models import Theme, ThemeMember, ThemeStatus, ThemeWeekly
from productops.signals.models import SupportTicket

from .factories import END, make_product, make_tickets


def _assert_rollup_matches_members() -> None:
    stored = sorted(ThemeWeekly.objects.values_list("theme_id", "product_id", "week", "members"))
    counted = sorted(selectors.member_week_counts(ThemeMember.objects.all(), by_product=True))
    assert stored == counted
    for kwargs in ({}, {"product_ids": list(Theme.objects.values_list("product_id", flat=True)[:1])}):
        members = ThemeMember.objects.filter(theme__status=ThemeStatus.ACTIVE)
        if kwargs:
            members = members.filter(product_id__in=kwargs["product_ids"])
        from_rollup = selectors.theme_volume_frame(**kwargs).sort_values(["series_id", "ts"])
        from_rows = selectors.theme_weekly_counts(members).sort_values(["series_id", "ts"])
        pd.testing.assert_frame_equal(
            from_rollup.reset_index(drop=True), from_rows.reset_index(drop=True), check_dtype=False
        )


def _theme(word: str) -> Theme:
    return max(
        (t for t in Theme.objects.filter(status=ThemeStatus.ACTIVE) if word in t.label.lower()),
        key=lambda t: t.size,
    )


@pytest.mark.django_db
def test_rollup_follows_every_member_write() -> None:
    acme, beta = make_product("acme"), make_product("beta")
    make_tickets(acme, seed=1)
    SupportTicket.objects.filter(product=acme).update(source_key="acme")  # the factory's ids restart
    make_tickets(beta, seed=2, per_topic=15)
    services.recompute_themes(n_themes=3)
    assert ThemeWeekly.objects.exists()
    _assert_rollup_matches_members()

    # New tickets, then the scoped recompute a sync runs: they join the existing themes.
    since = END - timedelta(days=2)
    SupportTicket.objects.bulk_create(
        SupportTicket(
            product=acme,
            source_key="late",
            external_id=f"late{i}",
            subject=f"The billing export fails again, invoice {i}",
            opened_at=since + timedelta(hours=i),
        )
        for i in range(6)
    )
    before = ThemeWeekly.objects.filter(theme__product=acme).count()
    services.recompute_themes(product_ids=[acme.pk], since=since)
    _assert_rollup_matches_members()
    assert sum(ThemeWeekly.objects.filter(theme__product=acme).values_list("members", flat=True)) == (
        ThemeMember.objects.filter(product=acme).count()
    )
    assert ThemeWeekly.objects.filter(theme__product=acme).count() >= before

    # A PM merges across products, then splits; a full recompute follows.
    other = Theme.objects.filter(product=beta, status=ThemeStatus.ACTIVE).first()
    assert other is not None
    services.merge_themes(_theme("export"), [other])
    _assert_rollup_matches_members()
    services.split_theme(_theme("export"))
    _assert_rollup_matches_members()
    services.recompute_themes(n_themes=3)
    _assert_rollup_matches_members()
    # Fewer clusters: a theme is not found again and is retired; its members and weeks go.
    active = Theme.objects.filter(status=ThemeStatus.ACTIVE).count()
    services.recompute_themes(n_themes=2)
    assert Theme.objects.filter(status=ThemeStatus.ACTIVE).count() < active
    _assert_rollup_matches_members()

    # A product's feedback is deleted: a full recompute retires its themes and their weeks go too.
    SupportTicket.objects.filter(product=beta).delete()
    services.recompute_themes(n_themes=3)
    _assert_rollup_matches_members()
