"""Every Celery task has a soft and a hard time limit, and Redis never redelivers a task that may still run.

Issue 15 #6: a task without limits can hold a worker (and a lock, a claim) forever. Late acknowledgement
is on for every task, so the broker's visibility timeout must exceed every hard limit.
"""

from __future__ import annotations

from django.conf import settings

from productops.celery import app


def test_every_task_has_a_soft_and_a_hard_time_limit_below_the_visibility_timeout() -> None:
    app.loader.import_default_modules()
    ours = {name: task for name, task in app.tasks.items() if not name.startswith("celery.")}
    assert "productops.signals.tasks.run_import" in ours and "connectors.tasks.sync_connection" in ours
    assert len(ours) >= 10
    missing = []
    for name, task in sorted(ours.items()):
        soft = task.soft_time_limit or app.conf.task_soft_time_limit
        hard = task.time_limit or app.conf.task_time_limit
        if not (soft and hard and 0 < soft < hard < settings.CELERY_VISIBILITY_TIMEOUT):
            missing.append(f"{name}: soft={soft} hard={hard}")
    assert not missing, missing


def test_imports_and_syncs_have_their_own_limits() -> None:
    app.loader.import_default_modules()
    run_import = app.tasks["productops.signals.tasks.run_import"]
    assert (run_import.soft_time_limit, run_import.time_limit) == (
        settings.IMPORT_TASK_SOFT_TIME_LIMIT,
        settings.IMPORT_TASK_TIME_LIMIT,
    )
    assert run_import.acks_late and run_import.reject_on_worker_lost
    sync = app.tasks["connectors.tasks.sync_connection"]
    assert (sync.soft_time_limit, sync.time_limit) == (
        settings.CONNECTOR_TASK_SOFT_TIME_LIMIT,
        settings.CONNECTOR_TASK_TIME_LIMIT,
    )
