"""Model fields shared by several apps."""

from __future__ import annotations

from typing import Any

from django.db import models


class OpenChoiceField(models.CharField):
    """A CharField whose choices are validated in forms and admin but left out of migrations.

    Used for registries that grow with the code (insight kinds, feedback sources): adding a choice is
    a code change only, so apps developed side by side never collide on an `AlterField` migration.
    The database column is a plain varchar either way.
    """

    def deconstruct(self) -> Any:
        name, _path, args, kwargs = super().deconstruct()
        kwargs.pop("choices", None)
        return name, "django.db.models.CharField", args, kwargs
