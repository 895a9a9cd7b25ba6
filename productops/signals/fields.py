"""One field spec per signal family's column, read from the model: what every ingest path checks.

CSV import (csv_import), JSON coercion for the webhook and the generic HTTP connector
(connectors.family_schemas) and the pull connectors all take a column's type, maximum length and
choices from here, which reads them from the model field, so a migration that widens a column widens
every path at once. Dates get one plausible range for every path (`check_date`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.utils import timezone

# Dates outside this range are typos or sentinels (9999-12-28, 0001-01-01), never real product signals.
EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)
FUTURE_YEARS = 5


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    kind: str  # str, text, int, float, datetime, date, list, dict, bool
    max_length: int | None
    null: bool
    choices: tuple[str, ...]


_KINDS: list[tuple[type[models.Field], str]] = [
    (models.DateTimeField, "datetime"),
    (models.DateField, "date"),
    (models.BooleanField, "bool"),
    (models.FloatField, "float"),
    (models.IntegerField, "int"),
    (models.BigIntegerField, "int"),
    (models.JSONField, "json"),
    (models.TextField, "text"),
    (models.CharField, "str"),
]


def column(model: type[models.Model] | str, name: str) -> ColumnSpec:
    """The spec of one model column (by field name or attname)."""
    cls = apps.get_model(model) if isinstance(model, str) else model
    try:
        field = cls._meta.get_field(name)
    except FieldDoesNotExist:  # an attname: product_id -> product
        field = cls._meta.get_field(name.removesuffix("_id"))
    kind = next((k for t, k in _KINDS if isinstance(field, t)), "str")
    return ColumnSpec(
        name=name,
        kind=kind,
        max_length=getattr(field, "max_length", None),
        null=bool(getattr(field, "null", False)),
        choices=tuple(str(v) for v, _ in (field.choices or [])),  # type: ignore[union-attr]
    )


def max_length(model: type[models.Model] | str, name: str) -> int | None:
    return column(model, name).max_length


def latest_plausible() -> datetime:
    now = timezone.now()
    return now.replace(year=now.year + FUTURE_YEARS)


def date_problem(value: date | datetime) -> str | None:
    """None when the date is plausible for a product signal, else what is wrong with it (for a row error)."""
    when = value if isinstance(value, datetime) else datetime(value.year, value.month, value.day, tzinfo=UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    latest = latest_plausible()
    if when < EARLIEST or when > latest:
        return f"is outside the plausible range {EARLIEST:%Y-%m-%d} to {latest:%Y-%m-%d}"
    return None


def check_date(value: Any) -> Any:
    """Raise ValueError for an implausible date or date-time; return the value otherwise."""
    if isinstance(value, date):
        problem = date_problem(value)
        if problem:
            raise ValueError(problem)
    return value
