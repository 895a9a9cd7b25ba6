"""Daily rollups: what the pages read instead of raw rows.

They are derived data, rebuilt for the affected metrics and days after each sync
(productops.dashboards.rollups.refresh) and nightly in full.
"""

from __future__ import annotations

from django.db import models


class MetricDaily(models.Model):
    """One metric, one dimension value (or the total: "", ""), one UTC day."""

    metric = models.ForeignKey("signals.Metric", on_delete=models.CASCADE, related_name="+")
    product = models.ForeignKey("portfolio.Product", null=True, blank=True, on_delete=models.CASCADE)
    dimension_key = models.CharField(max_length=64, default="", blank=True)
    dimension_value = models.CharField(max_length=128, default="", blank=True)
    day = models.DateField()
    value = models.FloatField(help_text="Aggregated with the metric's own aggregation.")
    points = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["metric", "dimension_key", "dimension_value", "day"],
                name="dashboards_metricdaily_uniq",
            )
        ]
        indexes = [models.Index(fields=["product", "day"])]

    def __str__(self) -> str:
        return f"{self.metric_id} {self.day} {self.dimension_key}={self.dimension_value}: {self.value}"


class TicketDaily(models.Model):
    """Tickets opened per product, tag ("" for all tags) and UTC day."""

    product = models.ForeignKey("portfolio.Product", null=True, blank=True, on_delete=models.CASCADE)
    tag = models.CharField(max_length=200, default="", blank=True)
    day = models.DateField()
    opened = models.IntegerField(default=0)
    solved = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["product", "tag", "day"], name="dashboards_ticketdaily_uniq")
        ]
        indexes = [models.Index(fields=["tag", "day"])]

    def __str__(self) -> str:
        return f"{self.product_id} {self.tag or '*'} {self.day}: {self.opened}"


class TicketRollup(models.Model):
    """What the Support page counts, per product, channel, tag and UTC day the tickets were opened.

    Rows with tag "" hold every ticket of a (product, channel, day); rows with a tag hold that tag's
    tickets (channel ""), so a ticket with two tags counts for both, as on the page. Sums rather than
    means, so any range adds up exactly: the mean is sum / n.
    """

    product = models.ForeignKey("portfolio.Product", null=True, blank=True, on_delete=models.CASCADE)
    channel = models.CharField(max_length=32, default="", blank=True)
    tag = models.CharField(max_length=200, default="", blank=True)
    day = models.DateField()
    opened = models.IntegerField(default=0)
    still_open = models.IntegerField(default=0, help_text="Of those, not solved when last refreshed.")
    csat_sum = models.FloatField(default=0)
    csat_n = models.IntegerField(default=0)
    csat_good = models.IntegerField(default=0, help_text="Ratings of 4 or 5.")
    sentiment_sum = models.FloatField(default=0)
    sentiment_n = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["product", "channel", "tag", "day"], name="dashboards_ticketrollup_uniq"
            )
        ]
        indexes = [models.Index(fields=["day", "tag"]), models.Index(fields=["product", "day"])]

    def __str__(self) -> str:
        return f"{self.product_id} {self.channel or '*'} {self.tag or '*'} {self.day}: {self.opened}"


class TicketTimesWeekly(models.Model):
    """First-response and resolution times (business hours where configured) of the tickets opened in
    one week (Monday, UTC), as histograms over TIME_BUCKETS (productops.dashboards.support_rollup), per
    product, channel and tag (same convention as TicketRollup). Percentiles are read from the summed
    histograms, within one bucket (about 12 %) of the exact value."""

    product = models.ForeignKey("portfolio.Product", null=True, blank=True, on_delete=models.CASCADE)
    channel = models.CharField(max_length=32, default="", blank=True)
    tag = models.CharField(max_length=200, default="", blank=True)
    week = models.DateField()
    frt = models.BinaryField(default=b"")
    resolution = models.BinaryField(default=b"")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["product", "channel", "tag", "week"], name="dashboards_tickettimesweekly_uniq"
            )
        ]
        indexes = [models.Index(fields=["week", "tag"])]

    def __str__(self) -> str:
        return f"{self.product_id} {self.channel or '*'} {self.tag or '*'} {self.week}"


class TicketSettledDaily(models.Model):
    """Tickets per product, day opened and day settled (solved, or opened if solved earlier; NULL while
    open): the backlog at any day's start is opened-so-far minus settled-so-far, in any range."""

    product = models.ForeignKey("portfolio.Product", null=True, blank=True, on_delete=models.CASCADE)
    opened_day = models.DateField()
    settled_day = models.DateField(null=True, blank=True)
    n = models.IntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["opened_day"])]

    def __str__(self) -> str:
        return f"{self.product_id} {self.opened_day} -> {self.settled_day}: {self.n}"


class SentimentDaily(models.Model):
    """Scored feedback per product, source (nps, ticket, mention) and UTC day: sum and count of scores."""

    product = models.ForeignKey("portfolio.Product", null=True, blank=True, on_delete=models.CASCADE)
    source = models.CharField(max_length=16)
    day = models.DateField()
    total = models.FloatField(default=0)
    n = models.IntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["day"])]

    def __str__(self) -> str:
        return f"{self.product_id} {self.source} {self.day}: {self.total}/{self.n}"


class NpsDaily(models.Model):
    """NPS responses per product and UTC day: how many, and how many promoters (9-10) and detractors
    (0-6). The anomaly detector's weekly NPS series is summed from these, never from the responses."""

    product = models.ForeignKey("portfolio.Product", null=True, blank=True, on_delete=models.CASCADE)
    day = models.DateField()
    n = models.IntegerField(default=0)
    promoters = models.IntegerField(default=0)
    detractors = models.IntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["product", "day"], name="dashboards_npsdaily_uniq")]

    def __str__(self) -> str:
        return f"{self.product_id} {self.day}: {self.promoters}/{self.detractors}/{self.n}"


class MentionDaily(models.Model):
    """Social mentions per product and UTC day (their sentiment is in SentimentDaily, source "mention")."""

    product = models.ForeignKey("portfolio.Product", null=True, blank=True, on_delete=models.CASCADE)
    day = models.DateField()
    n = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["product", "day"], name="dashboards_mentiondaily_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.product_id} {self.day}: {self.n}"


class KbDaily(models.Model):
    """Knowledge-base searches per product and day, over every term: searches and those with no result."""

    product = models.ForeignKey("portfolio.Product", null=True, blank=True, on_delete=models.CASCADE)
    day = models.DateField()
    searches = models.IntegerField(default=0)
    no_result = models.IntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["product", "day"], name="dashboards_kbdaily_uniq")]

    def __str__(self) -> str:
        return f"{self.product_id} {self.day}: {self.no_result}/{self.searches}"
