from django.contrib import admin

from .models import Delivery, DigestDefaults, Subscription, TeamMembership


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    list_display = ["user", "enabled", "weekday", "hour", "only_notable"]
    filter_horizontal = ["products", "teams"]


@admin.register(TeamMembership)
class TeamMembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "team"]
    list_filter = ["team"]


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ["user", "week", "status", "attempts", "claimed_at", "sent_at"]
    list_filter = ["status", "week"]


admin.site.register(DigestDefaults)
