"""Monitoring signals of the demo, as the Sentry and PagerDuty connectors would store them.

- Pulse's Sentry project "pulse-app": error events per day as a metric (good direction down), a release
  every two weeks with crash-free rates, and error issues. Release pulse@5.4.0 ships on the evening of
  2026-09-05 (the day before the planted Pulse incident); from the next day errors run at 6.5x, 4.5x and
  2x their usual level while messages fail to send, with a new issue first seen in that release.
- PagerDuty: incident #412 on the "Pulse Messaging API" service in the small hours of 2026-09-06, high
  urgency, resolved that morning; plus a few unrelated low-urgency incidents on other days.

So the Pulse incident tells one story: a release, an error spike, an on-call page, the feature-usage dip,
the ticket spike and the flag rollback. Everything is deterministic (its own random stream).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from productops.signals.ingest import UpsertResult, upsert
from productops.signals.models import ErrorIssue, Metric, MetricPoint, OpsIncident, Release

from . import world
from .metrics import INCIDENT_START, SPIKE_Z, _robust_sd
from .world import N_DAYS, SOURCE_KEY

PROJECT = "pulse-app"
METRIC_KEY = "sentry-errors-pulse-app"
BAD_RELEASE_DAY = INCIDENT_START - 1  # 2026-09-05, deployed in the evening
BAD_RELEASE = "pulse@5.4.0"
SPIKE = (6.5, 4.5, 2.0)  # error multipliers on the incident's three days
ERROR_LEVEL = 380.0  # accepted error events per weekday at the start
PAGE_NUMBER = 412
SPIKE_ISSUE = "PULSE-APP-4K1"


def _version(index: int, bad_index: int) -> str:
    number = 54 + index - bad_index  # pulse@5.4.0 is the bad one; one minor version per release
    return f"pulse@{number // 10}.{number % 10}.0"


def _error_series(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(values, expected, baseline) of the daily error count."""
    dow = np.array([world.day(i).weekday() for i in range(N_DAYS)])
    weekly = np.where(np.isin(dow, (5, 6)), 0.9, 1.0)
    trend = 1 + 0.35 * np.arange(N_DAYS) / N_DAYS
    baseline = ERROR_LEVEL * weekly * trend
    mult = np.ones(N_DAYS)
    mult[INCIDENT_START : INCIDENT_START + len(SPIKE)] = SPIKE
    expected = baseline * mult
    values = rng.poisson(expected * np.exp(rng.normal(0, 0.05, N_DAYS))).astype(float)
    return values, expected, baseline


def seed_monitoring(products: dict[str, int], seed: int, truth: dict[str, Any]) -> dict[str, UpsertResult]:
    rng = world.rng(seed, "monitoring")
    pulse = products["pulse"]

    # Error events per day, the way the Sentry connector stores them (one metric per project).
    metric_result = upsert(
        Metric,
        [
            {
                "source_key": SOURCE_KEY,
                "external_id": f"sentry:errors:{PROJECT}",
                "product_id": pulse,
                "name": f"Error events · {PROJECT}",
                "key": METRIC_KEY,
                "description": f"Errors Sentry accepted per day in project “{PROJECT}”.",
                "unit": "count",
                "good_direction": "down",
                "aggregation": "sum",
                "dimensions": [],
            }
        ],
    )
    metric_id = Metric.objects.get(source_key=SOURCE_KEY, external_id=f"sentry:errors:{PROJECT}").pk
    values, expected, _baseline = _error_series(rng)
    points = upsert(
        MetricPoint,
        (
            {
                "metric_id": metric_id,
                "ts": world.at(i),
                "dimension_key": "",
                "dimension_value": "",
                "value": v,
            }
            for i, v in enumerate(values.tolist())
        ),
    )
    resid = np.log((values + 0.5) / (expected + 0.5))
    peak = float(np.log(max(SPIKE)))
    z = peak / _robust_sd(resid)
    spike = {
        "product": "pulse",
        "metric": METRIC_KEY,
        "dimension_key": "",
        "dimension_value": "",
        "start": world.iso(INCIDENT_START),
        "end": world.iso(INCIDENT_START + len(SPIKE) - 1),
        "kind": "spike",
        "driver": None,
        "effect": round(max(SPIKE) - 1, 3),
        "z": round(z, 1),
    }
    truth["anomalies" if z >= SPIKE_Z else "incidental"].append(spike)

    # A release every two weeks; the bad one lands on the evening before the incident.
    days = list(range(BAD_RELEASE_DAY % 14 + 56, N_DAYS, 14))
    bad_index = days.index(BAD_RELEASE_DAY)
    release_rows = []
    for index, day in enumerate(days):
        version = _version(index, bad_index)
        bad = day == BAD_RELEASE_DAY
        release_rows.append(
            {
                "source_key": SOURCE_KEY,
                "external_id": f"{PROJECT}@{version}",
                "product_id": pulse,
                "version": version,
                "project": PROJECT,
                "environment": "production",
                "released_at": world.at(
                    day, 17 * 3600 + 20 * 60 if bad else 14 * 3600 + int(rng.integers(0, 7200))
                ),
                "new_issues": 4 if bad else int(rng.integers(0, 3)),
                "crash_free_sessions": 0.962 if bad else round(float(0.9945 + rng.normal(0, 0.0012)), 4),
                "crash_free_users": 0.981 if bad else round(float(0.9975 + rng.normal(0, 0.0008)), 4),
                "url": "",
            }
        )
    releases = upsert(Release, release_rows)

    # Issues: the release's new one behind the spike, a regression, and a steady trickle of small ones.
    base_url = "https://demo-org.sentry.io/issues/"
    issue_rows = [
        {
            "source_key": SOURCE_KEY,
            "external_id": "sentry:5120044",
            "product_id": pulse,
            "project": PROJECT,
            "short_id": SPIKE_ISSUE,
            "title": "MessageSendError: sync queue rejected payload (413 Payload Too Large)",
            "culprit": "sync/outbox.ts in flushOutbox",
            "level": "error",
            "status": "resolved",
            "substatus": "",
            "release": BAD_RELEASE,
            "first_seen": world.at(BAD_RELEASE_DAY, 23 * 3600 + 52 * 60),
            "last_seen": world.at(INCIDENT_START + 2, 21 * 3600 + 10 * 60),
            "events": 14230,
            "users": 3911,
            "url": f"{base_url}5120044/",
        },
        {
            "source_key": SOURCE_KEY,
            "external_id": "sentry:4870113",
            "product_id": pulse,
            "project": PROJECT,
            "short_id": "PULSE-APP-2Q8",
            "title": "TimeoutError: call signalling timed out after 15000 ms",
            "culprit": "calls/signalling.ts in connect",
            "level": "warning",
            "status": "unresolved",
            "substatus": "regressed",
            "release": "pulse@4.2.0",
            "first_seen": world.at(190, 9 * 3600),
            "last_seen": world.at(INCIDENT_START + 1, 12 * 3600),
            "events": 611,
            "users": 402,
            "url": f"{base_url}4870113/",
        },
    ]
    titles = (
        "TypeError: Cannot read properties of null (reading 'avatarUrl')",
        "ChunkLoadError: Loading chunk {n} failed.",
        "NetworkError when attempting to fetch resource.",
        "RangeError: Invalid time value",
        "Error: ResizeObserver loop completed with undelivered notifications",
        "SyntaxError: Unexpected end of JSON input",
    )
    for n, day in enumerate(range(75, N_DAYS, 21)):
        if abs(day - INCIDENT_START) <= 4:
            continue
        seen = min(N_DAYS - 1, day + int(rng.integers(1, 20)))
        issue_rows.append(
            {
                "source_key": SOURCE_KEY,
                "external_id": f"sentry:{4600000 + n}",
                "product_id": pulse,
                "project": PROJECT,
                "short_id": f"PULSE-APP-{n + 100:X}",
                "title": titles[n % len(titles)].format(n=300 + n),
                "culprit": "app/main.tsx",
                "level": "error" if n % 3 else "warning",
                "status": "resolved" if seen < N_DAYS - 30 else "unresolved",
                "substatus": "" if seen < N_DAYS - 30 else "ongoing",
                "release": _version(max(0, (day - days[0]) // 14), bad_index),
                "first_seen": world.at(day, int(rng.integers(0, 86400))),
                "last_seen": world.at(seen, int(rng.integers(0, 86400))),
                "events": int(rng.integers(12, 400)),
                "users": int(rng.integers(5, 120)),
                "url": f"{base_url}{4600000 + n}/",
            }
        )
    issues = upsert(ErrorIssue, issue_rows)

    # PagerDuty: the incident's page, and some unrelated ones.
    pd_url = "https://demo-org.pagerduty.com/incidents/"
    incident_rows = [
        {
            "source_key": SOURCE_KEY,
            "external_id": "pd:Q1PULSE412",
            "product_id": pulse,
            "number": PAGE_NUMBER,
            "title": "Pulse messaging: send failures above 5%",
            "service_id": "PMSG001",
            "service_name": "Pulse Messaging API",
            "status": "resolved",
            "urgency": "high",
            "priority": "P1",
            "opened_at": world.at(INCIDENT_START, 3 * 3600 + 5 * 60),
            "resolved_at": world.at(INCIDENT_START, 7 * 3600 + 48 * 60),
            "url": f"{pd_url}Q1PULSE412",
        }
    ]
    others = (
        ("ledger", 140, "Invoice PDF renderer p95 latency above 4 s", "PLDG002", "Ledger Documents"),
        ("canvas", 260, "Board snapshot job backlog above 10k", "PCNV003", "Canvas Snapshots"),
        ("pulse", 330, "Push notification provider returning 503s", "PPSH004", "Pulse Push"),
        ("ledger", 380, "Bank feed sync delayed for EU customers", "PLDG005", "Ledger Bank Feeds"),
        ("canvas", 440, "Disk usage above 90% on export-worker-2", "PCNV006", "Canvas Exports"),
        ("pulse", 530, "TURN server CPU above 85%", "PCAL007", "Pulse Calls"),
    )
    for n, (slug, day, title, service_id, service) in enumerate(others):
        opened = world.at(day, int(rng.integers(0, 86400)))
        incident_rows.append(
            {
                "source_key": SOURCE_KEY,
                "external_id": f"pd:Q0DEMO{n:03d}",
                "product_id": products[slug],
                "number": 300 + 17 * n,
                "title": title,
                "service_id": service_id,
                "service_name": service,
                "status": "resolved",
                "urgency": "low",
                "priority": "",
                "opened_at": opened,
                "resolved_at": opened + (world.at(1) - world.at(0)) / 8,
                "url": f"{pd_url}Q0DEMO{n:03d}",
            }
        )
    incidents = upsert(OpsIncident, incident_rows)

    truth["monitoring"] = {
        "product": "pulse",
        "metric": METRIC_KEY,
        "release": BAD_RELEASE,
        "released_at": world.at(BAD_RELEASE_DAY, 17 * 3600 + 20 * 60).isoformat(),
        "spike_start": spike["start"],
        "spike_end": spike["end"],
        "issue": SPIKE_ISSUE,
        "pagerduty_incident": PAGE_NUMBER,
    }
    return {
        "metrics": metric_result,
        "metric_points": points,
        "releases": releases,
        "error_issues": issues,
        "ops_incidents": incidents,
    }
