"""The one way rows enter the signals and portfolio tables: batched, idempotent upserts.

Connectors, the CSV import, the inbound webhook and the demo seeder all call `upsert`. It compares
each incoming row with the stored one on its natural key, inserts the new rows, rewrites only the rows
whose content changed, and reports how many of each. It streams: memory is bounded by batch_size.

This portable version works the same on SQLite and PostgreSQL. (The PostgreSQL COPY + merge fast path
is the data issue's to add behind the same signature.)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any

from django.db import models, transaction
from django.utils import timezone

# Columns that are bookkeeping, not content: they never make a row count as "changed".
BOOKKEEPING = {"first_seen_at", "last_seen_at"}


@dataclass
class UpsertResult:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    @property
    def total(self) -> int:
        return self.inserted + self.updated + self.unchanged

    def __iadd__(self, other: UpsertResult) -> UpsertResult:
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged
        return self


def natural_key(model: type[models.Model]) -> tuple[str, ...]:
    """The unique constraint a model upserts on: (source_key, external_id) or the model's own."""
    for constraint in model._meta.constraints:
        if isinstance(constraint, models.UniqueConstraint) and constraint.fields and not constraint.condition:
            return tuple(_attname(model, f) for f in constraint.fields)
    raise ValueError(f"{model.__name__} has no unique constraint to upsert on")


def _attname(model: type[models.Model], name: str) -> str:
    return model._meta.get_field(name).attname  # type: ignore[union-attr]


def _batches(rows: Iterable[Mapping[str, Any]], size: int) -> Iterator[list[Mapping[str, Any]]]:
    it = iter(rows)
    while batch := list(islice(it, size)):
        yield batch


def _normalise(model: type[models.Model], value: Any, field: models.Field[Any, Any]) -> Any:
    return field.to_python(value) if value is not None else None


def upsert(
    model: type[models.Model],
    rows: Iterable[Mapping[str, Any]],
    *,
    key: Sequence[str] | None = None,
    batch_size: int = 2000,
) -> UpsertResult:
    """Insert new rows, update changed ones, leave unchanged ones untouched; return the counts.

    `rows` are dicts of column attnames (`product_id`, not `product`). Every row in one call must carry
    the same columns. Each batch runs in its own transaction unless the caller holds one.
    """
    key_fields = tuple(key) if key else natural_key(model)
    result = UpsertResult()
    for batch in _batches(rows, batch_size):
        with transaction.atomic():
            result += _upsert_batch(model, batch, key_fields)
    return result


def _upsert_batch(
    model: type[models.Model], batch: list[Mapping[str, Any]], key_fields: tuple[str, ...]
) -> UpsertResult:
    fields_by_attname = {f.attname: f for f in model._meta.concrete_fields}
    columns = [c for c in batch[0] if c in fields_by_attname]
    unknown = set(batch[0]) - set(fields_by_attname)
    if unknown:
        raise ValueError(f"{model.__name__} has no column(s) {sorted(unknown)}")
    missing_key = set(key_fields) - set(columns)
    if missing_key:
        raise ValueError(f"every {model.__name__} row needs {sorted(missing_key)}")

    # Deduplicate within the batch: the last occurrence wins (sources often repeat a row across pages).
    incoming: dict[tuple[Any, ...], dict[str, Any]] = {}
    for raw in batch:
        row = {c: _normalise(model, raw.get(c), fields_by_attname[c]) for c in columns}
        incoming[tuple(row[k] for k in key_fields)] = row

    content = [c for c in columns if c not in key_fields and c not in BOOKKEEPING and c != "id"]
    existing: dict[tuple[Any, ...], dict[str, Any]] = {}
    lookup = _key_filter(key_fields, list(incoming))
    for stored in model._default_manager.filter(lookup).values("pk", *key_fields, *content):
        existing[tuple(stored[k] for k in key_fields)] = stored

    now = timezone.now()
    has_seen = "last_seen_at" in fields_by_attname
    to_create: list[models.Model] = []
    to_update: list[models.Model] = []
    unchanged = 0
    for k, row in incoming.items():
        if k not in existing:
            if has_seen:
                row.setdefault("first_seen_at", now)
                row.setdefault("last_seen_at", now)
            to_create.append(model(**row))
            continue
        stored = existing[k]
        if any(_differs(stored[c], row[c]) for c in content):
            obj = model(pk=stored["pk"], **row)
            if has_seen:
                obj.last_seen_at = now  # type: ignore[attr-defined]
            to_update.append(obj)
        else:
            unchanged += 1
    if to_create:
        model._default_manager.bulk_create(to_create, batch_size=1000)
    if to_update:
        update_fields = [fields_by_attname[c].name for c in content] + (["last_seen_at"] if has_seen else [])
        model._default_manager.bulk_update(to_update, update_fields, batch_size=500)
    return UpsertResult(inserted=len(to_create), updated=len(to_update), unchanged=unchanged)


def _differs(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return not (a == b or (a != a and b != b))
    return bool(a != b)


def _key_filter(key_fields: tuple[str, ...], keys: list[tuple[Any, ...]]) -> models.Q:
    if len(key_fields) == 1:
        return models.Q(**{f"{key_fields[0]}__in": [k[0] for k in keys]})
    # Group by every key column but the last, so the filter is a few (prefix AND last IN (...)) terms
    # rather than one OR per row, which SQLite's expression-depth limit would refuse.
    groups: dict[tuple[Any, ...], list[Any]] = {}
    for k in keys:
        groups.setdefault(k[:-1], []).append(k[-1])
    q = models.Q()
    for prefix, lasts in groups.items():
        q |= models.Q(**dict(zip(key_fields[:-1], prefix, strict=True)), **{f"{key_fields[-1]}__in": lasts})
    return q
