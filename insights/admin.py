from django.contrib import admin

from .models import Insight, InsightEvent


@admin.register(Insight)
class InsightAdmin(admin.ModelAdmin):
    list_display = ("title", "kind", "severity", "status", "product", "detected_at")
    list_filter = ("kind", "status", "severity", "product")
    search_fields = ("title", "summary", "key")


@admin.register(InsightEvent)
class InsightEventAdmin(admin.ModelAdmin):
    list_display = ("insight", "action", "user", "created_at")
    list_filter = ("action",)
    search_fields = ("comment",)
