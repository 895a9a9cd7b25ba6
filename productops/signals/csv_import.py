"""CSV import of NPS responses, support tickets, metric points and portfolio items.

No view code lives here: the lead's upload page, `manage.py import_csv` and the "CSV file" connector
all call `import_csv`. The steps:

1. refuse files over CSV_IMPORT_MAX_BYTES; decode UTF-8 (with or without BOM), UTF-16 with a BOM, or
   Windows-1252/Latin-1, and refuse anything else with a message that says how to re-save the file;
2. map the file's columns to the kind's fields (`suggest_mapping`: the lead's saved mapping, then
   synonyms compared case-, space- and punctuation-insensitively);
3. validate every column with pandas, vectorised; each bad cell becomes a `RowError` naming the row as a
   spreadsheet shows it (the header is row 1), the column as the file names it, and what is wrong;
4. upsert the valid rows through `productops.signals.ingest.upsert`. The external id comes from the
   mapped id column, else from a stable hash of the row's identifying fields, so uploading the same file
   twice inserts nothing the second time;
5. return an `ImportReport`, with the bad rows as a CSV to fix and re-upload (cells that a spreadsheet
   would run as a formula are escaped).
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import models
from django.utils.html import strip_tags

from productops.portfolio.models import ItemKind, PortfolioItem, StatusCategory, Team
from productops.signals.fields import EARLIEST, latest_plausible
from productops.signals.fields import max_length as column_max_length
from productops.signals.ingest import UpsertResult, upsert
from productops.signals.models import (
    Experiment,
    ExperimentResult,
    Metric,
    MetricKind,
    MetricPoint,
    NpsResponse,
    SupportTicket,
    TicketStatus,
    Variant,
)
from productops.signals.pii import respondent_hash
from productops.signals.services import WriteScope

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
MAX_LISTED_ERRORS = 1000  # per report; the bad-rows CSV always has every bad row
MAX_COLUMNS = 500  # a wider file is refused before it is parsed (a 10,000-column file would take minutes)


class CsvImportError(Exception):
    """The file as a whole can't be imported (too big, not text, not CSV, required columns missing)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class RowError:
    row: int  # as a spreadsheet numbers it: the header is row 1, the first data row is row 2
    column: str  # the file's own column name
    message: str

    def __str__(self) -> str:
        return f"Row {self.row}, column '{self.column}': {self.message}"


@dataclass
class ImportReport:
    kind: str
    rows: int = 0  # data rows read, blank lines excluded
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    bad_rows: int = 0
    bad_rows_csv: bytes = b""  # UTF-8 with BOM, so spreadsheets show accents; empty when no bad row
    mapping: dict[str, str] = field(default_factory=dict)
    encoding: str = ""
    scope: WriteScope = field(default_factory=WriteScope)  # what to pass to record_write

    @property
    def imported(self) -> int:
        return self.inserted + self.updated + self.unchanged


# --- What each kind of file holds ------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    name: str
    label: str
    parse: str  # text, int, float, datetime, date, list, choice, email, team
    required: bool = False
    synonyms: tuple[str, ...] = ()
    lo: float | None = None
    hi: float | None = None
    choices: Mapping[str, str] | None = None  # accepted spelling (normalised) -> stored value


@dataclass(frozen=True)
class Kind:
    key: str
    label: str
    model: type[models.Model]
    targets: tuple[Target, ...]
    # Fields hashed into the external id when the file has no id column; empty: the model's own key.
    identity: tuple[str, ...] = ()

    def target(self, name: str) -> Target:
        return next(t for t in self.targets if t.name == name)


_STATUS = {s.value: s.value for s in TicketStatus} | {
    "resolved": "solved",
    "on hold": "pending",
    "hold": "pending",
}
_ITEM_KIND = {k.value: k.value for k in ItemKind} | {"feature": "epic", "task": "story", "issue": "story"}
_CATEGORY = {c.value.replace("_", " "): c.value for c in StatusCategory} | {
    "to do": "todo",
    "backlog": "todo",
    "new": "todo",
    "doing": "in_progress",
    "indeterminate": "in_progress",
    "in review": "in_progress",
    "complete": "done",
    "completed": "done",
    "closed": "done",
}
_CSAT_WORDS = {"good": 5, "bad": 1, "satisfied": 5, "unsatisfied": 1}

KINDS: dict[str, Kind] = {
    "nps": Kind(
        "nps",
        "NPS responses",
        NpsResponse,
        (
            Target(
                "external_id", "Response id", "text", synonyms=("id", "response id", "responseid", "nps id")
            ),
            Target(
                "score",
                "Score (0-10)",
                "int",
                required=True,
                lo=0,
                hi=10,
                synonyms=("score", "nps", "nps score", "rating", "likelihood to recommend", "recommend"),
            ),
            Target(
                "submitted_at",
                "Submitted at",
                "datetime",
                required=True,
                synonyms=(
                    "submitted at",
                    "submitted",
                    "date",
                    "created at",
                    "created",
                    "timestamp",
                    "response date",
                    "responded at",
                    "time",
                ),
            ),
            Target(
                "comment",
                "Comment",
                "text",
                synonyms=("comment", "comments", "feedback", "reason", "verbatim", "why", "text"),
            ),
            Target(
                "email",
                "Respondent e-mail (stored only as a keyed hash)",
                "email",
                synonyms=("email", "e-mail", "email address", "respondent", "respondent email", "user email"),
            ),
            Target("plan", "Plan (segment)", "text", synonyms=("plan", "tier", "subscription")),
            Target("country", "Country (segment)", "text", synonyms=("country", "country code", "region")),
            Target("platform", "Platform (segment)", "text", synonyms=("platform", "device", "os")),
        ),
        identity=("submitted_at", "score", "comment", "email"),
    ),
    "tickets": Kind(
        "tickets",
        "Support tickets",
        SupportTicket,
        (
            Target(
                "external_id",
                "Ticket id",
                "text",
                synonyms=("id", "ticket id", "ticket", "ticket number", "number", "ticket no"),
            ),
            Target("subject", "Subject", "text", synonyms=("subject", "title", "summary")),
            Target("body", "Body", "text", synonyms=("body", "description", "message", "content", "text")),
            Target("status", "Status", "choice", choices=_STATUS, synonyms=("status", "state")),
            Target("priority", "Priority", "text", synonyms=("priority", "urgency")),
            Target("tags", "Tags (comma-separated)", "list", synonyms=("tags", "tag", "labels")),
            Target("channel", "Channel", "text", synonyms=("channel", "via", "source")),
            Target(
                "opened_at",
                "Opened at",
                "datetime",
                required=True,
                synonyms=(
                    "opened at",
                    "opened",
                    "created at",
                    "created",
                    "date",
                    "submitted at",
                    "requested at",
                ),
            ),
            Target(
                "first_response_at",
                "First response at",
                "datetime",
                synonyms=(
                    "first response at",
                    "first response",
                    "first reply at",
                    "first replied at",
                    "first reply",
                ),
            ),
            Target(
                "solved_at",
                "Solved at",
                "datetime",
                synonyms=("solved at", "solved", "resolved at", "closed at"),
            ),
            Target(
                "csat_rating",
                "CSAT (1-5, or good/bad)",
                "int",
                lo=1,
                hi=5,
                synonyms=("csat", "csat rating", "satisfaction", "satisfaction rating"),
            ),
        ),
        identity=("subject", "opened_at", "body"),
    ),
    "metric_points": Kind(
        "metric_points",
        "Metric points",
        MetricPoint,
        (
            Target(
                "metric",
                "Metric key",
                "text",
                required=True,
                synonyms=("metric", "metric key", "metric name", "kpi", "series"),
            ),
            Target(
                "ts",
                "Date",
                "datetime",
                required=True,
                synonyms=("date", "day", "ts", "timestamp", "time", "period"),
            ),
            Target("value", "Value", "float", required=True, synonyms=("value", "count", "amount", "total")),
            Target(
                "dimension_key", "Dimension", "text", synonyms=("dimension", "dimension key", "breakdown")
            ),
            Target(
                "dimension_value",
                "Dimension value",
                "text",
                synonyms=("dimension value", "breakdown value", "segment"),
            ),
        ),
    ),
    "portfolio_items": Kind(
        "portfolio_items",
        "Portfolio items",
        PortfolioItem,
        (
            Target(
                "external_id", "Item id", "text", synonyms=("id", "key", "issue key", "issue id", "item id")
            ),
            Target("title", "Title", "text", required=True, synonyms=("title", "summary", "name")),
            Target(
                "kind",
                "Kind (initiative, epic, story)",
                "choice",
                choices=_ITEM_KIND,
                synonyms=("kind", "type", "issue type", "item type", "level"),
            ),
            Target("description", "Description", "text", synonyms=("description", "details", "body")),
            Target("team", "Team (name or slug)", "team", synonyms=("team", "squad", "team name")),
            Target("status", "Status", "text", synonyms=("status", "state")),
            Target(
                "status_category",
                "Status category",
                "choice",
                choices=_CATEGORY,
                synonyms=("status category", "category", "statuscategory"),
            ),
            Target("labels", "Labels (comma-separated)", "list", synonyms=("labels", "label", "tags")),
            Target(
                "components", "Components (comma-separated)", "list", synonyms=("components", "component")
            ),
            Target("start_date", "Start date", "date", synonyms=("start date", "start", "starts", "begin")),
            Target(
                "target_date",
                "Target date",
                "date",
                synonyms=("target date", "target", "due date", "due", "end date"),
            ),
            Target("url", "URL", "text", synonyms=("url", "link", "source url")),
            Target("assignee", "Assignee", "text", synonyms=("assignee", "owner", "assigned to")),
        ),
        identity=("title", "kind", "team"),
    ),
}

KINDS["experiments"] = Kind(
    "experiments",
    "Experiment results",
    ExperimentResult,
    (
        Target(
            "experiment",
            "Experiment",
            "text",
            required=True,
            synonyms=(
                "experiment",
                "experiment key",
                "experiment name",
                "experiment id",
                "test",
                "test name",
            ),
        ),
        Target(
            "variant",
            "Variant",
            "text",
            required=True,
            synonyms=("variant", "variation", "variant key", "variation name", "arm", "group", "bucket"),
        ),
        Target(
            "exposures",
            "Exposures (users in the variant)",
            "int",
            lo=0,
            synonyms=("exposures", "visitors", "users", "unique visitors", "participants", "sample size"),
        ),
        Target("conversions", "Conversions", "int", lo=0, synonyms=("conversions", "converted", "successes")),
        Target("mean", "Mean (continuous metric)", "float", synonyms=("mean", "average", "avg")),
        Target(
            "sd",
            "Standard deviation",
            "float",
            lo=0,
            synonyms=("sd", "std", "stdev", "std dev", "standard deviation"),
        ),
        Target("n", "n (sample of the mean)", "int", lo=0, synonyms=("n", "sample")),
        Target("metric", "Metric", "text", synonyms=("metric", "metric key", "metric name", "goal", "kpi")),
        Target("date", "Date (totals up to)", "date", synonyms=("date", "day", "as of", "end date")),
        Target("started_at", "Start date", "date", synonyms=("start date", "started", "start", "started at")),
        Target("control", "Control (yes/no)", "text", synonyms=("control", "is control", "baseline")),
    ),
)

KIND_CHOICES = [(k.key, k.label) for k in KINDS.values()]


def get_kind(kind: str) -> Kind:
    try:
        return KINDS[kind]
    except KeyError:
        raise CsvImportError(f"Unknown import kind {kind!r}; use one of: {', '.join(KINDS)}.") from None


# --- Reading the file ------------------------------------------------------------------------------


@dataclass
class CsvFile:
    frame: pd.DataFrame  # every cell a str ("" when empty); index = spreadsheet row number
    headers: list[str]
    encoding: str


def max_bytes() -> int:
    return int(getattr(settings, "CSV_IMPORT_MAX_BYTES", DEFAULT_MAX_BYTES))


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB"


def check_size(size: int) -> None:
    limit = max_bytes()
    if size > limit:
        raise CsvImportError(
            f"The file is {_mb(size)}; the limit is {_mb(limit)}. Split it into smaller files "
            "(or raise CSV_IMPORT_MAX_BYTES) and upload each."
        )


def decode(data: bytes) -> tuple[str, str]:
    """Return (text, encoding name). UTF-8 is tried first because Latin-1 accepts any byte at all."""
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            return data[3:].decode("utf-8"), "UTF-8 (with BOM)"
        except UnicodeDecodeError as exc:
            raise CsvImportError(_not_text(data[3:], exc.start, "it starts with a UTF-8 marker")) from None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), "UTF-16"
        except UnicodeDecodeError as exc:
            raise CsvImportError(_not_text(data, exc.start, "it starts with a UTF-16 marker")) from None
    if b"\x00" in data[:4096]:
        raise CsvImportError(
            "The file is not a text CSV: it contains NUL bytes (it may be UTF-16 without a byte-order mark, "
            'or an Excel workbook). Save it as "CSV UTF-8" and upload it again.'
        )
    try:
        return data.decode("utf-8"), "UTF-8"
    except UnicodeDecodeError:
        pass
    try:
        # Windows-1252 is what "Latin-1" files from Excel really are: Latin-1 plus curly quotes etc.
        return data.decode("cp1252"), "Latin-1 (Windows-1252)"
    except UnicodeDecodeError as exc:
        raise CsvImportError(_not_text(data, exc.start, "it is neither UTF-8 nor Latin-1")) from None


def _not_text(data: bytes, offset: int, why: str) -> str:
    line = data[:offset].count(b"\n") + 1
    return (
        f"The file can't be read as text: {why} (byte 0x{data[offset]:02x} on line {line}). "
        'Save it as "CSV UTF-8" and upload it again.'
    )


def read_csv(data: bytes) -> CsvFile:
    check_size(len(data))
    text, encoding = decode(data)
    sep, _ = _header(text)
    try:
        frame = pd.read_csv(
            # UTF-8 bytes, not a StringIO: the parser needs no wide-character copy of the whole file.
            io.BytesIO(text.encode("utf-8")),
            encoding="utf-8",
            sep=sep,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            skip_blank_lines=False,
            skipinitialspace=True,
            index_col=False,  # never take a row with one cell too many as the index
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, csv.Error) as exc:
        raise CsvImportError(f"The file isn't valid CSV: {exc}. Check its quoting and delimiters.") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    frame.index = frame.index + 2  # row 1 is the header
    blank = (frame == "").all(axis=1)
    return CsvFile(frame=frame[~blank], headers=list(frame.columns), encoding=encoding)


def check_upload(data: bytes, kind: str, mapping: Mapping[str, str] | None = None) -> list[str]:
    """What a request can check before queueing an import, without parsing the rows: the size, the
    encoding, the header (column count, the required fields mapped). Returns the headers."""
    check_size(len(data))
    text, _ = decode(data)
    _, headers = _header(text)
    check_mapping(suggest_mapping(headers, kind) if mapping is None else mapping, headers, kind)
    return headers


def _header(text: str) -> tuple[str, list[str]]:
    """The delimiter and the column names, from the first line; refuses a blank or too wide header."""
    first_line = text.split("\n", 1)[0]
    if not first_line.strip():
        raise CsvImportError(
            "The file is empty or its first line is blank; the first line must name the columns."
        )
    # Excel writes ";" where "," is the decimal mark, and "Unicode text" is tab-separated.
    sep = max([",", ";", "\t"], key=first_line.count)
    headers = [h.strip() for h in next(csv.reader([first_line.rstrip("\r")], delimiter=sep), [])]
    if len(headers) > MAX_COLUMNS:
        raise CsvImportError(
            f"The file has {len(headers)} columns; an import takes at most {MAX_COLUMNS}. Keep the columns you "
            "want to import (delete the others) and upload it again."
        )
    return sep, headers


# --- Mapping columns to fields ----------------------------------------------------------------------


def normalise_header(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", name.lower())


def auto_map(headers: list[str], kind: str) -> dict[str, str]:
    """Map each field to the first column whose name matches one of its synonyms (or its own name)."""
    by_norm: dict[str, str] = {}
    for h in headers:
        by_norm.setdefault(normalise_header(h), h)
    mapping: dict[str, str] = {}
    used: set[str] = set()
    for target in get_kind(kind).targets:
        for candidate in (target.name, *target.synonyms):
            column = by_norm.get(normalise_header(candidate))
            if column is not None and column not in used:
                mapping[target.name] = column
                used.add(column)
                break
    return mapping


def saved_mapping(kind: str) -> dict[str, str]:
    from productops.signals.models import CsvMapping

    row = CsvMapping.objects.filter(kind=kind).first()
    return dict(row.mapping) if row else {}


def save_mapping(kind: str, mapping: Mapping[str, str], user: Any = None) -> None:
    from productops.signals.models import CsvMapping

    CsvMapping.objects.update_or_create(
        kind=kind, defaults={"mapping": dict(mapping), "updated_by": user if user and user.pk else None}
    )


def suggest_mapping(headers: list[str], kind: str) -> dict[str, str]:
    """The saved mapping where its columns exist in this file, then synonyms for the remaining fields."""
    mapping = {t: c for t, c in saved_mapping(kind).items() if c in headers}
    taken = set(mapping.values())
    for target, column in auto_map([h for h in headers if h not in taken], kind).items():
        mapping.setdefault(target, column)
    if kind == "metric_points" and not {"dimension_key", "dimension_value"} & set(mapping):
        # metric,date,value,platform: the one extra column is the breakdown (dimension "platform").
        extra = [h for h in headers if h not in mapping.values()]
        if len(extra) == 1:
            mapping["dimension_value"] = extra[0]
    return mapping


def check_mapping(mapping: Mapping[str, str], headers: list[str], kind: str) -> dict[str, str]:
    spec = get_kind(kind)
    known = {t.name for t in spec.targets}
    clean = {t: c for t, c in mapping.items() if c}
    unknown = sorted(set(clean) - known)
    if unknown:
        raise CsvImportError(f"The mapping names unknown field(s) {', '.join(unknown)} for {spec.label}.")
    absent = sorted({c for c in clean.values() if c not in headers})
    if absent:
        raise CsvImportError(f"The mapping uses column(s) the file doesn't have: {', '.join(absent)}.")
    missing = [t.label for t in spec.targets if t.required and t.name not in clean]
    if missing:
        raise CsvImportError(
            f"The file has no column for the required field(s): {', '.join(missing)}. "
            "Add the column(s) to the file, or map an existing column to each on the mapping step."
        )
    return clean


# --- Validating and converting, a column at a time -----------------------------------------------

_DATE_FORMATS = [
    "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%Y/%m/%d", "%d-%m-%Y", "%d/%m/%y", "%m/%d/%y",
    "%d %b %Y", "%d %B %Y", "%b %d %Y", "%B %d %Y", "%b %d, %Y", "%B %d, %Y",
]  # fmt: skip
_DATETIME_FORMATS = [
    f"{d}{t}" for t in ("", " %H:%M", " %H:%M:%S", " %I:%M %p", " %I:%M:%S %p") for d in _DATE_FORMATS
]
DATE_HINT = "use YYYY-MM-DD, DD/MM/YYYY or MM/DD/YYYY"


def parse_dates(values: pd.Series) -> pd.Series:
    """Parse a text column to UTC timestamps (NaT where empty or unreadable).

    ISO 8601 first; the rest with the one common format that reads most of them, so a column is read
    consistently (never 03/04 as 3 April on one row and 4 March on the next). Day-first wins a tie.
    Times without an offset are taken as UTC.
    """
    present = values != ""
    parsed = pd.to_datetime(values.where(present), format="ISO8601", utc=True, errors="coerce")
    rest = values[present & parsed.isna()]
    if len(rest):
        best: pd.Series | None = None
        for fmt in _DATETIME_FORMATS:
            attempt = pd.to_datetime(rest, format=fmt, utc=True, errors="coerce")
            if best is None or attempt.notna().sum() > best.notna().sum():
                best = attempt
            if best.notna().all():
                break
        assert best is not None
        parsed.loc[best.index] = best
    return parsed


def _objects(values: pd.Series, convert: Callable[[Any], Any]) -> pd.Series:
    """Plain Python values (int, not 9.0 or numpy.int64), which every database driver adapts exactly."""
    return pd.Series([convert(v) for v in values], index=values.index, dtype=object)


@dataclass
class Column:
    values: pd.Series  # converted values (object dtype: Python objects or None)
    bad: pd.Series  # bool per row
    message: pd.Series | str  # a message per bad row (indexed by the bad rows only), or one for all of them


def _text(raw: pd.Series, target: Target) -> Column:
    return Column(raw.str.strip(), pd.Series(False, index=raw.index), "")


def _number(raw: pd.Series, target: Target) -> Column:
    s = raw.str.strip()
    present = s != ""
    words = s.str.lower().map(_CSAT_WORDS) if target.name == "csat_rating" else None
    # A decimal comma ("4,5") is common in European exports.
    nums = pd.to_numeric(s.str.replace(",", ".", regex=False).where(present), errors="coerce")
    if words is not None:
        nums = nums.fillna(words)
    bad = present & nums.isna()
    if target.parse == "int":
        bad |= present & nums.notna() & (nums != np.floor(nums))
    if target.lo is not None:
        bad |= present & (nums < target.lo)
    if target.hi is not None:
        bad |= present & (nums > target.hi)
    if target.parse == "int":
        lo, hi = int(target.lo or 0), int(target.hi or 0)
        what = (
            f"is not a whole number from {lo} to {hi}" if target.lo is not None else "is not a whole number"
        )
        if target.name == "csat_rating":
            what += " (or good/bad)"
        values = _objects(nums, lambda v: None if pd.isna(v) else int(v))
    else:
        what = "is not a number"
        values = _objects(nums, lambda v: None if pd.isna(v) else float(v))
    message = "'" + s[bad] + "' " + what + "."
    return Column(values.where(~bad, None), bad, message)


def _datetime(raw: pd.Series, target: Target) -> Column:
    s = raw.str.strip()
    parsed = parse_dates(s)
    unreadable = (s != "") & parsed.isna()
    early, late = pd.Timestamp(EARLIEST), pd.Timestamp(latest_plausible())
    implausible = parsed.notna() & ((parsed < early) | (parsed > late))
    # Years past 2262 don't fit pandas' timestamps; a 4-digit year that reads as a date-like string is
    # still a typo (9999-12-28), not a format we can't read.
    if unreadable.any():
        odd = s[unreadable]
        far = odd.str.match(r"^\s*(\d{4})[-/.]") & (odd.str.slice(0, 4).map(_int_or_zero) > late.year)
        implausible |= far.reindex(s.index, fill_value=False).astype(bool)
    bad = unreadable | implausible
    out_of_range = f"' is outside the plausible range {EARLIEST:%Y-%m-%d} to {late:%Y-%m-%d}."
    shown = s[bad]  # messages only for the bad rows: a million-row file has few
    message = ("'" + shown + f"' is not a date ({DATE_HINT}).").where(
        ~implausible[bad], "'" + shown + out_of_range
    )
    parsed = parsed.where(~implausible)
    if target.parse == "date":
        values = _objects(parsed, lambda v: None if pd.isna(v) else v.date())
    else:
        values = _objects(parsed, lambda v: None if pd.isna(v) else v.to_pydatetime())
    return Column(values.astype(object), bad, message)


def _int_or_zero(text: str) -> int:
    return int(text) if text.isdigit() else 0


def _list(raw: pd.Series, target: Target) -> Column:
    values = raw.map(lambda v: [p.strip() for p in re.split(r"[,;|]", v) if p.strip()])
    return Column(values.astype(object), pd.Series(False, index=raw.index), "")


def _choice(raw: pd.Series, target: Target) -> Column:
    assert target.choices is not None
    s = raw.str.strip()
    key = s.str.lower().str.replace(r"[\s_-]+", " ", regex=True)
    values = key.map(target.choices)
    bad = (s != "") & values.isna()
    accepted = ", ".join(sorted(set(target.choices.values())))
    return Column(
        values.astype(object).where(values.notna(), None), bad, "'" + s[bad] + f"' is not one of: {accepted}."
    )


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _email(raw: pd.Series, target: Target) -> Column:
    s = raw.str.strip()
    bad = (s != "") & ~s.str.match(_EMAIL)
    values = s.map(lambda v: respondent_hash(v) if v else "")
    # The message doesn't echo the address: the bad-rows file already holds it for the lead.
    return Column(values.astype(object), bad, "the value is not an e-mail address.")


def _team(raw: pd.Series, target: Target) -> Column:
    s = raw.str.strip()
    names = sorted(set(s) - {""})
    by_name: dict[str, int] = {}
    for pk, name, slug in Team.objects.filter(
        models.Q(name__in=names) | models.Q(slug__in=names)
    ).values_list("pk", "name", "slug"):
        by_name[name] = pk
        by_name[slug] = pk
    lowered = {k.lower(): v for k, v in by_name.items()}
    values = _objects(s, lambda v: by_name.get(v, lowered.get(v.lower())) if v else None)
    bad = (s != "") & values.isna()
    return Column(
        values.astype(object).where(values.notna(), None),
        bad,
        "there is no team '" + s[bad] + "'; create it or leave blank.",
    )


_PARSERS: dict[str, Callable[[pd.Series, Target], Column]] = {
    "text": _text,
    "int": _number,
    "float": _number,
    "datetime": _datetime,
    "date": _datetime,
    "list": _list,
    "choice": _choice,
    "email": _email,
    "team": _team,
}


# --- Import ------------------------------------------------------------------------------------------


def import_csv(
    file_bytes: bytes,
    kind: str,
    *,
    mapping: Mapping[str, str] | None = None,
    source_key: str = "manual",
    connection_id: int | None = None,
    product_id: int | None = None,
) -> ImportReport:
    """Validate a CSV file and upsert its valid rows; see the module docstring.

    `mapping` is {field name: column name}; None uses `suggest_mapping`. Raises CsvImportError when the
    file as a whole can't be used; row-level problems are returned in the report instead.
    """
    prepared = prepare_import(
        file_bytes,
        kind,
        mapping=mapping,
        source_key=source_key,
        connection_id=connection_id,
        product_id=product_id,
    )
    prepared.write(0, prepared.good_rows)
    return prepared.report


@dataclass
class PreparedImport:
    """A validated file: the report (row errors, bad-rows CSV) and the good rows, converted, to write.

    `write(start, stop)` upserts good rows [start, stop) and adds the counts to the report, so a caller
    can commit the file in batches and resume after the last committed batch (productops.signals.imports).
    """

    spec: Kind
    report: ImportReport
    good: dict[str, pd.Series]
    source_key: str
    connection_id: int | None
    product_id: int | None

    @property
    def good_rows(self) -> int:
        return len(next(iter(self.good.values()))) if self.good else 0

    def write(self, start: int, stop: int) -> UpsertResult:
        if stop <= start or not self.good:
            return UpsertResult()
        result = _upsert(
            self.spec,
            {k: v.iloc[start:stop] for k, v in self.good.items()},
            self.source_key,
            self.connection_id,
            self.product_id,
            self.report.scope,
        )
        self.report.inserted += result.inserted
        self.report.updated += result.updated
        self.report.unchanged += result.unchanged
        return result


def prepare_import(
    file_bytes: bytes,
    kind: str,
    *,
    mapping: Mapping[str, str] | None = None,
    source_key: str = "manual",
    connection_id: int | None = None,
    product_id: int | None = None,
) -> PreparedImport:
    """Read, map and validate a file (vectorised, every row); write nothing."""
    spec = get_kind(kind)
    csv_file = read_csv(file_bytes)
    frame = csv_file.frame
    used = check_mapping(
        suggest_mapping(csv_file.headers, kind) if mapping is None else mapping, csv_file.headers, kind
    )
    report = ImportReport(kind=kind, rows=len(frame), mapping=used, encoding=csv_file.encoding)

    converted: dict[str, pd.Series] = {}
    bad_any = pd.Series(False, index=frame.index)
    messages: list[pd.Series] = []  # per column: "Column 'x': ..." where bad, "" elsewhere
    cell_errors: list[tuple[int, int, RowError]] = []
    for order, target in enumerate(spec.targets):
        column = used.get(target.name)
        if column is None:
            continue
        raw = frame[column].astype(str)
        col = _PARSERS[target.parse](raw, target)
        # Checks every column gets, whatever its type: a NUL (PostgreSQL refuses it in text) and the
        # model column's length (a longer value would fail the whole batch's write).
        nul = raw.str.contains("\x00", regex=False)
        limit = _max_length(spec, target)
        too_long = (
            ~nul & ~col.bad & (col.values.map(lambda v: len(v) if isinstance(v, str) else 0) > limit)
            if limit
            else pd.Series(False, index=raw.index)
        )
        empty = raw.str.strip() == "" if target.required else pd.Series(False, index=raw.index)
        bad = col.bad | nul | too_long | empty
        converted[target.name] = col.values
        if bad.any():
            # Messages are built for the bad rows only; the last matching rule wins, as listed.
            rows = bad[bad].index
            if isinstance(col.message, pd.Series):
                text = col.message.reindex(rows).fillna("").astype(object)
            else:
                text = pd.Series(col.message, index=rows, dtype=object)
            if too_long[rows].any():
                length = raw[rows].str.strip().str.len().astype(str)
                text = text.where(
                    ~too_long[rows], "the value is " + length + f" characters long; at most {limit} fit."
                )
            text = text.where(
                ~nul[rows], "the value contains a NUL character (\\0); remove it and import again."
            )
            text = text.where(~empty[rows], "a value is required.")
            bad_any |= bad
            for row, msg in text.items():
                cell_errors.append((int(row), order, RowError(int(row), column, str(msg))))
            messages.append(f"Column '{column}': " + text)

    if spec.key == "experiments":
        bad, message, column = _experiment_row_checks(converted, used, frame.index)
        bad &= ~bad_any  # one problem at a time: a row whose cells are wrong already says so
        if bad.any():
            bad_any |= bad
            for row, msg in message[bad].items():
                cell_errors.append((int(row), len(spec.targets), RowError(int(row), column, str(msg))))
            messages.append(("Row: " + message).where(bad, ""))
    cell_errors.sort(key=lambda e: (e[0], e[1]))
    report.errors = [e for _, _, e in cell_errors[:MAX_LISTED_ERRORS]]
    report.bad_rows = int(bad_any.sum())
    if report.bad_rows:
        report.bad_rows_csv = bad_rows_csv(frame[bad_any], messages)

    if spec.key == "metric_points":
        _metric_dimensions(converted, used, csv_file.headers, frame.index, ~bad_any)
    good = ~bad_any
    return PreparedImport(
        spec=spec,
        report=report,
        good={k: v[good] for k, v in converted.items()} if good.any() else {},
        source_key=source_key,
        connection_id=connection_id,
        product_id=product_id,
    )


def _metric_dimensions(
    converted: dict[str, pd.Series],
    used: dict[str, str],
    headers: list[str],
    index: pd.Index,
    good: pd.Series,
) -> None:
    """A dimension-value column without a dimension column is a breakdown by that column's name
    (`platform` -> dimension "platform"). Then make sure no two rows claim the same point: a file whose
    rows differ only in a column nobody mapped would otherwise keep the last row and drop the rest."""
    if "dimension_value" in converted and "dimension_key" not in converted:
        values = converted["dimension_value"]
        converted["dimension_key"] = pd.Series(used["dimension_value"], index=index, dtype=object).where(
            values.astype(str) != "", ""
        )
    key = pd.DataFrame(
        {
            "metric": converted["metric"],
            "ts": converted["ts"].astype(str),
            "dk": converted.get("dimension_key", pd.Series("", index=index)),
            "dv": converted.get("dimension_value", pd.Series("", index=index)),
        }
    )[good]
    clash = key.duplicated(keep=False)
    if clash.any():
        rows = [str(r) for r in key.index[clash][:6]]
        unmapped = [h for h in headers if h not in used.values()]
        hint = (
            f"The file has column(s) {', '.join(repr(h) for h in unmapped)} that no field is mapped to; map "
            "the one that breaks the metric down as its dimension value"
            if unmapped
            else "Remove the repeated rows, or add a column that tells them apart and map it as the dimension"
        )
        raise CsvImportError(
            f"Rows {', '.join(rows)} are the same metric, date and dimension, so only one of them could be "
            f"kept. {hint}, and import again. Nothing was imported."
        )


_STORED_IN = {
    ("metric_points", "metric"): (Metric, "key"),
    ("experiments", "experiment"): (Experiment, "key"),
    ("experiments", "variant"): (Variant, "key"),
    ("experiments", "metric"): (ExperimentResult, "metric_key"),
}


def _experiment_row_checks(
    converted: dict[str, pd.Series], used: dict[str, str], index: pd.Index
) -> tuple[pd.Series, pd.Series, str]:
    """Each row is a conversion metric (exposures + conversions) or a continuous one (mean + sd + n)."""

    def present(name: str) -> pd.Series:
        values = converted.get(name)
        return values.notna() if values is not None else pd.Series(False, index=index)

    conversion = present("conversions")
    continuous = present("mean") | present("sd")
    message = pd.Series("", index=index, dtype=object)
    bad = pd.Series(False, index=index)

    def flag(mask: pd.Series, text: str) -> None:
        nonlocal bad, message
        new = mask & ~bad
        message = message.where(~new, text)
        bad = bad | new

    flag(~conversion & ~continuous, "give conversions (with exposures), or mean, sd and n.")
    flag(conversion & continuous, "give either conversions or mean and sd, not both.")
    flag(conversion & ~present("exposures"), "conversions need the exposures (users in the variant).")
    if "conversions" in converted and "exposures" in converted:
        over = (
            conversion
            & present("exposures")
            & (converted["conversions"].astype(float) > converted["exposures"].astype(float))
        )
        flag(over, "more conversions than exposures.")
    flag(continuous & ~(present("mean") & present("sd")), "a continuous metric needs both mean and sd.")
    flag(continuous & ~(present("n") | present("exposures")), "a continuous metric needs n (or exposures).")
    column = used.get("conversions") or used.get("mean") or used.get("experiment", "")
    return bad, message, column


def _max_length(spec: Kind, target: Target) -> int | None:
    """The model column's max_length for a text field (stored elsewhere: that column's)."""
    if target.parse not in ("text", "choice"):
        return None
    if (spec.key, target.name) in _STORED_IN:
        model, name = _STORED_IN[(spec.key, target.name)]
        return column_max_length(model, name)
    if target.name == "control":
        return None
    try:
        return column_max_length(spec.model, target.name)
    except Exception:  # a field kept in a JSON column (NPS segments): no fixed length
        return None


def _upsert(
    spec: Kind,
    cols: dict[str, pd.Series],
    source_key: str,
    connection_id: int | None,
    product_id: int | None,
    scope: WriteScope,
) -> UpsertResult:
    n = len(next(iter(cols.values())))
    index = next(iter(cols.values())).index
    out: dict[str, list[Any]] = {}
    if spec.key == "experiments":
        return _upsert_experiments(cols, source_key, connection_id, product_id, scope)
    if spec.key == "metric_points":
        metric_ids = _metric_ids(cols["metric"], source_key, connection_id, product_id)
        out["metric_id"] = [metric_ids[k] for k in cols["metric"]]
        out["ts"] = list(cols["ts"])
        out["value"] = list(cols["value"])
        for name in ("dimension_key", "dimension_value"):
            out[name] = list(cols[name]) if name in cols else [""] * n
        rows = _rows(out, n)
        scope.add(MetricPoint, rows)
        return upsert(MetricPoint, rows)

    out["source_key"] = [source_key] * n
    out["connection_id"] = [connection_id] * n
    out["external_id"] = list(_external_ids(spec, cols, index))
    if spec.key in {"nps", "tickets", "portfolio_items"} and product_id is not None:
        out["product_id"] = [product_id] * n
    segment_fields = ("plan", "country", "platform")
    for name, values in cols.items():
        if name == "external_id" or name in segment_fields:
            continue
        if name == "email":
            out["respondent_hash"] = list(values)
        elif name == "team":
            out["team_id"] = list(values)
        else:
            out[name] = [_blank_as_default(spec, name, v) for v in values]
    if spec.key == "nps":
        present = [f for f in segment_fields if f in cols]
        if present:
            out["segment"] = [{f: cols[f].iloc[i] for f in present if cols[f].iloc[i]} for i in range(n)]
    if spec.key == "tickets" and "body" in cols:
        # Bodies exported from help desks are often HTML; analysis reads the plain text.
        out["body_text"] = [" ".join(strip_tags(b or "").split()) for b in cols["body"]]
    if spec.key == "portfolio_items" and "status" in cols and "status_category" not in cols:
        out["status_category"] = [_category_from_status(s) for s in cols["status"]]
    rows = _rows(out, n)
    scope.add(spec.model, rows)
    if "product_id" not in out:
        scope.product_ids.add(None)
    return upsert(spec.model, rows)


_YES = {"yes", "y", "true", "1", "x", "control"}


def _upsert_experiments(
    cols: dict[str, pd.Series],
    source_key: str,
    connection_id: int | None,
    product_id: int | None,
    scope: WriteScope,
) -> UpsertResult:
    """Experiments, their variants and cumulative results. Each row is one variant's totals for one metric
    up to `date` (today when absent); a start date adds the zero totals at the start, so a file of final
    totals still says how many days the experiment ran. The control is the row marked control, else the
    variant named "control", else the first variant listed."""
    from django.utils import timezone

    n = len(cols["experiment"])
    get = lambda name: list(cols[name]) if name in cols else [None] * n  # noqa: E731
    experiments, variants, metric = get("experiment"), get("variant"), get("metric")
    dates = [d or timezone.localdate() for d in get("date")]
    started = get("started_at")
    marked = [str(v or "").strip().lower() in _YES for v in get("control")]
    exposures, conversions, mean, sd, size = (
        get("exposures"),
        get("conversions"),
        get("mean"),
        get("sd"),
        get("n"),
    )
    metric_keys = [
        m or "conversion" if conversions[i] is not None else m or "value" for i, m in enumerate(metric)
    ]

    result = UpsertResult()
    keys = list(dict.fromkeys(experiments))
    first_metric = {k: metric_keys[experiments.index(k)] for k in keys}
    start_of: dict[str, Any] = {}
    for i, key in enumerate(experiments):
        candidates = [d for d in (started[i], dates[i]) if d is not None]
        start_of[key] = min([*candidates, *([start_of[key]] if key in start_of else [])])
    exp_rows = [
        {
            "source_key": source_key,
            "connection_id": connection_id,
            "external_id": f"csv:{key}",
            "product_id": product_id,
            "key": key,
            "name": key,
            "primary_metric": first_metric[key],
            "started_at": datetime(start_of[key].year, start_of[key].month, start_of[key].day, tzinfo=UTC),
        }
        for key in keys
    ]
    result += upsert(Experiment, exp_rows)
    scope.families.add("experiments")
    scope.product_ids.add(product_id)
    exp_pk = dict(
        Experiment.objects.filter(
            source_key=source_key, external_id__in=[f"csv:{k}" for k in keys]
        ).values_list("key", "pk")
    )
    arms: dict[str, list[str]] = {}
    for key, variant in zip(experiments, variants, strict=True):
        arms.setdefault(key, [])
        if variant not in arms[key]:
            arms[key].append(variant)
    control_of = {}
    for key, names in arms.items():
        chosen = [v for i, v in enumerate(variants) if experiments[i] == key and marked[i]]
        named = [v for v in names if v.strip().lower() == "control"]
        control_of[key] = (chosen or named or names)[0]
    variant_rows = [
        {
            "experiment_id": exp_pk[key],
            "key": name,
            "name": name,
            "is_control": name == control_of[key],
            "weight": round(1 / len(names), 6),
        }
        for key, names in arms.items()
        for name in names
    ]
    result += upsert(Variant, variant_rows)
    variant_pk = {
        (e, k): pk
        for e, k, pk in Variant.objects.filter(experiment_id__in=list(exp_pk.values())).values_list(
            "experiment_id", "key", "pk"
        )
    }
    rows: dict[tuple[int, str, Any], dict[str, Any]] = {}
    for i in range(n):
        e, v = exp_pk[experiments[i]], variant_pk[(exp_pk[experiments[i]], variants[i])]
        base = {"experiment_id": e, "variant_id": v, "metric_key": metric_keys[i]}
        if conversions[i] is not None:
            values = {
                "kind": MetricKind.CONVERSION.value,
                "exposures": exposures[i],
                "conversions": conversions[i],
            }
            values |= {"value_sum": None, "value_sum_squares": None}
        else:
            count = size[i] if size[i] is not None else exposures[i]
            values = {
                "kind": MetricKind.CONTINUOUS.value,
                "exposures": count,
                "conversions": None,
                "value_sum": mean[i] * count,
                # sd is the sample standard deviation: sum of squares = (n-1) sd^2 + n mean^2
                "value_sum_squares": (count - 1) * sd[i] ** 2 + count * mean[i] ** 2,
            }
        rows[(v, metric_keys[i], dates[i])] = {**base, "date": dates[i], **values}
        start = start_of[experiments[i]]
        if start < dates[i] and (v, metric_keys[i], start) not in rows:
            zero = {
                k: (0 if k in ("exposures",) else (0 if values[k] is not None else None))
                for k in values
                if k != "kind"
            }
            rows[(v, metric_keys[i], start)] = {**base, "date": start, "kind": values["kind"], **zero}
    result += upsert(ExperimentResult, list(rows.values()))
    return result


def _blank_as_default(spec: Kind, name: str, value: Any) -> Any:
    """Empty optional cells: NULL for nullable columns, the model default for the others."""
    if value is None or value == "":
        f = spec.model._meta.get_field(name)
        if f.null:  # type: ignore[union-attr]
            return None
        if value is None:
            return f.get_default()  # type: ignore[union-attr]
    return value


def _category_from_status(status: str) -> str:
    s = status.strip().lower()
    if s in _CATEGORY:
        return _CATEGORY[s]
    if any(w in s for w in ("done", "closed", "shipped", "released", "resolved")):
        return StatusCategory.DONE.value
    if any(w in s for w in ("progress", "doing", "review", "develop", "testing")):
        return StatusCategory.IN_PROGRESS.value
    return StatusCategory.TODO.value


def _rows(out: dict[str, list[Any]], n: int) -> list[dict[str, Any]]:
    names = list(out)
    return [dict(zip(names, values, strict=True)) for values in zip(*(out[k] for k in names), strict=True)]


def _external_ids(spec: Kind, cols: dict[str, pd.Series], index: pd.Index) -> pd.Series:
    """The id column where given, else a hash of the identifying fields: the same row, the same id."""
    parts = [
        cols[name].map(_identity_text) if name in cols else pd.Series("", index=index)
        for name in spec.identity
    ]
    joined = parts[0].str.cat(parts[1:], sep="\x1f") if len(parts) > 1 else parts[0]
    hashed = "csv:" + joined.map(lambda s: hashlib.sha256(s.encode()).hexdigest()[:32])
    if "external_id" in cols:
        given = cols["external_id"].astype(str)
        return given.where(given != "", hashed)
    return hashed


def _identity_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list):
        return ",".join(value)
    return str(value)


def _metric_ids(
    keys: pd.Series, source_key: str, connection_id: int | None, product_id: int | None
) -> dict[str, int]:
    """The metric each key names: an existing one of the product (from any source), else a new one."""
    wanted = sorted(set(keys))
    of_product = Metric.objects.filter(
        models.Q(product_id=product_id) if product_id is not None else models.Q(product__isnull=True)
    )
    found = dict(of_product.filter(key__in=wanted).values_list("key", "pk"))
    missing = [k for k in wanted if k not in found]
    if missing:
        upsert(
            Metric,
            [
                {
                    "source_key": source_key,
                    "connection_id": connection_id,
                    "external_id": f"metric:{product_id or '-'}:{k}",
                    "product_id": product_id,
                    "name": k,
                    "key": k,
                }
                for k in missing
            ],
        )
        found.update(of_product.filter(key__in=missing).values_list("key", "pk"))
    return found


# --- The bad-rows file --------------------------------------------------------------------------------

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def escape_cell(value: str) -> str:
    """Prefix a cell a spreadsheet would run as a formula with ' so it shows as text (CSV injection)."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def bad_rows_csv(rows: pd.DataFrame, messages: list[pd.Series]) -> bytes:
    """The bad rows as the file had them, with their row number and what to fix, every cell escaped."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([escape_cell(h) for h in ["row", *rows.columns, "errors"]])
    for row_number, values in rows.iterrows():
        errors = "; ".join(m for m in (s.get(row_number, "") for s in messages) if m)
        writer.writerow([str(row_number), *(escape_cell(str(v)) for v in values), escape_cell(errors)])
    return buffer.getvalue().encode("utf-8-sig")
