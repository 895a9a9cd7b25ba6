"""Demo delivery data: tracker estimates on items, creation dates for backlog age, and one slipping epic
with its target-date history (moved twice, six weeks in all), so Delivery health, the roadmap and the
inbox have something true to show.

Runs after the portfolio section with its own random stream, so the portfolio's items stay as they were.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from . import world
from .portfolio import SOURCE_KEY

STORY_POINTS = (1, 2, 3, 5, 8)
SIZES = ("S", "M", "L", "XL")
UNESTIMATED_SHARE = 0.25  # a quarter of stories carry no estimate, as in most real backlogs
SLIP_WEEKS = (3, 3)  # the slipping epic's two moves
SLIPPING_TEAM = "growth"


def seed_delivery(truth: dict[str, Any]) -> dict[str, int]:
    from productops.delivery.models import TargetDateChange
    from productops.portfolio.models import PortfolioItem

    rng = world.rng(0, "delivery")
    items = list(
        PortfolioItem.objects.filter(source_key=SOURCE_KEY).order_by("external_id").select_related("team")
    )
    for item in items:
        start = item.start_date or world.START_DATE
        item.created_at_source = dt.datetime.combine(
            start - dt.timedelta(days=int(rng.integers(3, 90))), dt.time(10), tzinfo=dt.UTC
        )
        if item.kind == "story":
            unestimated = rng.random() < UNESTIMATED_SHARE
            item.estimate_points = None if unestimated else float(rng.choice(STORY_POINTS))
            item.estimate_size = ""
        elif item.kind == "epic":
            item.estimate_points = None
            item.estimate_size = str(rng.choice(SIZES)) if rng.random() < 0.5 else ""
    PortfolioItem.objects.bulk_update(
        items, ["created_at_source", "estimate_points", "estimate_size"], batch_size=1000
    )

    # The slipping epic: the first of the team's epics still in progress at the end of the demo.
    slipping = next(
        (
            i
            for i in items
            if i.kind == "epic"
            and i.status_category == "in_progress"
            and i.team is not None
            and i.team.slug == SLIPPING_TEAM
            and i.target_date
        ),
        None,
    )
    TargetDateChange.objects.filter(item__in=items, source="demo").delete()
    rows = []
    for item in items:
        if item.target_date is None:
            continue
        seen = dt.datetime.combine(item.start_date or world.START_DATE, dt.time(9), tzinfo=dt.UTC)
        if item is slipping:
            first = item.target_date - dt.timedelta(weeks=sum(SLIP_WEEKS))
            second = first + dt.timedelta(weeks=SLIP_WEEKS[0])
            rows += [
                TargetDateChange(item=item, from_date=None, to_date=first, changed_at=seen, source="demo"),
                TargetDateChange(
                    item=item,
                    from_date=first,
                    to_date=second,
                    changed_at=dt.datetime.combine(first - dt.timedelta(days=10), dt.time(9), tzinfo=dt.UTC),
                    source="demo",
                ),
                TargetDateChange(
                    item=item,
                    from_date=second,
                    to_date=item.target_date,
                    changed_at=dt.datetime.combine(second - dt.timedelta(days=5), dt.time(9), tzinfo=dt.UTC),
                    source="demo",
                ),
            ]
        else:
            rows.append(
                TargetDateChange(
                    item=item, from_date=None, to_date=item.target_date, changed_at=seen, source="demo"
                )
            )
    TargetDateChange.objects.bulk_create(rows, batch_size=2000)
    if slipping is not None:
        truth["delivery"] = {
            "slipping_epic": slipping.external_id,
            "slipping_title": slipping.title,
            "slip_days": sum(SLIP_WEEKS) * 7,
            "moves": len(SLIP_WEEKS),
        }
    return {"estimated_stories": sum(1 for i in items if i.kind == "story" and i.estimate_points is not None)}
