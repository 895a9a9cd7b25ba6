"""Render docs/digest-example.html (and docs/screenshots/digest.png) from the demo data.

    DATABASE_URL=... .venv/bin/python scripts/digest_example.py [--no-screenshot]

Seeds the demo if it is missing, then renders the digest that a PM following the demo's incident
product ("pulse") gets for the incident's week. When the insight detectors have run, their Insight
rows are used. Otherwise, stand-in rows are written from the demo's ground truth (keys prefixed
"example:"), so only use a scratch database. The screenshot needs Debian's chromium.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "productops.settings")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402

from insights import kinds  # noqa: E402
from insights.models import Insight, Severity  # noqa: E402
from insights.services import upsert_insight  # noqa: E402
from productops.accounts.roles import Role  # noqa: E402
from productops.accounts.services import create_user  # noqa: E402
from productops.digests.schedule import week_label  # noqa: E402
from productops.digests.services import ensure_subscription  # noqa: E402
from productops.portfolio.models import Product  # noqa: E402
from productops.signals.models import Metric, SupportTicket  # noqa: E402

EMAIL = "maya.pm@example.com"


def _aware(day: str) -> dt.datetime:
    return dt.datetime.fromisoformat(day).replace(tzinfo=dt.UTC)


def stand_in_insights(truth: dict) -> None:
    """Insight rows shaped like the detectors' (issue-7/9), placed where the ground truth plants them."""
    inc = truth["incident"]
    product = Product.objects.get(slug=inc["product"])
    start, end = _aware(inc["start"]), _aware(inc["end"]) + dt.timedelta(days=1)
    upsert_insight(
        "incident",
        f"example:incident:{inc['product']}:{inc['start']}",
        title=f"Core feature usage fell 45% on {product.name} after the {inc['flag']} rollout",
        summary=(
            f"Feature usage dipped on every platform and country from {inc['start']}; support tickets "
            f"tagged {inc['ticket_tag']} rose the same day and the flag {inc['flag']} changed hours before."
        ),
        severity=Severity.HIGH,
        score=4.0,
        product=product,
        starts_at=start,
        ends_at=end,
        payload=kinds.IncidentPayload(
            evidence=[
                {"type": "flag", "signal": "flag", "label": f"the {inc['flag']} flag", "ref": inc["flag"]},
                {"type": "tickets", "signal": "tickets", "label": f"tickets tagged {inc['ticket_tag']}"},
            ],
            signal_types=["metric", "tickets", "flag"],
        ),
    )
    for a in truth["anomalies"]:
        if a["product"] == inc["product"] and a["start"] == inc["start"] and a["dimension_key"] == "platform":
            upsert_insight(
                "anomaly",
                f"example:anomaly:{a['product']}:{a['metric']}:{a['dimension_value']}:{a['start']}",
                title=f"Core feature usage dip on {a['dimension_value']} ({a['effect']:+.0%})",
                summary=f"{a['kind'].title()} {a['start']} to {a['end']}, {a['z']:.0f} SDs below normal.",
                severity=Severity.MEDIUM,
                score=min(a["z"] / 10, 5),
                product=product,
                starts_at=_aware(a["start"]),
                ends_at=_aware(a["end"]) + dt.timedelta(days=1),
                payload=kinds.AnomalyPayload(
                    signal="metric",
                    metric_id=Metric.objects.filter(product=product, key=a["metric"])
                    .values_list("pk", flat=True)
                    .first(),
                    dimension_key=a["dimension_key"],
                    dimension_value=a["dimension_value"],
                ),
            )
    quote = (
        SupportTicket.objects.filter(
            product=product, tags__contains=[inc["ticket_tag"]], opened_at__gte=start
        )
        .order_by("opened_at")
        .values_list("subject", flat=True)
        .first()
    )
    upsert_insight(
        "theme",
        f"example:theme:{inc['product']}:{inc['phrase']}",
        title=f"Rising in support: “{inc['phrase']}”",
        summary=f"Tickets about {inc['phrase']} jumped after {inc['start']}.",
        severity=Severity.LOW,
        score=2.0,
        product=product,
        starts_at=start,
        ends_at=end,
        payload=kinds.ThemePayload(quotes=[quote or inc["phrase"]]),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--no-screenshot", action="store_true")
    args = parser.parse_args()

    from productops.signals.demo import seed

    truth = seed()  # idempotent: a re-run inserts nothing
    if not Insight.objects.filter(kind="incident", product__slug=truth["incident"]["product"]).exists():
        stand_in_insights(truth)
    user = create_user("maya", EMAIL, "example-only-password-1!", Role.PM, timezone="Europe/Berlin")
    sub = ensure_subscription(user)
    sub.weekday, sub.hour = 0, 9
    sub.save()
    sub.products.set([Product.objects.get(slug=truth["incident"]["product"])])
    week = week_label(dt.date.fromisoformat(truth["incident"]["start"]) + dt.timedelta(days=1))
    html = ROOT / "docs" / "digest-example.html"
    call_command("render_digest", user=EMAIL, week=week, out=str(html))
    if args.no_screenshot:
        return
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        sys.exit("chromium is not installed (apt-get install -y chromium); the HTML is written.")
    png = ROOT / "docs" / "screenshots" / "digest.png"
    png.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--screenshot={png}",
            "--window-size=680,1650",
            html.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    print(f"{png}")


if __name__ == "__main__":
    main()
