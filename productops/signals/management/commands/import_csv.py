"""manage.py import_csv PATH --kind nps|tickets|metric_points|portfolio_items [--product] [--mapping JSON].

The same import as the lead's upload page (productops.signals.csv_import), for scripts and big backfills.
A --mapping overrides the automatic mapping field by field; fields it leaves out are still auto-mapped.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from productops.portfolio.models import Product
from productops.signals.csv_import import (
    KINDS,
    CsvImportError,
    import_csv,
    max_bytes,
    read_csv,
    save_mapping,
    suggest_mapping,
)
from productops.signals.services import record_write


class Command(BaseCommand):
    help = (
        "Import a CSV file of NPS responses, tickets, metric points or portfolio items. Columns are mapped "
        "automatically (or by --mapping); bad rows are listed and, with --bad-rows, written to a CSV to fix."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", help="The CSV file.")
        parser.add_argument("--kind", required=True, choices=list(KINDS))
        parser.add_argument("--product", help="Slug (or name) of the product every row belongs to.")
        parser.add_argument(
            "--mapping",
            help='Field-to-column mapping as JSON, e.g. \'{"score": "How likely", "submitted_at": "Date"}\', '
            "or the path of a JSON file. Without it: the saved mapping, then column-name synonyms.",
        )
        parser.add_argument(
            "--save-mapping", action="store_true", help="Remember --mapping for the next import."
        )
        parser.add_argument("--bad-rows", help="Write the rows that failed validation to this CSV file.")

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["path"])
        if not path.is_file():
            raise CommandError(f"{path}: no such file.")
        size = path.stat().st_size
        if size > max_bytes():
            raise CommandError(
                f"{path} is {size / 1048576:.1f} MB; the limit is {max_bytes() / 1048576:.1f} MB "
                "(CSV_IMPORT_MAX_BYTES). Split the file."
            )
        product_id = None
        if options["product"]:
            product = (
                Product.objects.filter(slug=options["product"]).first()
                or Product.objects.filter(name=options["product"]).first()
            )
            if product is None:
                raise CommandError(f"No product with slug or name {options['product']!r}.")
            product_id = product.pk
        mapping = self._mapping(options["mapping"])
        data = path.read_bytes()
        try:
            if mapping is not None:
                mapping = suggest_mapping(read_csv(data).headers, options["kind"]) | mapping
            with transaction.atomic():
                report = import_csv(data, options["kind"], mapping=mapping, product_id=product_id)
                if report.inserted or report.updated:
                    record_write(
                        "manual",
                        report.scope.families,
                        report.scope.product_ids,
                        report.scope.since,
                        metric_ids=report.scope.metric_ids,
                    )
        except CsvImportError as exc:
            raise CommandError(f"{path}: {exc.message}") from None
        if mapping is not None and options["save_mapping"]:
            save_mapping(options["kind"], report.mapping)
        self.stdout.write(
            f"{path.name} ({report.encoding}): {report.rows} rows; inserted {report.inserted}, "
            f"updated {report.updated}, unchanged {report.unchanged}, with errors {report.bad_rows}."
        )
        self.stdout.write("mapping: " + ", ".join(f"{k} <- {v!r}" for k, v in report.mapping.items()))
        for error in report.errors:
            self.stderr.write(str(error))
        if report.bad_rows and options["bad_rows"]:
            Path(options["bad_rows"]).write_bytes(report.bad_rows_csv)
            self.stdout.write(f"bad rows written to {options['bad_rows']}")

    def _mapping(self, value: str | None) -> dict[str, str] | None:
        if not value:
            return None
        text = (
            Path(value).read_text() if not value.lstrip().startswith("{") and Path(value).is_file() else value
        )
        try:
            mapping = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CommandError(f"--mapping is not valid JSON: {exc}") from None
        if not isinstance(mapping, dict) or not all(isinstance(v, str) for v in mapping.values()):
            raise CommandError(
                '--mapping must be a JSON object of field -> column name, e.g. {"score": "NPS"}.'
            )
        return mapping
