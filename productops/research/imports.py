"""Importing studies from CSV (one row per highlight) and from Markdown (one file per study).

CSV: the study's columns repeat on each of its highlights; a row without a quote adds the study alone.
Markdown: front matter between `---` lines holds the study's fields; `## Highlights` lists quotes as
bullets, each with optional `{segment: ...; tags: a, b}`; every other `## Heading` section (and any
text before the first) becomes a note.

Both are idempotent: a study is keyed by its `id` (or its title and product), a note by its title, a
highlight by its `id` (or its quote), so importing the same file twice changes nothing. A study the user
may not edit (another product's) is a row error; the other rows still import.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils.text import slugify

from productops.portfolio.models import Product, Team
from productops.signals.csv_import import CsvImportError, normalise_header, read_csv
from productops.signals.services import record_write

from .models import Highlight, Method, Study, StudyNote
from .permissions import can_edit_product

SOURCE_KEY = "import"
MAX_MARKDOWN_BYTES = 2_000_000

COLUMNS: dict[str, tuple[str, ...]] = {
    "study": ("study", "title", "study title"),
    "study_id": ("study id", "id"),
    "question": ("question", "research question"),
    "method": ("method",),
    "start": ("start", "start date", "started on", "from"),
    "end": ("end", "end date", "ended on", "to"),
    "participants": ("participants", "participant count"),
    "owner": ("owner", "owner email"),
    "product": ("product", "product slug"),
    "team": ("team", "team slug"),
    "study_tags": ("study tags",),
    "quote": ("quote", "highlight"),
    "highlight_id": ("highlight id",),
    "segment": ("segment", "participant segment"),
    "tags": ("tags", "highlight tags"),
    "date": ("date", "highlight date", "created at"),
}


@dataclass
class ImportResult:
    studies: int = 0
    notes: int = 0
    highlights: int = 0
    errors: list[str] = field(default_factory=list)
    product_ids: set[int | None] = field(default_factory=set)

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass
class StudyData:
    """One study as a file describes it, before it is written."""

    title: str
    fields: dict[str, str] = field(default_factory=dict)
    notes: list[tuple[str, str]] = field(default_factory=list)  # (title, text)
    highlights: list[dict[str, Any]] = field(default_factory=list)  # quote, segment, tags, id, date
    where: str = ""  # "row 4", "research.md"


def _key(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:20]


def _list(text: str) -> list[str]:
    text = text.strip().strip("[]")
    return [t.strip().strip("'\"") for t in re.split(r"[,;|]", text) if t.strip().strip("'\"")]


def _day(text: str, what: str) -> date | None:
    text = text.strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        raise ValueError(f"{what} {text!r} is not a date; write it as YYYY-MM-DD.") from None


def _method(text: str) -> str:
    clean = text.strip().lower().replace(" ", "_").replace("-", "_")
    for value, label in Method.choices:
        if clean in (value, label.lower().replace(" ", "_")) or clean.rstrip("s") == value.rstrip("s"):
            return value
    return Method.OTHER


def _write_study(data: StudyData, user: Any, result: ImportResult) -> None:
    f = data.fields
    product = None
    if slug := f.get("product", "").strip():
        product = (
            Product.objects.filter(slug=slug).first() or Product.objects.filter(name__iexact=slug).first()
        )
        if product is None:
            raise ValueError(f"no product {slug!r}; use a product's slug as on the Products page.")
    team = None
    if slug := f.get("team", "").strip():
        team = Team.objects.filter(slug=slug).first() or Team.objects.filter(name__iexact=slug).first()
        if team is None:
            raise ValueError(f"no team {slug!r}.")
    if not can_edit_product(user, product.pk if product else None):
        raise ValueError(
            "you may not edit research for "
            + (f"the product {product.name!r}" if product else "studies without a product (the lead's)")
            + "; ask its PM or the product-ops lead."
        )
    start, end = _day(f.get("start", ""), "start"), _day(f.get("end", ""), "end")
    if start and end and end < start:
        raise ValueError(f"the study ends ({end}) before it starts ({start}).")
    participants = None
    if (raw := f.get("participants", "").strip()) != "":
        if not raw.isdigit():
            raise ValueError(f"participants {raw!r} is not a whole number.")
        participants = int(raw)
    owner = None
    owner_text = f.get("owner", "").strip()
    if owner_text:
        users = get_user_model().objects
        owner = users.filter(email__iexact=owner_text).first() or users.filter(username=owner_text).first()
    external_id = f.get("study_id", "").strip() or _key(data.title.lower(), product.slug if product else "")
    values = {
        "title": data.title[:300],
        "question": f.get("question", "").strip() or data.title,
        "method": _method(f.get("method", "")),
        "started_on": start,
        "ended_on": end,
        "participants": participants,
        "owner": owner,
        "owner_name": "" if owner else owner_text[:200],
        "product": product,
        "team": team,
        "tags": _list(f.get("study_tags", "") or f.get("tags", "")),
    }
    study, created = Study.objects.get_or_create(
        source_key=SOURCE_KEY, external_id=external_id, defaults=values
    )
    if not created:
        changed = [k for k, v in values.items() if getattr(study, k) != v]
        for k in changed:
            setattr(study, k, values[k])
        if changed:
            study.save()
    result.studies += 1
    result.product_ids.add(study.product_id)
    for title, text in data.notes:
        if not text.strip():
            continue
        StudyNote.objects.update_or_create(
            study=study,
            external_id=_key(title.lower()),
            defaults={"title": title[:300], "text": text.strip()},
        )
        result.notes += 1
    default_at = datetime.combine(start or date.today(), datetime.min.time(), tzinfo=UTC)
    for h in data.highlights:
        at = h.get("date")
        when = datetime.combine(at, datetime.min.time(), tzinfo=UTC) if isinstance(at, date) else default_at
        hl, hl_created = Highlight.objects.get_or_create(
            study=study,
            external_id=h.get("id") or _key(" ".join(h["quote"].lower().split())),
            defaults={
                "quote": h["quote"],
                "segment": h.get("segment", ""),
                "tags": h.get("tags", []),
                "created_at": when,
            },
        )
        if not hl_created:
            new = {
                "quote": h["quote"],
                "segment": h.get("segment", ""),
                "tags": h.get("tags", []),
                "created_at": when,
            }
            if any(getattr(hl, k) != v for k, v in new.items()):
                for k, v in new.items():
                    setattr(hl, k, v)
                hl.sentiment = None  # re-scored by the next feedback recompute
                hl.save()
        result.highlights += 1


def _finish(result: ImportResult) -> None:
    if result.studies:
        record_write(SOURCE_KEY, {"research"}, result.product_ids)


def import_csv(data: bytes, user: Any) -> ImportResult:
    """Import studies and highlights from a CSV file (see the module docstring)."""
    frame = read_csv(data).frame
    mapping: dict[str, str] = {}
    for header in frame.columns:
        norm = normalise_header(str(header))
        for name, spellings in COLUMNS.items():
            if name not in mapping and norm in {normalise_header(s) for s in spellings}:
                mapping[name] = str(header)
    if "study" not in mapping:
        raise CsvImportError(
            "The file has no 'study' column (the study's title). Download the template to see the columns."
        )
    studies: dict[tuple[str, ...], StudyData] = {}
    result = ImportResult()
    for pos, row in frame.iterrows():  # the index is the spreadsheet row number
        get = {name: str(row[header]).strip() for name, header in mapping.items()}
        title = get.get("study", "")
        if not title:
            if any(get.values()):
                result.errors.append(f"Row {pos}: the study title is empty.")
            continue
        # A study is its id when the file gives one, else its title and product; a continuation row may
        # leave the product blank (it repeats only the title or the id).
        if get.get("study_id"):
            key: tuple[str, ...] = ("id", get["study_id"])
        else:
            key = ("title", title.lower(), get.get("product", "").lower())
            if not get.get("product"):
                key = next((k for k in studies if k[0] == "title" and k[1] == title.lower()), key)
        study = studies.setdefault(key, StudyData(title=title, where=f"row {pos}"))
        for name in COLUMNS:
            if name not in ("quote", "segment", "tags", "highlight_id", "date") and get.get(name):
                study.fields.setdefault(name, get[name])
        if quote := get.get("quote", ""):
            try:
                day = _day(get.get("date", ""), "date")
            except ValueError as exc:
                result.errors.append(f"Row {pos}: {exc}")
                continue
            study.highlights.append(
                {
                    "quote": quote,
                    "segment": get.get("segment", "")[:200],
                    "tags": _list(get.get("tags", "")),
                    "id": get.get("highlight_id", ""),
                    "date": day,
                }
            )
    for study in studies.values():
        try:
            with transaction.atomic():
                _write_study(study, user, result)
        except ValueError as exc:
            result.errors.append(f"Study {study.title!r} ({study.where}): {exc}")
    _finish(result)
    return result


FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*(?:\n|\Z)", re.DOTALL)
BULLET = re.compile(r"^\s*[-*]\s+(.+?)\s*(?:\{([^{}]*)\})?\s*$")


def parse_markdown(text: str, name: str = "file") -> StudyData:
    """One study from a Markdown file with front matter. Raises ValueError naming what is wrong."""
    text = text.replace("\r\n", "\n").lstrip("\ufeff")
    m = FRONT_MATTER.match(text)
    if not m:
        raise ValueError(
            f"{name}: no front matter. Start the file with a line '---', then 'title: ...', 'question: ...' "
            "and the other fields one per line, then '---'."
        )
    fields: dict[str, str] = {}
    last = ""
    for line in m.group(1).split("\n"):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line.lstrip().startswith("- ") and last:  # a YAML-style list item under the previous key
            fields[last] = (fields[last] + ", " if fields[last] else "") + line.strip()[2:].strip()
            continue
        if ":" not in line:
            raise ValueError(f"{name}: the front matter line {line.strip()!r} is not 'key: value'.")
        key, value = line.split(":", 1)
        last = normalise_header(key).replace(" ", "_")
        last = {"title": "study", "started_on": "start", "ended_on": "end", "id": "study_id"}.get(last, last)
        fields[last] = value.strip().strip("'\"")
    title = fields.pop("study", "").strip()
    if not title:
        raise ValueError(f"{name}: the front matter has no 'title'.")
    data = StudyData(title=title, fields=fields, where=name)
    body = text[m.end() :]
    section, lines = "Summary", list[str]()
    sections: list[tuple[str, list[str]]] = []
    for line in body.split("\n"):
        if line.startswith("## "):
            sections.append((section, lines))
            section, lines = line[3:].strip(), []
        else:
            lines.append(line)
    sections.append((section, lines))
    for title_, content in sections:
        if title_.lower() in ("highlights", "quotes"):
            for line in content:
                b = BULLET.match(line)
                if not b:
                    continue
                quote = b.group(1).strip().strip('"“”')
                meta: dict[str, str] = {}
                for part in (b.group(2) or "").split(";"):
                    if ":" in part:
                        k, v = part.split(":", 1)
                        meta[k.strip().lower()] = v.strip()
                if quote:
                    data.highlights.append(
                        {
                            "quote": quote,
                            "segment": meta.get("segment", "")[:200],
                            "tags": _list(meta.get("tags", "")),
                        }
                    )
        else:
            data.notes.append((title_, "\n".join(content).strip()))
    return data


def import_markdown(files: list[tuple[str, bytes]], user: Any) -> ImportResult:
    """Import one study per Markdown file."""
    result = ImportResult()
    for name, raw in files:
        if len(raw) > MAX_MARKDOWN_BYTES:
            result.errors.append(f"{name}: larger than {MAX_MARKDOWN_BYTES // 1_000_000} MB; split it.")
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            result.errors.append(f"{name}: not UTF-8 text. Save it as UTF-8 and upload it again.")
            continue
        try:
            data = parse_markdown(text, name)
            with transaction.atomic():
                _write_study(data, user, result)
        except ValueError as exc:
            msg = str(exc)
            result.errors.append(msg if msg.startswith(name) else f"{name}: {msg}")
    _finish(result)
    return result


def template_csv() -> str:
    return (
        "study,study id,question,method,start,end,participants,owner,product,team,study tags,quote,segment,"
        "tags,date\n"
        "Onboarding interviews,onb-q3,Why do new admins stall before inviting their team?,interviews,"
        '2026-07-01,2026-07-20,8,pm@example.com,billing,growth,"onboarding, invites",'
        '"I could not find where to invite people",SMB admin,"invites, navigation",2026-07-03\n'
    )


def slug_for(title: str) -> str:
    return slugify(title)[:50]
