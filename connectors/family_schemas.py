"""What one record of each family looks like when a user pushes it (webhook) or maps it (HTTP JSON).

Both generic connectors accept records as flat dicts of field name -> JSON value. `coerce_record`
checks and converts one record, raising `RecordError` with messages that name the record and the
field; `write_records` upserts a batch for a connection (used by the push-only webhook, which has no
sync loop); `to_records` builds `connectors.base.Record`s for pull connectors.

Every record carries an `id` (the source's own id, stored as external_id). Metrics records are
points: {"metric": key, "ts": ..., "value": ..., "dimension_key": ..., "dimension_value": ...}; the
metric row is created on first sight with its key as its name.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from functools import cache
from typing import Any

from django.apps import apps
from django.utils.dateparse import parse_date, parse_datetime

from connectors.base import Record
from productops.signals import fields
from productops.signals.ingest import UpsertResult, upsert

MAX_ERRORS_SHOWN = 20


class RecordError(ValueError):
    """One or more records failed validation; `errors` are messages a user can act on."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors[:MAX_ERRORS_SHOWN]))
        self.errors = errors


@dataclass(frozen=True)
class FieldSpec:
    kind: str  # str, text, int, float, datetime, date, list, dict, choice
    required: bool = False
    max_length: int | None = None
    choices: tuple[str, ...] = ()
    min_value: float | None = None
    max_value: float | None = None


@dataclass(frozen=True)
class FamilySchema:
    family: str
    model: str  # app_label.ModelName
    fields: dict[str, FieldSpec] = field(default_factory=dict)
    has_product: bool = True
    example: str = ""


def _s(required: bool = False) -> FieldSpec:
    """A string column; its maximum length is the model column's (productops.signals.fields)."""
    return FieldSpec("str", required=required)


SCHEMAS: dict[str, FamilySchema] = {
    "metrics": FamilySchema(
        "metrics",
        "signals.MetricPoint",
        {
            "metric": FieldSpec("slug", required=True),
            "ts": FieldSpec("datetime", required=True),
            "value": FieldSpec("float", required=True),
            "dimension_key": _s(),
            "dimension_value": _s(),
        },
        example='[{"metric": "signups", "ts": "2026-11-01T00:00:00Z", "value": 42}]',
    ),
    "nps": FamilySchema(
        "nps",
        "signals.NpsResponse",
        {
            "id": _s(True),
            "score": FieldSpec("int", required=True, min_value=0, max_value=10),
            "submitted_at": FieldSpec("datetime", required=True),
            "comment": FieldSpec("text"),
            "segment": FieldSpec("dict"),
        },
        example='[{"id": "r-1", "score": 9, "submitted_at": "2026-11-01T10:00:00Z", "comment": "Great"}]',
    ),
    "tickets": FamilySchema(
        "tickets",
        "signals.SupportTicket",
        {
            "id": _s(True),
            "opened_at": FieldSpec("datetime", required=True),
            "subject": _s(),
            "body": FieldSpec("text"),
            "status": FieldSpec("choice"),
            "priority": _s(),
            "tags": FieldSpec("list"),
            "channel": _s(),
            "first_response_at": FieldSpec("datetime"),
            "solved_at": FieldSpec("datetime"),
            "csat_rating": FieldSpec("int", min_value=1, max_value=5),
        },
        example=(
            '[{"id": "T-1", "opened_at": "2026-11-01T10:00:00Z", "subject": "Export fails", '
            '"tags": ["billing"]}]'
        ),
    ),
    "mentions": FamilySchema(
        "mentions",
        "signals.Mention",
        {
            "id": _s(True),
            "platform": _s(True),
            "posted_at": FieldSpec("datetime", required=True),
            "url": _s(),
            "title": _s(),
            "text": FieldSpec("text"),
            "score": FieldSpec("int"),
        },
    ),
    "kb": FamilySchema(
        "kb",
        "signals.KbArticle",
        {
            "id": _s(True),
            "title": _s(True),
            "url": _s(),
            "views": FieldSpec("int", min_value=0),
            "helpful_votes": FieldSpec("int", min_value=0),
            "unhelpful_votes": FieldSpec("int", min_value=0),
            "updated_at_source": FieldSpec("datetime"),
        },
    ),
    "portfolio": FamilySchema(
        "portfolio",
        "portfolio.PortfolioItem",
        {
            "id": _s(True),
            "title": _s(True),
            "kind": FieldSpec("choice"),
            "description": FieldSpec("text"),
            "status": _s(),
            "status_category": FieldSpec("choice"),
            "labels": FieldSpec("list"),
            "components": FieldSpec("list"),
            "start_date": FieldSpec("date"),
            "target_date": FieldSpec("date"),
            "url": _s(),
            "assignee": _s(),
            "tracker": _s(),
            "updated_at_source": FieldSpec("datetime"),
            "done_at": FieldSpec("datetime"),
        },
        example=(
            '[{"id": "PROJ-1", "title": "Billing export", "kind": "epic", "status_category": "in_progress"}]'
        ),
    ),
}
FAMILY_CHOICES = [(f, f.capitalize() if f != "kb" else "Knowledge base") for f in SCHEMAS]


def schema_for(family: str) -> FamilySchema:
    try:
        return SCHEMAS[family]
    except KeyError:
        raise RecordError([f"unknown family {family!r}; choose one of {', '.join(SCHEMAS)}"]) from None


def _coerce(name: str, spec: FieldSpec, value: Any) -> Any:
    """Convert one JSON value, or raise ValueError with a message about the value (not the field)."""
    if spec.kind in ("str", "text", "slug", "choice"):
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ValueError("must be a string")
        text = str(value)
        if spec.max_length is not None and len(text) > spec.max_length:
            raise ValueError(f"is longer than {spec.max_length} characters")
        if spec.kind == "slug" and not text:
            raise ValueError("must not be empty")
        if spec.kind == "choice" and text.lower() not in spec.choices:
            raise ValueError(f"must be one of {', '.join(spec.choices)}")
        return text.lower() if spec.kind == "choice" else text
    if spec.kind in ("int", "float"):
        if isinstance(value, bool):
            raise ValueError("must be a number, not true/false")
        if isinstance(value, str):
            try:
                value = float(value.strip())
            except ValueError:
                raise ValueError("must be a number") from None
        if not isinstance(value, int | float) or (isinstance(value, float) and not math.isfinite(value)):
            raise ValueError("must be a finite number")
        if spec.kind == "int":
            if float(value) != int(value):
                raise ValueError("must be a whole number")
            value = int(value)
        else:
            value = float(value)
        if spec.min_value is not None and value < spec.min_value:
            raise ValueError(f"must be at least {spec.min_value:g}")
        if spec.max_value is not None and value > spec.max_value:
            raise ValueError(f"must be at most {spec.max_value:g}")
        return value
    if spec.kind == "datetime":
        return _datetime(value)
    if spec.kind == "date":
        if isinstance(value, str):
            try:
                parsed = parse_date(value.strip()[:10]) if len(value.strip()) >= 10 else None
            except ValueError:
                parsed = None
            if parsed is not None:
                return fields.check_date(parsed)
        raise ValueError("must be a date like 2026-11-01")
    if spec.kind == "list":
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list) or not all(isinstance(v, str | int | float) for v in value):
            raise ValueError("must be a list of strings")
        return [str(v) for v in value]
    if spec.kind == "dict":
        if not isinstance(value, dict):
            raise ValueError("must be an object")
        return value
    raise AssertionError(f"unknown field kind {spec.kind}")


def _datetime(value: Any) -> datetime:
    if isinstance(value, bool):
        raise ValueError("must be an ISO 8601 date-time or a Unix timestamp")
    if isinstance(value, int | float) and math.isfinite(value):
        seconds = value / 1000.0 if value > 1e11 else value  # milliseconds are common in vendor JSON
        try:
            stamp = datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise ValueError(
                f"is outside the plausible range {fields.EARLIEST:%Y-%m-%d} to "
                f"{fields.latest_plausible():%Y-%m-%d}"
            ) from None
        return fields.check_date(stamp)
    if isinstance(value, str):
        text = value.strip()
        parsed: datetime | None
        try:
            parsed = parse_datetime(text.replace("Z", "+00:00") if text.endswith("Z") else text)
        except ValueError:
            parsed = None
        if parsed is None:
            day: date | None = parse_date(text) if len(text) == 10 else None
            if day is not None:
                parsed = datetime(day.year, day.month, day.day)
        if parsed is not None:
            return fields.check_date(parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC))
    raise ValueError("must be an ISO 8601 date-time (2026-11-01T10:00:00Z) or a Unix timestamp")


@cache
def _model_spec(family: str, name: str) -> FieldSpec:
    """The field spec with its max length and choices read from the model column it is stored in."""
    schema = SCHEMAS[family]
    spec = schema.fields[name]
    if spec.kind not in ("str", "slug", "choice"):
        return spec
    model, column_name = schema.model, {"id": "external_id"}.get(name, name)
    if family == "metrics" and name == "metric":
        model, column_name = "signals.Metric", "key"
    column = fields.column(model, column_name)
    return replace(
        spec,
        max_length=spec.max_length if spec.max_length is not None else column.max_length,
        choices=spec.choices or column.choices,
    )


def coerce_record(family: str, raw: Any, where: str = "record") -> dict[str, Any]:
    """Check and convert one record; unknown keys are ignored. Raise RecordError listing every problem."""
    schema = schema_for(family)
    if not isinstance(raw, Mapping):
        raise RecordError([f"{where}: must be a JSON object, got {type(raw).__name__}"])
    out: dict[str, Any] = {}
    errors = []
    for name, spec in schema.fields.items():
        value = raw.get(name)
        if value is None or value == "":
            if spec.required:
                errors.append(f"{where}.{name}: is required")
            continue
        try:
            out[name] = _coerce(name, _model_spec(family, name), value)
        except ValueError as exc:
            errors.append(f"{where}.{name}: {exc}")
    if errors:
        raise RecordError(errors)
    return out


def coerce_payload(family: str, payload: Any, max_records: int = 5000) -> list[dict[str, Any]]:
    """A webhook body: a list of records, {"records": [...]}, or a single record object."""
    if isinstance(payload, dict) and isinstance(payload.get("records"), list):
        items = payload["records"]
    elif isinstance(payload, list):
        items = payload
    elif isinstance(payload, dict):
        items = [payload]
    else:
        raise RecordError(
            ['the body must be a JSON list of records, {"records": [...]}, or one record object']
        )
    if not items:
        raise RecordError(["the body holds no records"])
    if len(items) > max_records:
        raise RecordError([f"the body holds {len(items)} records; send at most {max_records} per request"])
    errors: list[str] = []
    out = []
    for i, item in enumerate(items):
        try:
            out.append(coerce_record(family, item, where=f"records[{i}]"))
        except RecordError as exc:
            errors.extend(exc.errors)
    if errors:
        raise RecordError(errors)
    return out


def to_records(family: str, rows: Iterable[dict[str, Any]]) -> list[Record]:
    """Coerced rows -> Records for a pull connector's Page (metrics grouped into metric + points)."""
    schema = schema_for(family)
    if family == "metrics":
        by_metric: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            point = {k: row[k] for k in ("ts", "value", "dimension_key", "dimension_value") if k in row}
            point.setdefault("dimension_key", "")
            point.setdefault("dimension_value", "")
            by_metric.setdefault(row["metric"], []).append(point)
        return [
            Record(
                "signals.Metric",
                key,
                {"key": key, "name": key},
                [("signals.MetricPoint", points, "metric_id")],
            )
            for key, points in by_metric.items()
        ]
    return [Record(schema.model, str(row["id"]), {k: v for k, v in row.items() if k != "id"}) for row in rows]


def write_records(
    family: str,
    rows: list[dict[str, Any]],
    *,
    source_key: str,
    connection_id: int | None,
    product_id: int | None,
) -> UpsertResult:
    """Upsert coerced rows for one connection (the push path: the webhook has no sync loop)."""
    schema = schema_for(family)
    common: dict[str, Any] = {"source_key": source_key, "connection_id": connection_id}
    if schema.has_product:
        common["product_id"] = product_id
    if family == "metrics":
        return _write_metric_points(rows, common)
    model = apps.get_model(schema.model)
    # upsert needs every row to carry the same columns: fill each missing optional field with the
    # model's default so a sparse record does not fail (or wipe) another record's column.
    columns = sorted({k for row in rows for k in row} - {"id"})
    defaults = {c: model._meta.get_field(c).get_default() for c in columns}
    values = [{**common, "external_id": str(row["id"]), **defaults, **_without_id(row)} for row in rows]
    return upsert(model, values)


def _without_id(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != "id"}


def _write_metric_points(rows: list[dict[str, Any]], common: dict[str, Any]) -> UpsertResult:
    metric_model = apps.get_model("signals.Metric")
    point_model = apps.get_model("signals.MetricPoint")
    keys = sorted({row["metric"] for row in rows})
    existing = dict(
        metric_model._default_manager.filter(
            source_key=common["source_key"], external_id__in=keys
        ).values_list("external_id", "pk")
    )
    missing = [k for k in keys if k not in existing]
    if missing:
        upsert(metric_model, [{**common, "external_id": k, "key": k, "name": k} for k in missing])
        existing.update(
            metric_model._default_manager.filter(
                source_key=common["source_key"], external_id__in=missing
            ).values_list("external_id", "pk")
        )
    points = [
        {
            "metric_id": existing[row["metric"]],
            "ts": row["ts"],
            "value": row["value"],
            "dimension_key": row.get("dimension_key", ""),
            "dimension_value": row.get("dimension_value", ""),
        }
        for row in rows
    ]
    return upsert(point_model, points)
