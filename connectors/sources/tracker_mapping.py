"""What the tracker connectors (Jira, GitHub, GitLab, Linear) share: mapping to the portfolio.

- The config form's common fields: which team and product each source scope (a Jira project, a
  GitHub repo, a GitLab group or project, a Linear team) belongs to, label/component overrides, how an
  item's kind is chosen, and how often the full listing that detects deleted items runs. The form
  checks team and product slugs against the database and stores their ids, so `read()` never needs
  the ORM.
- `Mapper`: turns a tracker's scope, labels, components and type into team_id, product_id and kind.
- `ItemBuilder`: the PortfolioItem record, and the run-wide memory of parent links (a child can
  arrive before its parent, so every parent link seen is sent again on the stream's last page).
- `inventory_pages`: the "inventory" stream, a periodic full listing of ids whose last page carries
  `present_ids`, so items deleted or moved out of scope at the source are marked gone.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django import forms

from connectors.base import ConnectorError, Link, Page, Record

ITEM = "portfolio.PortfolioItem"
KINDS = ("initiative", "epic", "story")
DEFAULT_IN_PROGRESS_LABELS = ("in progress", "in-progress", "doing", "wip", "workflow::in progress")


def _json_help(example: str) -> str:
    return f"JSON, e.g. {example}"


class MappingJSONField(forms.JSONField):
    """A JSON mapping field as a lead reads it back.

    - Empty renders empty (`{}` or `[]`), never `null`; blank input means "no rules".
    - The ids the form resolves slugs to (`team_id`, `product_id`) are the connector's business: the
      field shows and takes slugs (or names) only, pretty-printed one rule a line.
    """

    def __init__(self, *, empty: Callable[[], Any] = dict, **kwargs: Any) -> None:
        self.empty = empty
        kwargs.setdefault("initial", empty)
        kwargs.setdefault("widget", forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}))
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return self.empty()
        return super().to_python(value)

    def prepare_value(self, value: Any) -> Any:
        if value is None:
            value = self.empty()
        if isinstance(value, forms.fields.InvalidJSONInput):
            return value  # what the lead typed, shown back as typed so they can fix it
        return json.dumps(_without_ids(value), ensure_ascii=False, indent=1 if value else None)


def _without_ids(value: Any) -> Any:
    """Drop the resolved `*_id` keys from a stored mapping (they are re-resolved from the slugs)."""
    if isinstance(value, dict):
        return {
            k: _without_ids(v) for k, v in value.items() if not (isinstance(k, str) and k.endswith("_id"))
        }
    if isinstance(value, list):
        return [_without_ids(v) for v in value]
    return value


class TrackerMappingForm(forms.Form):
    """Fields every tracker connector's form shares. Subclasses add the tool's URL, token and scopes.

    `scopes_required`: GitHub and GitLab read only the repositories/groups listed, so they need at least
    one; Jira and Linear read every project/team the credentials can see when none is listed, and the
    mapping then only places items (an unlisted scope gets the connection's team and product).
    """

    scopes_required = True
    scopes_example = '{"ALPHA": {"team": "payments", "product": "checkout"}}'
    scopes_help = (
        "Each source scope (Jira project key, GitHub owner/repo, GitLab group or project path, Linear team "
        "key) with the slug (or name) of an existing team and product. Items of a scope not listed here get "
        "the connection's own team and product."
    )

    scopes = MappingJSONField(required=False)
    overrides = MappingJSONField(
        required=False,
        empty=list,
        help_text=_json_help(
            '[{"label": "billing", "team": "billing"}, {"component": "api", "product": "platform"}]'
        )
        + ". Optional. The first rule whose label or component matches an item wins over its scope's mapping.",
    )
    kind_map = MappingJSONField(
        required=False,
        help_text=_json_help('{"Epic": "epic", "Initiative": "initiative", "label:theme": "initiative"}')
        + ". Optional. Issue type names (or label:<name>) to initiative, epic or story; otherwise the tool's "
        "hierarchy decides.",
    )
    in_progress_labels = forms.CharField(
        required=False,
        initial=", ".join(DEFAULT_IN_PROGRESS_LABELS),
        help_text="For tools without a status category (GitHub, GitLab): open items with one of these "
        "labels (comma-separated) count as in progress.",
    )
    hook_secret = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Optional: the secret you give the tool's webhook (see docs/connectors-trackers.md); when "
        "set, calls to this connection's webhook URL must carry the tool's signature. Stored encrypted.",
    )
    gone_check_hours = forms.IntegerField(
        min_value=0,
        initial=24,
        required=False,
        help_text="How often (hours) to list every item id so deleted or moved items are marked gone; "
        "0 lists them on every sync.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["scopes"]
        # The label and help say what the form enforces: required here exactly when clean_scopes insists.
        field.label = "Scopes" if self.scopes_required else "Scopes (optional)"
        field.help_text = _json_help(self.scopes_example) + ". " + self.scopes_help

    def clean_scopes(self) -> dict[str, Any]:
        value = self.cleaned_data.get("scopes")
        if value in (None, "", {}):
            if self.scopes_required:
                raise forms.ValidationError(
                    f"List at least one scope to read, as an object of scope -> {{team, product}}, e.g. "
                    f"{self.scopes_example}."
                )
            return {}
        if not isinstance(value, dict):
            raise forms.ValidationError(
                f"Give an object of scope -> {{team, product}}, e.g. {self.scopes_example}."
            )
        return {str(scope): self._resolve(rule, f"scope {scope!r}") for scope, rule in value.items()}

    def clean_overrides(self) -> list[dict[str, Any]]:
        value = self.cleaned_data.get("overrides") or []
        if not isinstance(value, list):
            raise forms.ValidationError("Give a list of rules, each with a label or a component.")
        out = []
        for n, rule in enumerate(value, start=1):
            if not isinstance(rule, dict) or not (rule.get("label") or rule.get("component")):
                raise forms.ValidationError(f"Rule {n} needs a label or a component to match.")
            resolved = self._resolve(rule, f"rule {n}")
            resolved.update({k: str(rule[k]) for k in ("label", "component") if rule.get(k)})
            out.append(resolved)
        return out

    def clean_kind_map(self) -> dict[str, str]:
        value = self.cleaned_data.get("kind_map") or {}
        if not isinstance(value, dict):
            raise forms.ValidationError("Give an object of issue type (or label:<name>) -> kind.")
        bad = sorted(k for k, v in value.items() if v not in KINDS)
        if bad:
            raise forms.ValidationError(f"Map {', '.join(bad)} to one of {', '.join(KINDS)}.")
        return {str(k).lower(): str(v) for k, v in value.items()}

    @staticmethod
    def _resolve(rule: Any, where: str) -> dict[str, Any]:
        """{"team": slug, "team_id": pk, ...} from a rule naming a team/product by slug or by name."""
        from django.db.models import Q

        from productops.portfolio.models import Product, Team

        if rule is None or rule == {}:
            return {}  # a scope listed only to be read: its items get the connection's team and product
        if not isinstance(rule, dict):
            raise forms.ValidationError(f"{where}: give an object with a team and/or product slug.")
        out: dict[str, Any] = {}
        for key, model in (("team", Team), ("product", Product)):
            given = str(rule.get(key) or "").strip()
            if not given:
                continue
            found = list(
                model.objects.filter(Q(slug=given) | Q(name__iexact=given))
                .order_by("pk")
                .values_list("pk", "slug")
            )
            # An exact slug wins over a name that happens to match another row.
            match = next((row for row in found if row[1] == given), None) or (found[0] if found else None)
            if match is None:
                known = ", ".join(model.objects.values_list("slug", flat=True)[:20]) or "none yet"
                raise forms.ValidationError(
                    f"{where}: there is no {key} with slug {given!r}, nor one named so (known: {known}). "
                    "Create it first or fix the slug."
                )
            out[key] = match[1]
            out[f"{key}_id"] = match[0]
        return out


def form_config(form_cls: type[forms.Form], config: dict[str, Any]) -> dict[str, Any]:
    """Validate a stored config through the form (slugs resolved again) or raise a permanent error."""
    data = {k: (json.dumps(v) if isinstance(v, dict | list) else v) for k, v in config.items()}
    form = form_cls(data=data)
    if not form.is_valid():
        problems = "; ".join(f"{k}: {' '.join(str(e) for e in v)}" for k, v in form.errors.items())
        raise ConnectorError(f"The connection's settings are incomplete: {problems}", permanent=True)
    return dict(form.cleaned_data)


class Mapper:
    """Scope/labels/type -> team, product, kind and status category, from a cleaned config."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.scopes: dict[str, dict[str, Any]] = {
            str(k).lower(): v for k, v in (config.get("scopes") or {}).items()
        }
        self.overrides: list[dict[str, Any]] = list(config.get("overrides") or [])
        self.kind_map: dict[str, str] = {str(k).lower(): v for k, v in (config.get("kind_map") or {}).items()}
        labels = config.get("in_progress_labels")
        if labels is None or labels == "":
            labels = ",".join(DEFAULT_IN_PROGRESS_LABELS)
        self.in_progress = {x.strip().lower() for x in str(labels).split(",") if x.strip()}

    def placement(
        self, scope: str, labels: Iterable[str] = (), components: Iterable[str] = ()
    ) -> dict[str, Any]:
        """{"team_id": .., "product_id": ..} for what the mapping knows (absent keys: the connection's)."""
        rule = dict(self.scopes.get(scope.lower(), {}))
        lowered_labels = {x.lower() for x in labels}
        lowered_components = {x.lower() for x in components}
        for override in self.overrides:
            if (override.get("label") and override["label"].lower() in lowered_labels) or (
                override.get("component") and override["component"].lower() in lowered_components
            ):
                rule.update({k: v for k, v in override.items() if k in ("team_id", "product_id")})
                break
        return {k: rule[k] for k in ("team_id", "product_id") if rule.get(k)}

    def kind(self, type_name: str = "", labels: Iterable[str] = (), default: str = "story") -> str:
        for label in labels:
            mapped = self.kind_map.get(f"label:{label.lower()}")
            if mapped:
                return mapped
        return self.kind_map.get(type_name.lower(), default)

    def open_closed_status(self, is_open: bool, labels: Iterable[str]) -> str:
        if not is_open:
            return "done"
        return "in_progress" if {x.lower() for x in labels} & self.in_progress else "todo"


def parse_dt(value: Any) -> datetime | None:
    """ISO 8601 from any tracker (Z, +00:00, Jira's +0000) as an aware datetime."""
    if not value:
        return None
    text = str(value).strip().replace("Z", "+00:00")
    if len(text) > 5 and text[-5] in "+-" and text[-4:].isdigit() and text[-3] != ":":
        text = f"{text[:-2]}:{text[-2:]}"  # +0000 -> +00:00
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_date(value: Any) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


SIZE_NAMES = {"XS", "S", "M", "L", "XL", "XXL"}
_SIZE_PREFIXES = ("size", "t-shirt", "tshirt")
_POINT_PREFIXES = ("points", "story points", "sp", "estimate")


def estimate_from_labels(labels: Iterable[str]) -> tuple[float | None, str]:
    """(story points, t-shirt size) from labels such as "size: M", "size/L", "points: 3" or "sp:5".

    GitHub has no estimate field of its own, so teams put it in labels; other trackers fall back to
    this when their own field is empty. The first label of each kind wins."""
    points: float | None = None
    size = ""
    for label in labels:
        for sep in (":", "/", "::", "="):
            prefix, found, value = str(label).partition(sep)
            if not found:
                continue
            key, value = prefix.strip().lower(), value.strip().strip(":").strip()
            if key in _SIZE_PREFIXES and value.upper() in SIZE_NAMES and not size:
                size = value.upper()
            elif key in _POINT_PREFIXES and points is None:
                points = parse_points(value)
            break
    return points, size


def parse_points(value: Any) -> float | None:
    """A tracker's numeric estimate; None when empty, not a number or negative."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number >= 0 and number == number and number < 1e6 else None


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class ItemBuilder:
    """Builds item records and remembers every parent link of the run for the stream's last page."""

    tracker: str

    def __post_init__(self) -> None:
        self.parents: dict[str, Link] = {}

    def item(self, external_id: str, values: dict[str, Any], placement: dict[str, Any]) -> Record:
        row = {
            "kind": "story",
            "description": "",
            "status": "",
            "labels": [],
            "components": [],
            "start_date": None,
            "target_date": None,
            "url": "",
            "assignee": "",
            "updated_at_source": None,
            "done_at": None,
            **values,
            "tracker": self.tracker,
            # Seen again: whatever a full listing once marked gone (moved back, restored) is current.
            "is_gone": False,
            "gone_at": None,
            **placement,
        }
        # Estimates: the tracker's own field where the connector passed one, else labels ("size: M").
        label_points, label_size = estimate_from_labels(row.get("labels") or [])
        if row.get("estimate_points") is None:
            row["estimate_points"] = label_points
        row["estimate_size"] = (row.get("estimate_size") or label_size)[:8]
        row["title"] = (row.get("title") or "(untitled)")[:500]
        row["status"] = (row.get("status") or "")[:100]
        row["assignee"] = (row.get("assignee") or "")[:200]
        row["url"] = (row.get("url") or "")[:1000]
        if row.get("status_category") != "done":
            row["done_at"] = None
        return Record(ITEM, external_id, row)

    def parent(self, child: str, parent: str | None, by: str = "external_id") -> Link:
        link = Link("parent", child, parent, by)
        self.parents[child] = link
        return link

    def all_parents(self) -> list[Link]:
        return list(self.parents.values())


def inventory_due(cursor: Any, hours: int, now: datetime) -> bool:
    listed = parse_dt(cursor.get("listed_at")) if isinstance(cursor, dict) else None
    return listed is None or now - listed >= timedelta(hours=hours)


def inventory_pages(
    cursor: Any, hours: int | None, list_ids: Callable[[], Iterator[list[str]]], now: datetime | None = None
) -> Iterator[Page]:
    """The "inventory" stream: when due, list every id and put them on the last page as present_ids.

    Intermediate pages keep the old cursor, so a sync that stops mid-listing starts the listing over:
    a partial list must never mark the rest gone.
    """
    now = now or datetime.now(UTC)
    if not inventory_due(cursor, 24 if hours is None else hours, now):
        yield Page([], cursor, done=True)
        return
    seen: list[str] = []
    for ids in list_ids():
        seen.extend(ids)
        yield Page([], cursor, done=False)
    yield Page([], {"listed_at": iso(now)}, done=True, present_ids=sorted(set(seen)))
