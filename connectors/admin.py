from django.contrib import admin

from .models import Connection, SyncRun


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "enabled", "last_success_at", "error_streak")
    list_filter = ("kind", "enabled")
    search_fields = ("name", "kind")
    exclude = ("secrets_encrypted",)


@admin.register(SyncRun)
class SyncRunAdmin(admin.ModelAdmin):
    list_display = ("connection", "status", "trigger", "queued_at", "finished_at", "rows_read")
    list_filter = ("status", "trigger")
    search_fields = ("connection__name", "error_message")
