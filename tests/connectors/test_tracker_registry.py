"""The five tracker connectors are registered, in the portfolio family, with a form that says where tokens come from."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.base import REGISTRY, Link, Page, by_family
from productops.portfolio.models import Dependency, PortfolioItem
from productops.portfolio.services import apply_links, mark_gone

TRACKERS = {
    "jira_cloud": ("api_token", "id.atlassian.com/manage-profile/security/api-tokens"),
    "jira_dc": ("personal_access_token", "using-personal-access-tokens"),
    "github": ("token", "github.com/settings/personal-access-tokens"),
    "gitlab": ("token", "personal_access_tokens"),
    "linear": ("api_key", "linear.app/settings/account/security"),
}


@pytest.mark.parametrize("kind", sorted(TRACKERS))
def test_registered_in_the_portfolio_gallery_with_token_help(kind: str) -> None:
    cls = REGISTRY[kind]
    assert (
        cls.family == "portfolio"
        and cls.label
        and len(cls.description) > 40
        and cls.docs_url.startswith("https://")
    )
    secret, link = TRACKERS[kind]
    assert cls.secret_fields == (secret, "hook_secret")
    form = cls.config_form()
    assert link in str(form.fields[secret].help_text)
    assert "scopes" in form.fields and form.fields["scopes"].help_text
    gallery = {c.kind for family, _label, members in by_family() if family == "portfolio" for c in members}
    assert kind in gallery


def test_page_extras_are_optional_for_older_connectors() -> None:
    page = Page([], None, done=True)
    assert page.links == [] and page.present_ids is None


@pytest.mark.django_db
def test_links_skip_other_ends_outside_the_connection_and_mark_gone_restores(caplog: Any) -> None:
    a = PortfolioItem.objects.create(source_key="conn:1", external_id="A", title="A")
    b = PortfolioItem.objects.create(source_key="conn:1", external_id="B", title="B")
    PortfolioItem.objects.create(source_key="conn:2", external_id="C", title="C in another connection")
    counts = apply_links(
        "conn:1",
        [Link("blocks", "A", "B"), Link("blocks", "A", "C"), Link("parent", "B", "A")],
        complete_for=["A", "B"],
    )
    assert counts["dependencies"] == 1 and counts["unresolved"] == 1 and counts["parents"] == 1
    assert list(Dependency.objects.values_list("from_item_id", "to_item_id")) == [(a.pk, b.pk)]
    assert "skipped" in caplog.text
    # The source dropped the link: a complete item without it loses the dependency.
    counts = apply_links("conn:1", [Link("parent", "B", None)], complete_for=["A", "B"])
    assert counts["removed"] == 1 and not Dependency.objects.exists()
    b.refresh_from_db()
    assert b.parent_id is None

    assert mark_gone("conn:1", ["A"]) == (1, 0)
    assert mark_gone("conn:1", ["A", "B"]) == (0, 1)
    assert not PortfolioItem.objects.filter(is_gone=True).exists()
