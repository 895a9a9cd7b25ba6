"""The connector plug-in interface: one base class, one registry, one module per tool.

A connector *reads*; it never touches the ORM. `read(stream, cursor)` yields `Page`s of normalised
records, each with the cursor to resume after that page. The framework's sync loop (connectors.sync)
upserts each page and saves its cursor in one transaction, so a crash loses nothing and a re-run
duplicates nothing.

To add a tool: write connectors/sources/<tool>.py with a `@register` subclass of `Connector`, add its
vendor-shaped fixtures under tests/fixtures/<tool>/, and list the module in PRODUCTOPS_CONNECTORS
(a self-hoster can list their own dotted path). See docs/connectors.md.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, ClassVar, TypeVar

from django import forms


class ConnectorError(Exception):
    """A failure a user can act on. `permanent=True` (bad token, bad config) pauses the connection;
    `permanent=False` (429, 5xx, timeout, truncated body) is retried with backoff. `retry_after` is how
    long the source asked us to wait; `rate_limited` says the source is rate-limiting (not failing)."""

    def __init__(
        self,
        message: str,
        *,
        permanent: bool = False,
        retry_after: float | None = None,
        rate_limited: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.retry_after = retry_after
        self.rate_limited = rate_limited


@dataclass
class Record:
    """One normalised row for `model` ("signals.SupportTicket", "portfolio.PortfolioItem", ...).

    `values` holds column attnames; the framework adds source_key/external_id/connection_id.
    `children` carries dependent rows that need this row's primary key (variants, flag changes,
    points of a metric), as (model label, list of value dicts, name of the FK column to fill in).
    """

    model: str
    external_id: str
    values: dict[str, Any]
    children: list[tuple[str, list[dict[str, Any]], str]] = field(default_factory=list)


@dataclass(frozen=True)
class Link:
    """A reference between two portfolio items of one connection, by the source's own ids.

    kind "parent": `from_id` is the child, `to_id` its parent (None clears the parent).
    kind "children": `from_id` is a parent whose children are exactly the "parent" links to it in the
    same batch (to_id None); others lose it as parent.
    kind "blocks": `from_id` blocks `to_id`; kind "relates": `from_id` relates to `to_id`.
    `by` says how `to_id` identifies the other item: "external_id", or "url" where a tool only
    gives a key that is part of the item's URL (Jira Data Center's Epic Link).
    The sync loop resolves links after the page's rows are written (productops.portfolio.services
    .apply_links); one whose other end is not in this connection (yet) is skipped with a log note.
    """

    kind: str
    from_id: str
    to_id: str | None
    by: str = "external_id"


@dataclass(frozen=True)
class Sibling:
    """A child row's foreign key to another child of the same parent, written earlier in the record.

    E.g. an ExperimentResult row carries ``{"variant_id": Sibling("key", "control")}``: the sync loop
    replaces it by the pk of the Variant with that key under the same experiment. List the sibling's
    children before the rows that point at them.
    """

    field: str
    value: Any


@dataclass
class Page:
    records: list[Record]
    cursor: Any  # JSON-serialisable; saved with the page's rows
    done: bool = False  # True on the last page of the stream
    # Optional, for portfolio sources (older connectors leave both alone):
    # references between items, resolved after the page is written;
    links: list[Link] = field(default_factory=list)
    # on the last page of a full listing: every external id that still exists at the source for
    # `present_model`; rows of this connection not listed are marked gone (is_gone/gone_at).
    present_ids: list[str] | None = None
    present_model: str = "portfolio.PortfolioItem"


@dataclass
class CheckResult:
    ok: bool
    message: str


class Connector:
    """Base class for every source. Subclasses set the class attributes and implement the methods."""

    kind: ClassVar[str]
    label: ClassVar[str]
    family: ClassVar[
        str
    ]  # metrics, nps, tickets, experiments, flags, mentions, kb, monitoring, portfolio or research
    # Other signal families the connector writes besides its own (PostHog: experiments and flags beside
    # metrics), so the post-sync recompute also runs the insights that read them.
    also_fills: ClassVar[tuple[str, ...]] = ()
    description: ClassVar[str] = ""
    docs_url: ClassVar[str] = ""
    config_form: ClassVar[type[forms.Form]]
    secret_fields: ClassVar[tuple[str, ...]] = ()
    # Config fields that decide where requests, and so the stored secrets, are sent. None (the default)
    # means: every URLField, and every field named like a URL, host, subdomain, region or header name
    # (connectors.forms.destination_fields). Changing one requires re-entering the secrets.
    destination_fields: ClassVar[tuple[str, ...] | None] = None
    # Secrets that only check inbound calls (a webhook signing secret) and are never sent anywhere,
    # so a new destination does not ask for them again.
    inbound_secret_fields: ClassVar[tuple[str, ...]] = ("hook_secret",)
    # Templates get connector classes (the gallery, the form page); don't let them instantiate one.
    do_not_call_in_templates: ClassVar[bool] = True

    def __init__(
        self,
        config: Mapping[str, Any],
        secrets: Mapping[str, str],
        *,
        connection: Any = None,
        client: Any = None,
    ) -> None:
        self.config = dict(config)
        self.secrets = dict(secrets)
        self.connection = connection
        # A connectors.http.HttpClient a test may inject; sources build their own on first use when None.
        self._client = client

    def check(self) -> CheckResult:
        """One cheap authenticated call, for the "Test connection" button."""
        raise NotImplementedError

    def streams(self) -> list[str]:
        raise NotImplementedError

    def read(self, stream: str, cursor: Any) -> Iterator[Page]:
        """Yield pages of records from `cursor` on (None means from the beginning)."""
        raise NotImplementedError

    def cursor_for_date(self, stream: str, since: date) -> Any:
        """The cursor that makes `read` start at `since`, for "Backfill from date".

        The default, {"since": "YYYY-MM-DD"}, suits connectors whose cursor is a dict with a "since"
        key; override it when the source's cursor is something else (an opaque token, an offset).
        """
        return {"since": since.isoformat()}

    @classmethod
    def secret_values(cls, secrets: Mapping[str, str]) -> list[str]:
        return [v for k, v in secrets.items() if k in cls.secret_fields and v]


# "generic" connectors (CSV/JSON over HTTP, the inbound webhook) fill whichever family the lead picks in
# the connection's config["family"].
FAMILIES = (
    "metrics",
    "nps",
    "tickets",
    "experiments",
    "flags",
    "mentions",
    "kb",
    "monitoring",
    "portfolio",
    "research",
    "generic",
)
FAMILY_LABELS = {
    "metrics": "Product analytics",
    "nps": "NPS and surveys",
    "tickets": "Support tickets",
    "experiments": "Experiments",
    "flags": "Feature flags",
    "mentions": "Social mentions",
    "kb": "Knowledge base",
    "monitoring": "Monitoring and incidents",
    "portfolio": "Portfolio and planning",
    "research": "User research",
    "generic": "Any tool: files, HTTP and webhooks",
}


def data_family(connector: type[Connector], config: Mapping[str, Any]) -> str | None:
    """The signal family a connection fills: its connector's, or for a generic one, the configured one."""
    if connector.family == "generic":
        return config.get("family") or None
    return connector.family


C = TypeVar("C", bound=type[Connector])
REGISTRY: dict[str, type[Connector]] = {}


def register(cls: C) -> C:
    if cls.family not in FAMILIES:
        raise ValueError(f"connector {cls.kind!r} has unknown family {cls.family!r}; use one of {FAMILIES}")
    if cls.kind in REGISTRY and REGISTRY[cls.kind] is not cls:
        raise ValueError(f"connector kind {cls.kind!r} is registered twice")
    REGISTRY[cls.kind] = cls
    return cls


def get(kind: str) -> type[Connector]:
    try:
        return REGISTRY[kind]
    except KeyError:
        raise ConnectorError(f"No connector of kind {kind!r} is installed.", permanent=True) from None


def by_family() -> list[tuple[str, str, list[type[Connector]]]]:
    """The gallery: (family, label, connectors sorted by label), families in a fixed order."""
    out = []
    for family in FAMILIES:
        members = sorted((c for c in REGISTRY.values() if c.family == family), key=lambda c: c.label)
        if members:
            out.append((family, FAMILY_LABELS[family], members))
    return out
