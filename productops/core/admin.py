from django.contrib import admin

from .models import DataVersion, WorkerHeartbeat


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(admin.ModelAdmin):
    list_display = ("hostname", "pid", "last_seen_at")
    search_fields = ("hostname",)


@admin.register(DataVersion)
class DataVersionAdmin(admin.ModelAdmin):
    list_display = ("name", "version", "changed_at")
    search_fields = ("name",)
