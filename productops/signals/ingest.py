"""The one way rows enter the signals and portfolio tables: batched, idempotent upserts.

Connectors, the CSV import, the inbound webhook and the demo seeder all call `upsert`. It compares
each incoming row with the stored one on its natural key, inserts the new rows, rewrites only the rows
whose content changed, and reports how many of each. It streams: memory is bounded by batch_size.

Two paths give the same results:
- PostgreSQL: each batch is deduplicated (last occurrence wins), streamed with COPY (binary where the
  column types allow it) into a temporary table, then merged with one statement: `INSERT ... SELECT ...
  ON CONFLICT (key) DO UPDATE ... WHERE (content) IS DISTINCT FROM (EXCLUDED content)`, pre-filtered to
  the new and changed rows when a probe finds the batch mostly stored. Unchanged rows are never
  rewritten (no dead tuples, no WAL), and `RETURNING (xmax = 0)` tells inserts from updates, so the
  counts are exact. docs/ingest.md has more, and the bench figures behind each path.
- Anything else (SQLite): read the stored rows of the batch, compare in Python, then bulk_create and
  bulk_update. Fine for the embedded stack's volumes.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain, islice
from operator import itemgetter
from typing import Any

import psycopg
from django.db import connections, models, router, transaction
from django.utils import timezone
from psycopg.types.json import Jsonb

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


def _normalise(model: type[models.Model], value: Any, field: models.Field) -> Any:
    return field.to_python(value) if value is not None else None


PORTABLE_BATCH_SIZE = 2000
# COPY + merge amortises its per-batch statements over more rows; 20k rows of the widest model, held as
# tuples rather than the caller's dicts, stay well under 50 MB. Larger batches measured no faster.
POSTGRES_BATCH_SIZE = 20000


def upsert(
    model: type[models.Model],
    rows: Iterable[Mapping[str, Any]],
    *,
    key: Sequence[str] | None = None,
    batch_size: int | None = None,
) -> UpsertResult:
    """Insert new rows, update changed ones, leave unchanged ones untouched; return the counts.

    `rows` are dicts of column attnames (`product_id`, not `product`). Every row in one call must carry
    the same columns; a column left out keeps its stored value on update and gets the model default on
    insert. Within a batch a repeated key counts once and its last occurrence wins. Each batch runs in
    its own transaction unless the caller holds one. `key` must name columns of a unique constraint.
    """
    using = router.db_for_write(model)
    if connections[using].vendor == "postgresql":
        return upsert_postgres(model, rows, key=key, batch_size=batch_size or POSTGRES_BATCH_SIZE)
    return upsert_portable(model, rows, key=key, batch_size=batch_size or PORTABLE_BATCH_SIZE)


def upsert_portable(
    model: type[models.Model],
    rows: Iterable[Mapping[str, Any]],
    *,
    key: Sequence[str] | None = None,
    batch_size: int = PORTABLE_BATCH_SIZE,
) -> UpsertResult:
    """The database-agnostic path (used on SQLite; callable on PostgreSQL to compare results)."""
    key_fields = tuple(key) if key else natural_key(model)
    result = UpsertResult()
    for batch in _batches(rows, batch_size):
        with transaction.atomic(using=router.db_for_write(model)):
            result += _upsert_batch(model, batch, key_fields)
    return result


def upsert_postgres(
    model: type[models.Model],
    rows: Iterable[Mapping[str, Any]],
    *,
    key: Sequence[str] | None = None,
    batch_size: int = POSTGRES_BATCH_SIZE,
) -> UpsertResult:
    """The PostgreSQL fast path: per batch, COPY into a temporary table, then one INSERT or merge."""
    key_fields = tuple(key) if key else natural_key(model)
    using = router.db_for_write(model)
    result = UpsertResult()
    it = iter(rows)
    first = next(it, None)
    if first is None:
        return result
    plan = _MergePlan(model, list(first), key_fields, connections[using])
    it = chain([first], it)
    batch = plan.collect(it, batch_size)
    while batch:
        with transaction.atomic(using=using):
            result += plan.write(connections[using], batch)
        batch = plan.collect(it, batch_size)
    return result


# Column types whose binary COPY encoding psycopg gets exactly right for every Python value it accepts,
# and refuses (TypeError, OverflowError) otherwise. Not int2/int4 (psycopg wraps an out-of-range int
# silently; the stage widens them to int8 so the merge's cast range-checks them) nor bool (any truthy
# string becomes true). A plan with any other column type stages in text, as PostgreSQL would parse it.
_BINARY_SAFE_TYPES = ("int8", "float8", "text", "varchar", "timestamptz", "jsonb")
# How many staged rows the probe looks up to guess whether a batch is new, stored, or a mix.
PROBE_ROWS = 256
# The fast paths, each of which `bench/ingest.py --without NAME` can switch off to measure what it buys
# (docs/ingest.md has the figures): the pre-filtered merge for mostly-stored batches and binary COPY into
# the stage. (A plain INSERT for all-new batches and writing one batch while reading the next measured
# no gain and were removed.)
FAST_PATHS = {"filtered_merge": True, "binary_copy": True}


class _MergePlan:
    """The SQL for one upsert call, built once from the first row's columns and reused per batch.

    Per batch: COPY the deduplicated rows into a temporary table, probe a sample of them against the
    target, then write with the statement that suits the batch (see `run`).
    """

    def __init__(
        self, model: type[models.Model], columns: list[str], key_fields: tuple[str, ...], connection: Any
    ) -> None:
        fields_by_attname = {f.attname: f for f in model._meta.concrete_fields}
        unknown = set(columns) - set(fields_by_attname)
        if unknown:
            raise ValueError(f"{model.__name__} has no column(s) {sorted(unknown)}")
        missing_key = set(key_fields) - set(columns)
        if missing_key:
            raise ValueError(f"every {model.__name__} row needs {sorted(missing_key)}")
        self.model = model
        self.columns = columns
        self.table = model._meta.db_table
        self.now = timezone.now()
        has_seen = "last_seen_at" in fields_by_attname
        content = [c for c in columns if c not in key_fields and c not in BOOKKEEPING and c != "id"]
        staged = [c for c in columns if c not in BOOKKEEPING or not has_seen]
        # Bookkeeping the caller sent is honoured on insert only, like the portable path.
        seen_given = [c for c in columns if c in BOOKKEEPING and has_seen]
        self.staged = staged + seen_given
        self.key_index = [self.staged.index(k) for k in key_fields]
        self.json_index = [
            i for i, c in enumerate(self.staged) if isinstance(fields_by_attname[c], models.JSONField)
        ]

        # Columns the rows don't carry get the model default on insert (Django defaults live in Python,
        # not in the schema), evaluated once per call.
        insert_cols = list(self.staged)
        select_exprs = [f"s.{_q(c)}" for c in self.staged]
        self.params: list[Any] = []
        for f in model._meta.concrete_fields:
            if f.attname in insert_cols or (f.primary_key and isinstance(f, models.AutoField)):
                continue
            # As Model() would: the default, "" for non-null text, else NULL.
            value = self.now if f.attname in BOOKKEEPING and has_seen else f.get_default()
            insert_cols.append(f.attname)
            select_exprs.append(f"CAST(%s AS {f.db_type(connection)})")
            self.params.append(f.get_db_prep_save(value, connection=connection))
        # The staging table's columns have the target's types (int2/int4 widened to int8, see
        # _BINARY_SAFE_TYPES), so COPY parses every cell as PostgreSQL would for the real table (jsonb,
        # timestamptz, ...) and the comparison is type-exact.
        self.stage_name = f"po_stage_{uuid.uuid4().hex[:12]}"
        stage_exprs = []
        for c in self.staged:
            if fields_by_attname[c].db_type(connection) in ("smallint", "integer"):
                stage_exprs.append(f"CAST({_q(c)} AS bigint) AS {_q(c)}")
            else:
                stage_exprs.append(_q(c))
        stage_cols = ", ".join(_q(c) for c in self.staged)
        self.create_sql = (
            f"CREATE TEMPORARY TABLE {self.stage_name} AS "
            f"SELECT {', '.join(stage_exprs)} FROM {_q(self.table)} WITH NO DATA"
        )
        self.copy_sql = f"COPY {self.stage_name} ({stage_cols}) FROM STDIN"
        self.binary_types: list[int] | None = None  # the stage's type oids, if binary COPY is safe
        self.binary_checked = False
        match = " AND ".join(f"c.{_q(k)} = s.{_q(k)}" for k in key_fields)
        sample_keys = ", ".join(_q(k) for k in key_fields)
        self.probe_sql = (
            f"SELECT count(*) FROM (SELECT {sample_keys} FROM {self.stage_name} LIMIT {PROBE_ROWS}) s "
            f"WHERE EXISTS (SELECT FROM {_q(self.table)} c WHERE {match})"
        )
        conflict = ", ".join(_q(k) for k in key_fields)
        order = ", ".join(f"s.{_q(k)}" for k in key_fields)
        if content:
            sets = [f"{_q(c)} = EXCLUDED.{_q(c)}" for c in content]
            if has_seen:
                sets.append(f"{_q('last_seen_at')} = %s")
            stored = ", ".join(f"t.{_q(c)}" for c in content)
            incoming = ", ".join(f"EXCLUDED.{_q(c)}" for c in content)
            # ROW(...) so a single content column still compares as a row; IS DISTINCT FROM treats
            # NULL = NULL as equal and compares jsonb by value, so only real changes are rewritten.
            action = f"DO UPDATE SET {', '.join(sets)} WHERE ROW({stored}) IS DISTINCT FROM ROW({incoming})"
            self.update_params: list[Any] = [self.now] if has_seen else []
        else:
            action = "DO NOTHING"
            self.update_params = []
        # Rows go in key order so two writers with overlapping batches take row locks in the same order
        # and wait for each other instead of deadlocking.
        insert = f"INSERT INTO {_q(self.table)} AS t ({', '.join(_q(c) for c in insert_cols)}) "
        select = f"SELECT {', '.join(select_exprs)} FROM {self.stage_name} s "
        tail = (
            f"ORDER BY {order} ON CONFLICT ({conflict}) {action} RETURNING (t.xmax = 0) AS inserted) "
            "SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM merged"
        )
        self.merge_sql = f"WITH merged AS ({insert}{select}{tail}"
        # The variant for batches that are mostly already stored (a re-sync): it drops the rows whose
        # content is unchanged before the INSERT, since ON CONFLICT DO UPDATE locks (and so writes to)
        # every conflicting row even when its WHERE is false. The LIMIT keeps the lookup a per-row index
        # probe whatever the planner thinks of the unanalysed stage. Both variants give the same result,
        # since ON CONFLICT still decides for rows stored in the meantime.
        self.filtered_sql = self.merge_sql
        if content:
            pk = _q(model._meta.pk.attname)
            cur = ", ".join(f"cur.{_q(c)}" for c in content)
            new_vals = ", ".join(f"s.{_q(c)}" for c in content)
            lateral = (
                f"LEFT JOIN LATERAL (SELECT c.{pk}, {', '.join(f'c.{_q(c)}' for c in content)} "
                f"FROM {_q(self.table)} c WHERE {match} LIMIT 1) cur ON true "
                f"WHERE cur.{pk} IS NULL OR ROW({cur}) IS DISTINCT FROM ROW({new_vals}) "
            )
            self.filtered_sql = f"WITH merged AS ({insert}{select}{lateral}{tail}"

    def collect(self, rows: Iterator[Mapping[str, Any]], size: int) -> dict[Any, tuple[Any, ...]]:
        """Take up to `size` rows as tuples of the staged columns, deduplicated on the key.

        The last occurrence wins, since ON CONFLICT may not touch one row twice. The caller's dicts are
        not kept, so a batch costs a tuple per row.
        """
        getter = itemgetter(*self.staged)
        key_of = itemgetter(*self.key_index)
        single = len(self.staged) == 1
        deduped: dict[Any, tuple[Any, ...]] = {}
        try:
            for row in islice(rows, size):
                t = (getter(row),) if single else getter(row)
                deduped[key_of(t)] = t
        except KeyError as exc:
            raise ValueError(f"every {self.model.__name__} row in one call needs the column {exc}") from None
        return deduped

    def write(self, connection: Any, batch: dict[Any, tuple[Any, ...]]) -> UpsertResult:
        """Stage the batch, probe it, merge it with the statement that suits it; exact counts."""
        with connection.cursor() as cursor:
            raw = cursor.cursor  # the psycopg cursor: Django's wrapper has no copy()
            raw.execute(self.create_sql)
            self._stage(raw, batch.values())
            raw.execute(self.probe_sql)
            (stored,) = raw.fetchone()
            mostly_stored = stored * 2 >= min(len(batch), PROBE_ROWS) and FAST_PATHS["filtered_merge"]
            raw.execute(
                self.filtered_sql if mostly_stored else self.merge_sql, [*self.params, *self.update_params]
            )
            inserted, updated = raw.fetchone()
            raw.execute(f"DROP TABLE {self.stage_name}")
        return UpsertResult(inserted=inserted, updated=updated, unchanged=len(batch) - inserted - updated)

    def _stage(self, raw: Any, rows: Iterable[tuple[Any, ...]]) -> None:
        if not self.binary_checked:
            raw.execute(f"SELECT * FROM {self.stage_name} LIMIT 0")
            oids = [d.type_code for d in raw.description]
            safe = {psycopg.postgres.types[name].oid for name in _BINARY_SAFE_TYPES}
            self.binary_types = oids if set(oids) <= safe and FAST_PATHS["binary_copy"] else None
            self.binary_checked = True
        if self.binary_types is not None:
            # Binary COPY skips formatting every value as text and parsing it back: several times
            # cheaper for timestamps and floats. A value it can't encode exactly (an int for a text
            # column, a naive datetime) raises in the client; the savepoint drops what was already sent
            # and the rest of the call stages in text.
            raw.execute("SAVEPOINT po_upsert_copy")
            try:
                self._copy(raw, rows, binary=True)
            except (TypeError, ValueError, OverflowError):
                raw.execute("ROLLBACK TO SAVEPOINT po_upsert_copy")
                self.binary_types = None
            raw.execute("RELEASE SAVEPOINT po_upsert_copy")
            if self.binary_types is not None:
                return
        self._copy(raw, rows, binary=False)

    def _copy(self, raw: Any, rows: Iterable[tuple[Any, ...]], *, binary: bool) -> None:
        json_index = self.json_index
        wrap: Callable[[Any], Any] = Jsonb if binary else json.dumps
        sql = f"{self.copy_sql} (FORMAT BINARY)" if binary else self.copy_sql
        with raw.copy(sql) as copy:
            if binary:
                copy.set_types(self.binary_types)
            if json_index:
                for t in rows:
                    row = list(t)
                    for i in json_index:
                        if row[i] is not None:
                            row[i] = wrap(row[i])
                    copy.write_row(row)
            else:
                for t in rows:
                    copy.write_row(t)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


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
        elif any(_differs(existing[k][c], row[c]) for c in content):
            obj = model(pk=existing[k]["pk"], **row)
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
