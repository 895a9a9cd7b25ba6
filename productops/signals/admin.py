from django.contrib import admin

from . import models as m


@admin.register(m.Metric)
class MetricAdmin(admin.ModelAdmin):
    list_display = ("name", "product", "unit", "good_direction", "sensitivity", "source_key")
    list_filter = ("product", "unit", "good_direction", "sensitivity")
    search_fields = ("name", "key", "external_id")


@admin.register(m.MetricPoint)
class MetricPointAdmin(admin.ModelAdmin):
    list_display = ("metric", "ts", "dimension_key", "dimension_value", "value")
    list_filter = ("metric__product", "dimension_key")
    search_fields = ("metric__name", "dimension_value")
    raw_id_fields = ("metric",)
    show_full_result_count = False


@admin.register(m.NpsResponse)
class NpsResponseAdmin(admin.ModelAdmin):
    list_display = ("score", "product", "submitted_at", "source_key")
    list_filter = ("product", "score")
    search_fields = ("comment", "external_id")
    date_hierarchy = "submitted_at"


@admin.register(m.SupportTicket)
class SupportTicketAdmin(admin.ModelAdmin):
    list_display = ("subject", "product", "status", "priority", "channel", "opened_at")
    list_filter = ("product", "status", "priority", "channel")
    search_fields = ("subject", "body_text", "external_id")
    date_hierarchy = "opened_at"


class VariantInline(admin.TabularInline):
    model = m.Variant
    extra = 0


@admin.register(m.Experiment)
class ExperimentAdmin(admin.ModelAdmin):
    list_display = ("name", "product", "team", "status", "surface", "started_at")
    list_filter = ("product", "team", "status")
    search_fields = ("name", "key", "surface")
    inlines = [VariantInline]


@admin.register(m.ExperimentResult)
class ExperimentResultAdmin(admin.ModelAdmin):
    list_display = ("experiment", "variant", "metric_key", "date", "exposures", "conversions")
    list_filter = ("kind", "experiment")
    search_fields = ("metric_key",)


class FlagChangeInline(admin.TabularInline):
    model = m.FlagChange
    extra = 0


@admin.register(m.FeatureFlag)
class FeatureFlagAdmin(admin.ModelAdmin):
    list_display = ("key", "product", "team", "enabled", "rollout_pct")
    list_filter = ("product", "team", "enabled")
    search_fields = ("key", "name")
    inlines = [FlagChangeInline]


@admin.register(m.Mention)
class MentionAdmin(admin.ModelAdmin):
    list_display = ("title", "platform", "product", "posted_at", "score")
    list_filter = ("platform", "product")
    search_fields = ("title", "text")


@admin.register(m.KbArticle)
class KbArticleAdmin(admin.ModelAdmin):
    list_display = ("title", "product", "views", "helpful_votes", "unhelpful_votes")
    list_filter = ("product",)
    search_fields = ("title",)


@admin.register(m.KbSearch)
class KbSearchAdmin(admin.ModelAdmin):
    list_display = ("term", "date", "searches", "no_result_searches")
    list_filter = ("product",)
    search_fields = ("term",)


@admin.register(m.CsvMapping)
class CsvMappingAdmin(admin.ModelAdmin):
    list_display = ("kind", "updated_at", "updated_by")
    list_filter = ("kind",)
    search_fields = ("kind",)
