"""Settings for `BENCH_PAGE_CACHE=off python bench/dashboard.py`: the app's own settings with a cache that
keeps nothing, so every request rebuilds every page piece (the cost of the first request after each data
change, sustained). Sessions live in the database alone here."""

from productops.settings import *  # noqa: F403

CACHES = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
SESSION_ENGINE = "django.contrib.sessions.backends.db"
