"""Screenshots of the main pages for the README: `python scripts/screenshots.py http://127.0.0.1:8000`.

Drives Debian's Chromium with Playwright against a running productops with the demo data loaded.
"""

from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

OUT = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def log_in(page: Page, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")


def shoot(page: Page, base: str, path: str, name: str, wait: str | None = "[data-drawn='1']") -> None:
    page.goto(base + path)
    if wait and page.locator("[data-chart]").count():
        page.wait_for_selector(wait, timeout=30_000)
        page.wait_for_timeout(500)
    page.screenshot(path=str(OUT / f"{name}.png"), full_page=False)
    print(f"docs/screenshots/{name}.png  <- {path}")


def main(base: str) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        log_in(page, base, "pm", "productops-pm")
        shoot(page, base, "/", "overview")
        shoot(page, base, "/insights/", "insights")
        first = page.locator("table a[href^='/insights/']").first
        if first.count():
            href = first.get_attribute("href")
            shoot(page, base, href or "/insights/", "anomaly")
        shoot(page, base, "/explore/?metric=1&metric=2&breakdown=platform&range=180d", "explorer")
        for path, name in (
            ("/portfolio/", "portfolio"),
            ("/feedback/", "feedback"),
            ("/nps/", "nps"),
            ("/experiments/", "experiments"),
            ("/goals/", "goals"),
            ("/research/", "research"),
            ("/competitors/", "competitors"),
        ):
            shoot(page, base, path, name)
        page.goto(base + "/goals/?status=at_risk")
        at_risk = page.locator("table a[href^='/goals/key-results/']").first
        if at_risk.count():
            shoot(page, base, at_risk.get_attribute("href") or "/goals/", "key-result")
        page.goto(base + "/research/")
        compare = page.locator("a[href^='/research/compare/']").first
        if compare.count():
            shoot(page, base, compare.get_attribute("href") or "/research/", "research-compare")
        shoot(page, base, "/delivery/opportunities/?product=ledger", "opportunities", wait=None)
        shoot(page, base, "/delivery/health/?team=growth&range=365d", "delivery")
        shoot(page, base, "/delivery/roadmap/?team=growth", "roadmap", wait=None)
        context = browser.new_context(viewport={"width": 1440, "height": 1000})
        lead = context.new_page()
        log_in(lead, base, "lead", "productops-lead")
        shoot(lead, base, "/connectors/", "connectors", wait=None)
        shoot(lead, base, "/connectors/add/", "gallery", wait=None)
        lead.goto(base + "/alerts/")
        rule = lead.locator("table a[href^='/alerts/']").first
        if rule.count():
            shoot(lead, base, rule.get_attribute("href") or "/alerts/", "alerts", wait=None)
        browser.close()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000")
