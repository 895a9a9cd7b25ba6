"""The connection form: common fields (name, mapping, schedule) + the connector's own config_form.

Secret fields are write-only. They render empty (PasswordInput never echoes a value), their help text
says whether a value is stored ("set, ends in …abcd"), and leaving one blank keeps the stored value,
unless the edit changes where requests go (a URL, host, subdomain, region or header name): then every
stored outbound secret must be typed again, for Save and for Test alike, so a token is only ever sent
to the address it was entered for.

A secret typed into a form that then fails validation (or only ran "Test connection") is not lost:
the page carries it back encrypted (Fernet, FERNET_KEYS) in a hidden `<name>__kept` field, bound to this
connector, connection and the form's URLs, and valid for an hour. The lead needn't type it again
unless they change an address (then the token must be re-entered for the new host).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from datetime import date
from typing import Any

from django import forms
from django.core.exceptions import ImproperlyConfigured
from django.core.serializers.json import DjangoJSONEncoder

from productops.portfolio.models import Product, Team

from .base import Connector
from .models import Connection, ScheduleKind
from .schedule import parse_crontab
from .secrets import decrypt, encrypt, hint

KEPT_SUFFIX = "__kept"
KEPT_MAX_AGE = 3600  # seconds a typed secret rides along in the page

# Config field names that say where requests go (matched at the end of the name: api_url, site_url,
# api_host, subdomain, auth_header_name, region, ...). URLFields count whatever their name.
DESTINATION_NAME = re.compile(
    r"(?:^|_)(?:url|uri|host|hostname|domain|subdomain|site|endpoint|server|region|header_name)$"
)


def destination_fields(connector: type[Connector]) -> list[str]:
    """The connector's config fields that decide which host its secrets are sent to."""
    if connector.destination_fields is not None:
        return list(connector.destination_fields)
    return [
        name
        for name, field in connector.config_form.base_fields.items()
        if name not in connector.secret_fields
        and (isinstance(field, forms.URLField) or DESTINATION_NAME.search(name))
    ]


def _comparable(value: Any) -> Any:
    value = json.loads(json.dumps(value, cls=DjangoJSONEncoder))
    return value.strip() if isinstance(value, str) else value


class CommonFields(forms.Form):
    name = forms.CharField(max_length=200, help_text="How this connection appears in lists and e-mails.")
    product = forms.ModelChoiceField(
        queryset=Product.objects.all(),
        required=False,
        help_text="Rows without a product of their own get this one.",
    )
    team = forms.ModelChoiceField(queryset=Team.objects.all(), required=False)
    schedule_kind = forms.ChoiceField(
        choices=ScheduleKind.choices,
        initial=ScheduleKind.INTERVAL,
        label="Schedule",
        help_text="How often productops pulls new data.",
    )
    interval_minutes = forms.IntegerField(min_value=1, initial=60, required=False, label="Every N minutes")
    crontab = forms.CharField(
        max_length=100,
        required=False,
        label="Crontab (UTC)",
        help_text="Five fields: minute hour day-of-month month day-of-week, e.g. '0 */6 * * *'.",
    )


def connection_form_class(connector: type[Connector]) -> type[ConnectionFormMixin]:
    """A form class with the common fields first, then the connector's config and secret fields."""
    return type(
        f"{connector.__name__}ConnectionForm", (ConnectionFormMixin, CommonFields, connector.config_form), {}
    )


class ConnectionFormMixin(forms.Form):
    connector: type[Connector]

    def __init__(
        self, *args: Any, connector: type[Connector], instance: Connection | None = None, **kwargs: Any
    ) -> None:
        self.connector = connector
        self.instance = instance
        stored_secrets = instance.get_secrets() if instance is not None else {}
        if instance is not None:
            initial = {
                "name": instance.name,
                "product": instance.product_id,
                "team": instance.team_id,
                "schedule_kind": instance.schedule_kind,
                "interval_minutes": instance.interval_minutes,
                "crontab": instance.crontab,
                **{k: v for k, v in instance.config.items() if k not in connector.secret_fields},
            }
            kwargs["initial"] = {**initial, **kwargs.get("initial", {})}
        super().__init__(*args, **kwargs)
        self.stored_secrets = stored_secrets
        kept = self._restore_kept_secrets()
        for name in connector.secret_fields:
            field = self.fields.get(name)
            if field is None:
                continue
            field.widget = forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"})
            field.initial = None
            self.fields[name + KEPT_SUFFIX] = forms.CharField(required=False, widget=forms.HiddenInput)
            stored = stored_secrets.get(name, "")
            if name in kept:
                field.help_text = (
                    f"Kept from what you typed ({hint(kept[name])}); leave blank to use it, or type a new one. "
                    f"{field.help_text}"
                ).strip()
            elif stored:
                field.required = False
                field.help_text = f"{hint(stored)}. Leave blank to keep it. {field.help_text}".strip()
            else:
                field.help_text = f"Not set. {field.help_text} (Never shown again once saved.)".strip()

    # -- typed secrets survive a re-rendered form

    def _kept_context(self) -> str:
        """What a kept secret is bound to: this connector, this connection, and every destination field
        typed (URLs, hosts, subdomain, region, auth header name: `destination_fields`)."""
        urls = sorted(
            f"{name}={str(self.data.get(name) or '').strip().rstrip('/').lower()}"
            for name in destination_fields(self.connector)
        )
        raw = "|".join([self.connector.kind, str(self.instance.pk if self.instance else "new"), *urls])
        return hashlib.sha256(raw.encode()).hexdigest()

    def _restore_kept_secrets(self) -> dict[str, str]:
        """A blank secret field takes the value kept from the last submission; every typed secret is kept
        (encrypted) in the data the page renders back."""
        if not self.is_bound:
            return {}
        data: Any = self.data.copy() if hasattr(self.data, "copy") else dict(self.data)
        context = self._kept_context()
        kept: dict[str, str] = {}
        for name in self.connector.secret_fields:
            typed = str(data.get(name) or "").strip()
            if not typed:
                typed = _unkeep(str(data.get(name + KEPT_SUFFIX) or ""), context)
                if typed:
                    data[name] = typed
            if typed:
                kept[name] = typed
            data[name + KEPT_SUFFIX] = _keep(typed, context) if typed else ""
        self.data = data
        return kept

    def clean_name(self) -> str:
        name: str = self.cleaned_data["name"].strip()
        clash = Connection.objects.filter(name=name)
        if self.instance is not None:
            clash = clash.exclude(pk=self.instance.pk)
        if clash.exists():
            raise forms.ValidationError("Another connection has this name; pick a different one.")
        return name

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        kind = data.get("schedule_kind")
        if kind == ScheduleKind.CRONTAB:
            try:
                parse_crontab(data.get("crontab") or "")
            except ValueError as exc:
                self.add_error("crontab", str(exc))
        elif kind == ScheduleKind.INTERVAL and not data.get("interval_minutes"):
            self.add_error("interval_minutes", "Enter how many minutes between syncs (1 or more).")
        self._require_secrets_for_a_new_destination(data)
        return data

    def _require_secrets_for_a_new_destination(self, data: dict[str, Any]) -> None:
        if self.instance is None:
            return
        stored_config = self.instance.config
        changed = [
            name
            for name in destination_fields(self.connector)
            if name in self.fields
            and name not in self.errors
            and _comparable(data.get(name)) != _comparable(stored_config.get(name))
        ]
        if not changed:
            return
        what = " and ".join(str(self[name].label) for name in changed)
        for name in self.connector.secret_fields:
            if name in self.connector.inbound_secret_fields or name not in self.fields:
                continue
            if self.stored_secrets.get(name) and not (data.get(name) or "").strip():
                label = str(self[name].label)
                self.add_error(
                    name,
                    f"You changed {what}, so enter the {label} again: a stored secret is only sent to "
                    "the address it was entered for.",
                )

    def config_values(self) -> dict[str, Any]:
        """The non-secret connector fields, as JSON-safe values."""
        names = [n for n in self.connector.config_form.base_fields if n not in self.connector.secret_fields]
        raw = {n: self.cleaned_data.get(n) for n in names}
        return json.loads(json.dumps(raw, cls=DjangoJSONEncoder))

    def secret_values(self) -> dict[str, str]:
        """Typed secrets replace stored ones; blank fields keep what is stored."""
        merged = dict(self.stored_secrets)
        for name in self.connector.secret_fields:
            typed = (self.cleaned_data.get(name) or "").strip()
            if typed:
                merged[name] = typed
        return merged

    def apply(self, connection: Connection) -> Connection:
        data = self.cleaned_data
        connection.name = data["name"]
        connection.kind = self.connector.kind
        connection.product = data.get("product")
        connection.team = data.get("team")
        connection.schedule_kind = data["schedule_kind"]
        connection.interval_minutes = data.get("interval_minutes") or connection.interval_minutes or 60
        connection.crontab = data.get("crontab") or ""
        # Keys the form doesn't own (a webhook's URL token, say) survive an edit.
        connection.config = {**connection.config, **self.config_values()}
        connection.set_secrets(self.secret_values())
        return connection


def _keep(value: str, context: str) -> str:
    return encrypt({"value": value, "context": context, "at": str(int(time.time()))})


def _unkeep(token: str, context: str) -> str:
    """The kept value, or "" when absent, tampered with, stale or bound to another form."""
    if not token:
        return ""
    try:
        kept = decrypt(token)
    except (ImproperlyConfigured, ValueError):
        return ""
    fresh = time.time() - int(kept.get("at") or 0) <= KEPT_MAX_AGE
    return kept.get("value", "") if fresh and kept.get("context") == context else ""


class BackfillForm(forms.Form):
    since = forms.DateField(
        label="Backfill from",
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=(
            "The next sync re-reads everything from this date on; rows already synced are updated, "
            "not duplicated."
        ),
    )

    def clean_since(self) -> date:
        since: date = self.cleaned_data["since"]
        if since > date.today():
            raise forms.ValidationError("Pick a date in the past.")
        return since


class DeleteForm(forms.Form):
    keep_or_purge = forms.ChoiceField(
        choices=[("keep", "Keep the data it synced"), ("purge", "Delete the data it synced too")],
        widget=forms.RadioSelect,
        initial="keep",
        label="Its data",
    )
    confirm = forms.CharField(help_text="Type the connection's name to confirm.")

    def __init__(self, *args: Any, connection: Connection, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.connection = connection

    def clean_confirm(self) -> str:
        typed: str = self.cleaned_data["confirm"].strip()
        if typed != self.connection.name:
            raise forms.ValidationError(f"Type “{self.connection.name}” exactly to delete it.")
        return typed


class UploadForm(forms.Form):
    file = forms.FileField(help_text="A .csv file with a header row; UTF-8, UTF-16 or Windows-1252.")

    def clean_file(self) -> Any:
        from productops.signals.csv_import import max_bytes

        upload = self.cleaned_data["file"]
        limit = max_bytes()
        if upload.size > limit:
            raise forms.ValidationError(
                f"{upload.name} is {upload.size / 1e6:.1f} MB; the limit is {limit / 1e6:.0f} MB. "
                "Split the file."
            )
        return upload
