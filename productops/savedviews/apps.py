from django.apps import AppConfig


class SavedViewsConfig(AppConfig):
    name = "productops.savedviews"
    label = "savedviews"
    verbose_name = "Saved views"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from productops.digests.models import TeamMembership
        from productops.portfolio.models import Team

        from .models import SavedView
        from .services import bump_nav_version

        # Anything the nav's Views menu shows or depends on: the menu is cached per user (services.py).
        for model in (SavedView, TeamMembership, Team):
            post_save.connect(bump_nav_version, sender=model, dispatch_uid=f"savedviews-nav-{model.__name__}")
            post_delete.connect(
                bump_nav_version, sender=model, dispatch_uid=f"savedviews-nav-del-{model.__name__}"
            )
