"""The "CSV file" connection kinds: an upload becomes a sync run, so it shows in the run history.

Nothing is pulled: the lead uploads a file on the connection's page, and `connectors.uploads` runs
`productops.signals.csv_import.import_csv` under the connection's lock, keyed by the connection's
source_key, recording the counts and any bad rows on a SyncRun. Re-uploading the same file writes
nothing new. One kind per family, so each appears under its family in the gallery.

There is no vendor: the files follow CSV as in https://www.rfc-editor.org/rfc/rfc4180 (a header row;
UTF-8, UTF-16 or Windows-1252), with the columns docs/ingest.md lists per family.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

from django import forms

from connectors.base import CheckResult, Connector, Page, register


class CsvFileForm(forms.Form):
    """No settings: columns are matched by name (the lead's saved mapping first, then synonyms)."""


class CsvFileConnector(Connector):
    import_kind: ClassVar[str]
    accepts_upload: ClassVar[bool] = True
    docs_url = ""
    config_form = CsvFileForm

    def check(self) -> CheckResult:
        return CheckResult(
            True, "Nothing to connect to: save, then upload a CSV file on the connection's page."
        )

    def streams(self) -> list[str]:
        return []  # push-only: uploads arrive through connectors.uploads

    def read(self, stream: str, cursor: Any) -> Iterator[Page]:
        return iter(())


@register
class NpsCsv(CsvFileConnector):
    kind = "csv_nps"
    label = "CSV file: NPS responses"
    family = "nps"
    import_kind = "nps"
    description = "Upload NPS survey exports (score, comment, date, respondent e-mail hashed on import)."


@register
class TicketsCsv(CsvFileConnector):
    kind = "csv_tickets"
    label = "CSV file: support tickets"
    family = "tickets"
    import_kind = "tickets"
    description = "Upload ticket exports from any help desk (subject, status, tags, opened date)."


@register
class MetricPointsCsv(CsvFileConnector):
    kind = "csv_metric_points"
    label = "CSV file: metric points"
    family = "metrics"
    import_kind = "metric_points"
    description = "Upload a time series: metric, date, value, and optional dimension (an extra column such as platform becomes the dimension)."


@register
class PortfolioCsv(CsvFileConnector):
    kind = "csv_portfolio_items"
    label = "CSV file: portfolio items"
    family = "portfolio"
    import_kind = "portfolio_items"
    description = "Upload initiatives, epics and stories from a planning spreadsheet."


@register
class ExperimentsCsv(CsvFileConnector):
    kind = "csv_experiments"
    label = "CSV file: experiment results"
    family = "experiments"
    import_kind = "experiments"
    description = (
        "Upload results from Optimizely or an in-house tool: experiment, variant, exposures and conversions "
        "(or mean, sd and n), per day or as final totals with a start date."
    )
