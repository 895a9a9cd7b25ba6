"""Schemathesis against the API's own OpenAPI schema: a bounded number of generated requests per
endpoint, through the WSGI app in-process, with a lead's read-write token. Every response must be no
server error, a documented status, of the documented content type, and match its documented schema.

The schema is loaded from the app (`schemathesis.openapi.from_wsgi`) and each operation's strategy is
run with Hypothesis directly, rather than through schemathesis's pytest plugin, so it sits in the
normal suite beside pytest-django's database fixtures.
"""

from __future__ import annotations

import resource
import time
from collections import Counter
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from insights.models import Insight
from productops.api.tokens import create_token

from .conftest import SUMMARY

EXAMPLES_PER_ENDPOINT = 20
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@pytest.fixture
def in_process_wsgi(settings: Any) -> Any:
    """The WSGI app, called in this thread and inside the test's transaction (as Django's test client
    does, the per-request connection clean-up is off: it would close the test's connection)."""
    settings.ALLOWED_HOSTS = ["localhost", "testserver"]
    settings.API_RATE_LIMIT = 0
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield get_wsgi_application()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.mark.django_db
def test_schemathesis_finds_no_500_and_every_response_matches_the_schema(
    in_process_wsgi: Any, dashboard_data: dict[str, Any], lead_user: Any
) -> None:
    product = dashboard_data["product"]
    for kind, payload in (
        (
            "anomaly",
            {"metric_id": dashboard_data["metric"].pk, "drivers": [{"key": "platform", "share": 0.7}]},
        ),
        ("theme", {"theme_id": None, "quotes": ["slow export"]}),
        ("nps_shift", {"delta": -12.0, "period_start": "2026-10-01"}),
        ("incident", {"evidence": [], "signal_types": ["metrics"]}),
        ("stale_connector", {"connection_id": 1, "connection_name": "Zendesk"}),
    ):
        insight = Insight.objects.create(
            kind=kind, key=kind, title=f"A {kind}", product=product, payload=payload
        )
        insight.products.add(product)
    _, raw = create_token(lead_user, "schemathesis", "write")
    headers = {"Authorization": f"Bearer {raw}"}

    started, cpu_started = time.monotonic(), _cpu()
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", in_process_wsgi)
    examples: Counter[str] = Counter()
    statuses: Counter[int] = Counter()
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15

    for operation in operations:

        @given(case=operation.as_strategy())
        @hypothesis_settings(
            max_examples=EXAMPLES_PER_ENDPOINT,
            deadline=None,
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def run(case: Any) -> None:
            response = case.call(headers=headers)
            examples[case.operation.label] += 1
            statuses[response.status_code] += 1
            case.validate_response(response, checks=CHECKS, headers=headers)

        run()

    total = sum(examples.values())
    lines = [
        f"schemathesis: {total} examples over {len(examples)} endpoints; "
        f"statuses {dict(sorted(statuses.items()))}; wall {time.monotonic() - started:.1f} s, "
        f"cpu {_cpu() - cpu_started:.1f} s",
        *(f"  {count:3d}  {label}" for label, count in sorted(examples.items())),
    ]
    print("\n" + "\n".join(lines))
    SUMMARY[:] = lines
    assert set(examples) == {op.label for op in operations}
    assert statuses[500] == 0
    assert statuses[200] > 0  # the generated requests reached real data, not only errors
