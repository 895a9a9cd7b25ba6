from django.contrib import admin

from .models import Dependency, PortfolioItem, Product, Team


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ("name", "slug")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name", "slug")
    search_fields = ("name", "slug")
    list_filter = ("products",)
    prepopulated_fields = {"slug": ("name",)}


@admin.register(PortfolioItem)
class PortfolioItemAdmin(admin.ModelAdmin):
    list_display = (
        "title",
        "kind",
        "team",
        "product",
        "status_category",
        "target_date",
        "tracker",
        "is_gone",
    )
    list_filter = ("kind", "status_category", "team", "product", "tracker", "is_gone")
    search_fields = ("title", "description", "external_id")
    raw_id_fields = ("parent",)


@admin.register(Dependency)
class DependencyAdmin(admin.ModelAdmin):
    list_display = ("from_item", "kind", "to_item")
    list_filter = ("kind",)
    search_fields = ("from_item__title", "to_item__title")
    raw_id_fields = ("from_item", "to_item")
