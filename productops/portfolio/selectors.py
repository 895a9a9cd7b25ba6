"""Reads of the portfolio: one tree per team (initiative > epic > story) and the dependencies between items.

Three queries whatever the size: teams, their current items, and the dependencies touching them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db.models import Q

from productops.portfolio.models import Dependency, PortfolioItem, Team

KIND_ORDER = {"initiative": 0, "epic": 1, "story": 2}


@dataclass
class Node:
    item: PortfolioItem
    children: list[Node] = field(default_factory=list)
    # True when the item's parent belongs to another team (or is gone): it is a root here.
    parent_elsewhere: bool = False


@dataclass
class TeamTree:
    team: Team
    roots: list[Node]
    dependencies: list[Dependency]  # every dependency with at least one end in this team

    @property
    def cross_team(self) -> list[Dependency]:
        return [d for d in self.dependencies if d.from_item.team_id != d.to_item.team_id]


def team_trees(team_ids: Iterable[int] | None = None, *, include_gone: bool = False) -> list[TeamTree]:
    """One tree per team (all teams when `team_ids` is None), ordered by team name.

    Roots are items without a parent in the same team; children are sorted by kind then title.
    """
    teams = Team.objects.all() if team_ids is None else Team.objects.filter(pk__in=list(team_ids))
    teams_by_id = {t.pk: t for t in teams}
    found = PortfolioItem.objects.filter(team_id__in=list(teams_by_id))
    if not include_gone:
        found = found.filter(is_gone=False)
    item_list = list(found)
    by_id = {i.pk: i for i in item_list}
    nodes = {i.pk: Node(i) for i in item_list}
    roots: dict[int, list[Node]] = {pk: [] for pk in teams_by_id}
    for item in item_list:
        node = nodes[item.pk]
        parent = by_id.get(item.parent_id) if item.parent_id else None
        if parent is not None and parent.team_id == item.team_id:
            nodes[parent.pk].children.append(node)
        else:
            node.parent_elsewhere = item.parent_id is not None
            roots[item.team_id].append(node)  # type: ignore[index]

    def order(branch: list[Node]) -> list[Node]:
        branch.sort(key=lambda n: (KIND_ORDER.get(n.item.kind, 9), n.item.title.lower(), n.item.pk))
        for n in branch:
            order(n.children)
        return branch

    deps = list(
        Dependency.objects.filter(Q(from_item_id__in=list(by_id)) | Q(to_item_id__in=list(by_id)))
        .select_related("from_item", "to_item")
        .order_by("pk")
    )
    if not include_gone:
        deps = [d for d in deps if not d.from_item.is_gone and not d.to_item.is_gone]
    out = []
    for team in sorted(teams_by_id.values(), key=lambda t: t.name.lower()):
        mine = [d for d in deps if team.pk in (d.from_item.team_id, d.to_item.team_id)]
        out.append(TeamTree(team, order(roots[team.pk]), mine))
    return out


def flatten(nodes: list[Node], depth: int = 0) -> list[tuple[int, PortfolioItem]]:
    """(depth, item) in tree order, for templates and tests."""
    out: list[tuple[int, PortfolioItem]] = []
    for n in nodes:
        out.append((depth, n.item))
        out.extend(flatten(n.children, depth + 1))
    return out
