"""Signals: the evidence a product team's tools hold.

Every row that comes from a source carries `source_key` and `external_id`, unique together, so every
write is an upsert. `source_key` is "conn:<id>" for a connection, or "demo" / "manual"; it keeps the
key stable when a connection is deleted but its data kept (the FK is then set to NULL, and a unique key
on a nullable FK would stop deduplicating). `first_seen_at` is set on insert; `last_seen_at` moves
only when the row's content changes, since unchanged rows are never rewritten.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


def connection_source_key(connection_id: int) -> str:
    return f"conn:{connection_id}"


class SourcedModel(models.Model):
    connection = models.ForeignKey(
        "connectors.Connection", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source_key = models.CharField(max_length=64, default="manual", db_index=True)
    external_id = models.CharField(max_length=255)
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        abstract = True
        constraints = [
            models.UniqueConstraint(
                fields=["source_key", "external_id"], name="%(app_label)s_%(class)s_source_uniq"
            )
        ]


class Direction(models.TextChoices):
    UP = "up", "Up is good"
    DOWN = "down", "Down is good"
    NONE = "none", "Neither"


class Unit(models.TextChoices):
    COUNT = "count", "Count"
    PERCENT = "percent", "Percent"
    RATIO = "ratio", "Ratio (0-1)"
    CURRENCY = "currency", "Currency"
    SECONDS = "seconds", "Seconds"


class Aggregation(models.TextChoices):
    SUM = "sum", "Sum"
    MEAN = "mean", "Mean"
    LAST = "last", "Last value"


class Sensitivity(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"


class Metric(SourcedModel):
    product = models.ForeignKey("portfolio.Product", null=True, blank=True, on_delete=models.CASCADE)
    name = models.CharField(max_length=200)
    key = models.SlugField(max_length=200)
    description = models.TextField(blank=True)
    unit = models.CharField(max_length=16, choices=Unit.choices, default=Unit.COUNT)
    good_direction = models.CharField(max_length=8, choices=Direction.choices, default=Direction.UP)
    aggregation = models.CharField(max_length=8, choices=Aggregation.choices, default=Aggregation.SUM)
    # Per-metric anomaly sensitivity, set by a PM; recomputes read it and never overwrite it.
    sensitivity = models.CharField(max_length=8, choices=Sensitivity.choices, default=Sensitivity.MEDIUM)
    dimensions = models.JSONField(
        default=list, blank=True, help_text="Dimension keys the points break down by."
    )

    class Meta(SourcedModel.Meta):
        indexes = [models.Index(fields=["product", "key"])]

    def __str__(self) -> str:
        return self.name


class MetricPoint(models.Model):
    """One value of a metric at a time; dimension ("", "") is the overall total.

    Points are the largest table, so they stay narrow and take their source from the metric.
    """

    metric = models.ForeignKey(Metric, on_delete=models.CASCADE, related_name="points")
    ts = models.DateTimeField()
    dimension_key = models.CharField(max_length=64, default="", blank=True)
    dimension_value = models.CharField(max_length=128, default="", blank=True)
    value = models.FloatField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["metric", "dimension_key", "dimension_value", "ts"], name="signals_metricpoint_uniq"
            )
        ]
        indexes = [models.Index(fields=["metric", "ts"], name="signals_point_metric_ts")]

    def __str__(self) -> str:
        return (
            f"{self.metric_id} {self.ts:%Y-%m-%d} {self.dimension_key}={self.dimension_value}: {self.value}"
        )


class NpsResponse(SourcedModel):
    product = models.ForeignKey("portfolio.Product", null=True, blank=True, on_delete=models.CASCADE)
    score = models.SmallIntegerField()
    comment = models.TextField(blank=True)
    segment = models.JSONField(
        default=dict, blank=True, help_text="Respondent attributes: plan, country, ..."
    )
    # Keyed hash (HMAC-SHA256 with PII_HASH_KEY) of the respondent's e-mail; the address is never stored.
    respondent_hash = models.CharField(max_length=64, blank=True)
    submitted_at = models.DateTimeField()
    sentiment = models.FloatField(null=True, blank=True)

    class Meta(SourcedModel.Meta):
        constraints = [
            *SourcedModel.Meta.constraints,
            models.CheckConstraint(
                condition=models.Q(score__gte=0, score__lte=10), name="signals_nps_score_range"
            ),
        ]
        indexes = [models.Index(fields=["product", "submitted_at"])]

    def __str__(self) -> str:
        return f"NPS {self.score} @ {self.submitted_at:%Y-%m-%d}"


class TicketStatus(models.TextChoices):
    NEW = "new", "New"
    OPEN = "open", "Open"
    PENDING = "pending", "Pending"
    SOLVED = "solved", "Solved"
    CLOSED = "closed", "Closed"


class SupportTicket(SourcedModel):
    product = models.ForeignKey("portfolio.Product", null=True, blank=True, on_delete=models.CASCADE)
    subject = models.CharField(max_length=500, blank=True)
    body = models.TextField(blank=True, help_text="As the source sent it (may be HTML).")
    body_text = models.TextField(blank=True, help_text="Plain text for analysis.")
    status = models.CharField(max_length=16, choices=TicketStatus.choices, default=TicketStatus.OPEN)
    priority = models.CharField(max_length=16, blank=True)
    tags = models.JSONField(default=list, blank=True)
    channel = models.CharField(max_length=32, blank=True)
    opened_at = models.DateTimeField()
    first_response_at = models.DateTimeField(null=True, blank=True)
    solved_at = models.DateTimeField(null=True, blank=True)
    # 1-5; two-valued sources map good -> 5 and bad -> 1.
    csat_rating = models.SmallIntegerField(null=True, blank=True)
    sentiment = models.FloatField(null=True, blank=True)

    class Meta(SourcedModel.Meta):
        indexes = [models.Index(fields=["product", "opened_at"]), models.Index(fields=["opened_at"])]

    def __str__(self) -> str:
        return self.subject or self.external_id


class ExperimentStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    RUNNING = "running", "Running"
    STOPPED = "stopped", "Stopped"
    FINISHED = "finished", "Finished"


class Experiment(SourcedModel):
    product = models.ForeignKey("portfolio.Product", null=True, blank=True, on_delete=models.CASCADE)
    team = models.ForeignKey("portfolio.Team", null=True, blank=True, on_delete=models.SET_NULL)
    key = models.CharField(max_length=200)
    name = models.CharField(max_length=300)
    hypothesis = models.TextField(blank=True)
    status = models.CharField(
        max_length=16, choices=ExperimentStatus.choices, default=ExperimentStatus.RUNNING
    )
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    surface = models.CharField(max_length=200, blank=True, help_text="The page, feature or flow it changes.")
    primary_metric = models.CharField(max_length=200, blank=True)
    traffic_split = models.JSONField(default=dict, blank=True, help_text='{"control": 0.5, "treatment": 0.5}')

    class Meta(SourcedModel.Meta):
        indexes = [models.Index(fields=["product", "started_at"])]

    def __str__(self) -> str:
        return self.name


class Variant(models.Model):
    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="variants")
    key = models.CharField(max_length=100)
    name = models.CharField(max_length=200, blank=True)
    is_control = models.BooleanField(default=False)
    weight = models.FloatField(default=0.5)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["experiment", "key"], name="signals_variant_uniq")]

    def __str__(self) -> str:
        return f"{self.experiment} / {self.key}"


class MetricKind(models.TextChoices):
    CONVERSION = "conversion", "Conversion"
    CONTINUOUS = "continuous", "Continuous"


class ExperimentResult(models.Model):
    """Cumulative per-variant totals for one metric up to `date` (one row per day gives the history)."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="results")
    variant = models.ForeignKey(Variant, on_delete=models.CASCADE, related_name="results")
    metric_key = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=MetricKind.choices, default=MetricKind.CONVERSION)
    date = models.DateField()
    exposures = models.BigIntegerField(default=0)
    conversions = models.BigIntegerField(null=True, blank=True)
    value_sum = models.FloatField(null=True, blank=True)
    value_sum_squares = models.FloatField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["variant", "metric_key", "date"], name="signals_expresult_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.variant} {self.metric_key} {self.date}"


class FeatureFlag(SourcedModel):
    product = models.ForeignKey("portfolio.Product", null=True, blank=True, on_delete=models.CASCADE)
    team = models.ForeignKey("portfolio.Team", null=True, blank=True, on_delete=models.SET_NULL)
    key = models.CharField(max_length=200)
    name = models.CharField(max_length=300, blank=True)
    enabled = models.BooleanField(default=False)
    rollout_pct = models.FloatField(default=0)
    updated_at_source = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.key


class FlagChange(models.Model):
    flag = models.ForeignKey(FeatureFlag, on_delete=models.CASCADE, related_name="changes")
    external_id = models.CharField(max_length=255)
    changed_at = models.DateTimeField()
    description = models.CharField(max_length=500, blank=True)
    enabled = models.BooleanField(null=True)
    rollout_pct = models.FloatField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["flag", "external_id"], name="signals_flagchange_uniq")
        ]
        indexes = [models.Index(fields=["changed_at"])]

    def __str__(self) -> str:
        return f"{self.flag} {self.changed_at:%Y-%m-%d %H:%M}"


class Mention(SourcedModel):
    product = models.ForeignKey("portfolio.Product", null=True, blank=True, on_delete=models.CASCADE)
    platform = models.CharField(max_length=32, help_text="hackernews, reddit, ...")
    url = models.URLField(max_length=1000, blank=True)
    title = models.CharField(max_length=500, blank=True)
    text = models.TextField(blank=True)
    author_hash = models.CharField(max_length=64, blank=True)
    posted_at = models.DateTimeField()
    score = models.IntegerField(default=0)
    sentiment = models.FloatField(null=True, blank=True)

    class Meta(SourcedModel.Meta):
        indexes = [models.Index(fields=["product", "posted_at"])]

    def __str__(self) -> str:
        return self.title or self.text[:60]


class KbArticle(SourcedModel):
    product = models.ForeignKey("portfolio.Product", null=True, blank=True, on_delete=models.CASCADE)
    title = models.CharField(max_length=500)
    url = models.URLField(max_length=1000, blank=True)
    views = models.BigIntegerField(default=0)
    helpful_votes = models.IntegerField(default=0)
    unhelpful_votes = models.IntegerField(default=0)
    updated_at_source = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.title


class KbSearch(SourcedModel):
    """A search term in the knowledge base over one day, where the tool reports it."""

    product = models.ForeignKey("portfolio.Product", null=True, blank=True, on_delete=models.CASCADE)
    term = models.CharField(max_length=300)
    date = models.DateField()
    searches = models.IntegerField(default=0)
    no_result_searches = models.IntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.term} ({self.date})"


class CsvMapping(models.Model):
    """The lead's last confirmed column mapping for one kind of CSV file, offered on the next upload."""

    kind = models.CharField(max_length=32, unique=True)
    mapping = models.JSONField(default=dict, blank=True, help_text="Field name -> the file's column name.")
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return f"CSV mapping for {self.kind}"


# --- Monitoring: releases, error issues, on-call incidents ------------------------------------------


class Release(SourcedModel):
    """A deploy of a product: an annotation on its charts and evidence for incidents.

    Sentry sends one per (project, version); `released_at` is the last deploy's finish time, else the
    release's own release date, else its creation. Crash-free rates are 0-1, left empty where the
    organisation has no session data.
    """

    product = models.ForeignKey("portfolio.Product", null=True, blank=True, on_delete=models.CASCADE)
    version = models.CharField(max_length=250)
    project = models.CharField(max_length=200, blank=True, help_text="The tool's project (Sentry slug).")
    environment = models.CharField(max_length=64, blank=True)
    released_at = models.DateTimeField()
    new_issues = models.IntegerField(default=0)
    crash_free_sessions = models.FloatField(null=True, blank=True)
    crash_free_users = models.FloatField(null=True, blank=True)
    url = models.URLField(max_length=1000, blank=True)

    class Meta(SourcedModel.Meta):
        indexes = [models.Index(fields=["product", "released_at"])]

    def __str__(self) -> str:
        return self.version

    @staticmethod
    def _rate(value: float | None) -> str:
        return "–" if value is None else f"{value * 100:.2f}%"

    @property
    def crash_free_sessions_text(self) -> str:
        return self._rate(self.crash_free_sessions)

    @property
    def crash_free_users_text(self) -> str:
        return self._rate(self.crash_free_users)


class ErrorIssue(SourcedModel):
    """An error-tracker issue (a group of like errors). New and regressed ones are events on the product
    page; their volume per day is a metric of its own (so anomalies see spikes)."""

    product = models.ForeignKey("portfolio.Product", null=True, blank=True, on_delete=models.CASCADE)
    project = models.CharField(max_length=200, blank=True)
    short_id = models.CharField(max_length=100, blank=True)
    title = models.CharField(max_length=500)
    culprit = models.CharField(max_length=500, blank=True)
    level = models.CharField(max_length=16, blank=True, help_text="fatal, error, warning, info, debug")
    status = models.CharField(max_length=32, blank=True, help_text="unresolved, resolved, ignored")
    substatus = models.CharField(max_length=32, blank=True, help_text="new, regressed, ongoing, escalating")
    release = models.CharField(max_length=250, blank=True, help_text="The release it was first seen in.")
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    events = models.BigIntegerField(default=0)
    users = models.BigIntegerField(default=0)
    url = models.URLField(max_length=1000, blank=True)

    class Meta(SourcedModel.Meta):
        indexes = [models.Index(fields=["product", "first_seen"])]

    def __str__(self) -> str:
        return self.title


class OpsIncidentStatus(models.TextChoices):
    TRIGGERED = "triggered", "Triggered"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    RESOLVED = "resolved", "Resolved"


class OpsIncident(SourcedModel):
    """An on-call incident (PagerDuty): an outage a product's users felt, joined to product incidents."""

    product = models.ForeignKey("portfolio.Product", null=True, blank=True, on_delete=models.CASCADE)
    number = models.IntegerField(null=True, blank=True)
    title = models.CharField(max_length=500)
    service_id = models.CharField(max_length=64, blank=True)
    service_name = models.CharField(max_length=300, blank=True)
    status = models.CharField(
        max_length=16, choices=OpsIncidentStatus.choices, default=OpsIncidentStatus.TRIGGERED
    )
    urgency = models.CharField(max_length=16, blank=True, help_text="high or low")
    priority = models.CharField(max_length=64, blank=True)
    opened_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    url = models.URLField(max_length=1000, blank=True)

    class Meta(SourcedModel.Meta):
        indexes = [models.Index(fields=["product", "opened_at"])]

    def __str__(self) -> str:
        return self.title


class ImportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Importing"
    SUCCEEDED = "succeeded", "Imported"
    FAILED = "failed", "Failed"


class ImportJob(models.Model):
    """A CSV import, run by a worker (productops.signals.imports): from the Import page, or a file uploaded
    to a "CSV file" connection (then `connection` and `run` are set, and the run is its run history).

    The file waits under VAR_DIR/imports/<token>.csv. Rows commit in batches; `rows_done` is the number of
    valid rows committed so far, so a re-run after a killed worker resumes after the last committed batch.
    The worker that claimed the job writes its node and process id and a fresh `claim` token; every batch
    commits only while the claim is still its own, so a job taken over from a dead worker can't be
    written by two workers at once.
    """

    token = models.UUIDField(unique=True)
    kind = models.CharField(max_length=32)
    filename = models.CharField(max_length=255)
    product = models.ForeignKey("portfolio.Product", null=True, blank=True, on_delete=models.SET_NULL)
    mapping = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=ImportStatus.choices, default=ImportStatus.QUEUED)
    rows_total = models.PositiveIntegerField(default=0, help_text="Data rows in the file.")
    rows_valid = models.PositiveIntegerField(default=0)
    rows_done = models.PositiveIntegerField(default=0, help_text="Valid rows committed so far.")
    inserted = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    bad_rows = models.PositiveIntegerField(default=0)
    errors = models.JSONField(
        default=list, blank=True, help_text="[row, column, message] of the first problems."
    )
    error_count = models.PositiveIntegerField(default=0)
    encoding = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    connection = models.ForeignKey(
        "connectors.Connection", null=True, blank=True, on_delete=models.SET_NULL, related_name="import_jobs"
    )
    run = models.OneToOneField(
        "connectors.SyncRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="import_job"
    )
    file_sha256 = models.CharField(max_length=64, blank=True)
    worker = models.CharField(max_length=255, blank=True, help_text="Celery node running the job.")
    worker_pid = models.IntegerField(default=0, help_text="That worker's main process id.")
    claim = models.CharField(max_length=32, blank=True, help_text="Token of the attempt allowed to write.")
    heartbeat_at = models.DateTimeField(null=True, blank=True, help_text="Moves with every committed batch.")
    attempts = models.PositiveSmallIntegerField(default=0)
    scope = models.JSONField(
        default=dict, blank=True, help_text="What the committed batches wrote (families, products, since)."
    )
    resumable = models.BooleanField(
        default=False, help_text="Failed part-way (a time limit, an error): Resume continues after rows_done."
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status"], name="signals_importjob_status")]

    def __str__(self) -> str:
        return f"import {self.filename} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in (ImportStatus.QUEUED, ImportStatus.RUNNING)

    @property
    def percent(self) -> int:
        return 100 if not self.rows_valid else int(100 * self.rows_done / self.rows_valid)
