"""Settings for the test suite: the app's settings, with state of its own.

`make test` beside a running `make run` must change nothing in the dev data, so the suite (and every
worker or `manage.py` process it starts, which inherit DJANGO_SETTINGS_MODULE and PRODUCTOPS_VAR_DIR)
uses:

- its own var directory (PRODUCTOPS_TEST_VAR_DIR, default var/test/): the SQLite test database, the
  file-system broker's folders, the file cache, mail and imports all live there;
- its own broker keys on Redis (every key prefixed, so a dev worker on the same Redis database never
  sees the tests' tasks, and the tests never see its);
- a file cache under that directory instead of the Redis cache, because clearing Django's Redis cache
  (as every test does) flushes the whole Redis database: the dev broker's queues with it;
- its own lock keys on Redis;
- its own database (pytest-django's test_<name>, as before).
"""

from __future__ import annotations

import os
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent
os.environ["PRODUCTOPS_VAR_DIR"] = os.environ.get("PRODUCTOPS_TEST_VAR_DIR") or str(_ROOT / "var" / "test")

from productops.settings import *  # noqa: E402,F403
from productops.settings import CELERY_BROKER_TRANSPORT_OPTIONS, CELERY_BROKER_URL, VAR_DIR  # noqa: E402

TEST_KEY_PREFIX = "productops-test:"

if not CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {**CELERY_BROKER_TRANSPORT_OPTIONS, "global_keyprefix": TEST_KEY_PREFIX}

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": str(VAR_DIR / "cache"),
    }
}
LOCK_KEY_PREFIX = TEST_KEY_PREFIX
