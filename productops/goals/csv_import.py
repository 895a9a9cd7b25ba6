"""CSV import of objectives and key results, on the signals import machinery: the same reading
(size limit, encodings, delimiters, spreadsheet row numbers), header matching, row errors and the
bad-rows CSV to fix and upload again (`productops.signals.csv_import`).

One row per key result; an objective's columns repeat on each of its key results (a row without a key
result creates the objective alone). Objectives are matched by `objective_id` when given, else by title,
product, team and period; key results by `key_result_id`, else by title within their objective, so
importing the same file twice changes nothing. A row the user may not edit (another product's goals)
is a row error like a bad number, and the other rows still import.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q

from productops.portfolio.models import Product, Team
from productops.signals.csv_import import (
    CsvImportError,
    RowError,
    bad_rows_csv,
    normalise_header,
    parse_dates,
    read_csv,
)
from productops.signals.models import Metric
from productops.ui.filters import EARLIEST, latest_plausible

from .models import KeyResult, KrAggregation, Level, Objective
from .permissions import can_edit_scope

SOURCE_KEY = "csv"

# field -> accepted header spellings (compared without case, spaces or punctuation)
COLUMNS: dict[str, tuple[str, ...]] = {
    "objective": ("objective", "objective title", "goal"),
    "objective_id": ("objective id", "objective key"),
    "description": ("description", "objective description"),
    "level": ("level",),
    "product": ("product", "product slug"),
    "team": ("team", "team slug"),
    "parent": ("parent", "parent objective", "parent id"),
    "owner": ("owner", "owner email", "owner username"),
    "period_start": ("period start", "start date", "from"),
    "period_end": ("period end", "end date", "to"),
    "key_result": ("key result", "kr", "key result title"),
    "key_result_id": ("key result id", "kr id"),
    "start": ("start", "start value", "baseline"),
    "target": ("target", "target value"),
    "unit": ("unit",),
    "metric": ("metric", "metric key"),
    "dimension": ("dimension", "segment"),
    "aggregation": ("aggregation", "aggregate"),
}
REQUIRED = ("objective", "period_start", "period_end")
TEMPLATE_HEADER = [
    "objective_id",
    "objective",
    "level",
    "product",
    "team",
    "parent",
    "owner",
    "period_start",
    "period_end",
    "key_result_id",
    "key_result",
    "start",
    "target",
    "unit",
    "metric",
    "dimension",
    "aggregation",
]


@dataclass
class GoalsImportReport:
    rows: int = 0
    objectives_created: int = 0
    objectives_updated: int = 0
    key_results_created: int = 0
    key_results_updated: int = 0
    errors: list[RowError] = field(default_factory=list)
    bad_rows_csv: bytes = b""
    touched_key_results: list[int] = field(default_factory=list)

    @property
    def bad_rows(self) -> int:
        return len({e.row for e in self.errors})


class RowProblem(Exception):
    def __init__(self, column: str, message: str) -> None:
        super().__init__(message)
        self.column = column
        self.message = message


def _map(headers: list[str]) -> dict[str, str]:
    by_norm = {normalise_header(h): h for h in headers}
    out = {}
    for name, synonyms in COLUMNS.items():
        for s in (name, *synonyms):
            if normalise_header(s) in by_norm:
                out[name] = by_norm[normalise_header(s)]
                break
    return out


def _number(raw: str, column: str, required: bool) -> float | None:
    text = raw.strip().replace(",", "").replace("%", "")
    if not text:
        if required:
            raise RowProblem(column, "is empty; give a number")
        return None
    try:
        value = float(text)
    except ValueError:
        raise RowProblem(column, f"“{raw[:40]}” is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise RowProblem(column, "is not a finite number")
    return value


def import_goals(data: bytes, user: Any) -> GoalsImportReport:
    """Import a goals CSV as `user` (whose product rights each row is checked against)."""
    csv_file = read_csv(data)
    mapping = _map(csv_file.headers)
    missing = [name for name in REQUIRED if name not in mapping]
    if missing:
        raise CsvImportError(
            "The file has no column for "
            + ", ".join(missing)
            + ". The first line must name the columns: "
            + ", ".join(TEMPLATE_HEADER)
            + "."
        )
    frame = csv_file.frame
    report = GoalsImportReport(rows=len(frame))
    dates = {name: parse_dates(frame[mapping[name]].str.strip()) for name in ("period_start", "period_end")}
    products = {p.slug: p for p in Product.objects.all()} | {p.name.lower(): p for p in Product.objects.all()}
    teams = {t.slug: t for t in Team.objects.all()} | {t.name.lower(): t for t in Team.objects.all()}
    messages: dict[int, str] = {}
    for row_number, row in frame.iterrows():

        def cell(name: str, row: pd.Series = row) -> str:
            return str(row[mapping[name]]).strip() if name in mapping else ""

        counts = (
            report.objectives_created,
            report.objectives_updated,
            report.key_results_created,
            report.key_results_updated,
        )
        try:
            with transaction.atomic():
                kr = _import_row(row_number, cell, dates, products, teams, mapping, user, report)
            if kr is not None:
                report.touched_key_results.append(kr)
        except RowProblem as problem:
            # The row's writes were rolled back: so are its counts.
            (
                report.objectives_created,
                report.objectives_updated,
                report.key_results_created,
                report.key_results_updated,
            ) = counts
            column = mapping.get(problem.column, problem.column)
            report.errors.append(RowError(int(row_number), column, problem.message))
            messages[int(row_number)] = f"{column}: {problem.message}"
    if messages:
        bad = frame.loc[list(messages)]
        report.bad_rows_csv = bad_rows_csv(bad, [pd.Series(messages)])
    return report


def _import_row(
    row_number: Any,
    cell: Any,
    dates: dict[str, pd.Series],
    products: dict[str, Product],
    teams: dict[str, Team],
    mapping: dict[str, str],
    user: Any,
    report: GoalsImportReport,
) -> int | None:
    title = cell("objective")
    if not title:
        raise RowProblem("objective", "is empty; every row names its objective")
    if len(title) > 300:
        raise RowProblem("objective", "is longer than 300 characters")
    start, end = dates["period_start"].get(row_number), dates["period_end"].get(row_number)
    if start is None or pd.isna(start):
        raise RowProblem("period_start", "is not a date (use YYYY-MM-DD)")
    if end is None or pd.isna(end):
        raise RowProblem("period_end", "is not a date (use YYYY-MM-DD)")
    start_day, end_day = pd.Timestamp(start).date(), pd.Timestamp(end).date()
    for name, day in (("period_start", start_day), ("period_end", end_day)):
        if not EARLIEST <= day <= latest_plausible():
            raise RowProblem(name, f"{day.isoformat()} is outside {EARLIEST.year}–{latest_plausible().year}")
    if end_day < start_day:
        raise RowProblem("period_end", "is before the period's start")
    product = team = None
    if slug := cell("product"):
        product = products.get(slug) or products.get(slug.lower())
        if product is None:
            raise RowProblem("product", f"no product “{slug[:60]}”")
    if slug := cell("team"):
        team = teams.get(slug) or teams.get(slug.lower())
        if team is None:
            raise RowProblem("team", f"no team “{slug[:60]}”")
    level = (cell("level") or (Level.TEAM if team else Level.PRODUCT if product else Level.COMPANY)).lower()
    if level not in Level.values:
        raise RowProblem("level", f"is not one of {', '.join(Level.values)}")
    if level != Level.COMPANY and product is None:
        raise RowProblem("product", f"is empty; a {level} objective belongs to a product")
    if not can_edit_scope(user, product.pk if product else None, team.pk if team else None):
        where = f"product {product.name}" if product else "the company"
        raise RowProblem("product", f"you may not edit the goals of {where}")
    parent = None
    if ref := cell("parent"):
        parent = (
            Objective.objects.filter(Q(source_key=SOURCE_KEY, external_id=ref) | Q(title=ref))
            .order_by("-pk")
            .first()
        )
        if parent is None:
            raise RowProblem("parent", f"no objective “{ref[:60]}” (give its objective_id or title)")
    owner = None
    if who := cell("owner"):
        owner = get_user_model().objects.filter(Q(username=who) | Q(email__iexact=who)).first()
        if owner is None:
            raise RowProblem("owner", f"no user “{who[:60]}”")
    values = {
        "title": title,
        "description": cell("description"),
        "level": level,
        "product": product,
        "team": team,
        "parent": parent,
        "owner": owner,
        "period_start": start_day,
        "period_end": end_day,
    }
    if ext := cell("objective_id"):
        objective = Objective.objects.filter(source_key=SOURCE_KEY, external_id=ext).first()
    else:
        objective = Objective.objects.filter(
            title=title, product=product, team=team, period_start=start_day, period_end=end_day
        ).first()
    if objective is None:
        objective = Objective.objects.create(source_key=SOURCE_KEY, external_id=ext, **values)
        report.objectives_created += 1
    else:
        if not can_edit_scope(user, objective.product_id, objective.team_id):
            raise RowProblem("objective_id", "names an objective you may not edit")
        if any(getattr(objective, k) != v for k, v in values.items() if k != "description" or v):
            for k, v in values.items():
                if k != "description" or v:
                    setattr(objective, k, v)
            objective.save()
            report.objectives_updated += 1
    return _import_kr(cell, objective, product, report)


def _import_kr(
    cell: Any, objective: Objective, product: Product | None, report: GoalsImportReport
) -> int | None:
    kr_title = cell("key_result")
    if not kr_title:
        return None
    if len(kr_title) > 300:
        raise RowProblem("key_result", "is longer than 300 characters")
    target = _number(cell("target"), "target", True)
    start = _number(cell("start"), "start", False) or 0.0
    aggregation = (cell("aggregation") or KrAggregation.LAST).lower()
    if aggregation not in KrAggregation.values:
        raise RowProblem("aggregation", f"is not one of {', '.join(KrAggregation.values)}")
    metric = None
    if key := cell("metric"):
        metrics = Metric.objects.filter(Q(key=key) | Q(name__iexact=key))
        if product is not None:
            metrics = metrics.filter(product=product)
        found = list(metrics[:2])
        if not found:
            raise RowProblem("metric", f"no metric “{key[:60]}”" + (f" in {product.name}" if product else ""))
        if len(found) > 1:
            raise RowProblem("metric", f"“{key[:60]}” names several metrics; give the product")
        metric = found[0]
    dim_key = dim_value = ""
    if dim := cell("dimension"):
        dim_key, sep, dim_value = dim.partition(":")
        if not sep or not dim_key.strip() or not dim_value.strip():
            raise RowProblem("dimension", "is not like platform:ios")
        dim_key, dim_value = dim_key.strip(), dim_value.strip()
        if metric is None:
            raise RowProblem("dimension", "needs a metric")
    values: dict[str, Any] = {
        "title": kr_title,
        "start_value": start,
        "target_value": target,
        "unit": cell("unit")[:32],
        "metric": metric,
        "dimension_key": dim_key,
        "dimension_value": dim_value,
        "aggregation": aggregation,
    }
    if ext := cell("key_result_id"):
        kr = KeyResult.objects.filter(source_key=SOURCE_KEY, external_id=ext).first()
    else:
        kr = KeyResult.objects.filter(objective=objective, title=kr_title).first()
    if kr is None:
        kr = KeyResult.objects.create(objective=objective, source_key=SOURCE_KEY, external_id=ext, **values)
        report.key_results_created += 1
    else:
        if kr.objective_id != objective.pk:
            raise RowProblem("key_result_id", "belongs to another objective")
        changed = [k for k, v in values.items() if getattr(kr, k) != v]
        if changed:
            for k in changed:
                setattr(kr, k, values[k])
            kr.save()
            report.key_results_updated += 1
    return kr.pk


def template_csv() -> bytes:
    example = [
        "okr-2026q4-ledger",
        "Make billing effortless",
        "product",
        "ledger",
        "",
        "",
        "",
        "2026-10-01",
        "2026-12-31",
        "okr-2026q4-ledger-revenue",
        "Revenue in Q4",
        "3500000",
        "4000000",
        "EUR",
        "revenue",
        "",
        "sum",
    ]
    return (",".join(TEMPLATE_HEADER) + "\n" + ",".join(example) + "\n").encode("utf-8")


__all__ = ["CsvImportError", "GoalsImportReport", "import_goals", "template_csv"]
