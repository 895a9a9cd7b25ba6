from __future__ import annotations

from celery import shared_task

from productops.core.versions import bump

from . import recompute

# A queued recompute older than this is dropped: a later one (or the nightly run) takes its work, which
# waits in PendingRecompute rows, not in the message.
RECOMPUTE_EXPIRES = 3600


@shared_task(name="insights.tasks.recompute_pending")
def recompute_pending(product_keys: list[int] | None = None) -> dict[str, list[str]]:
    """Queued by record_write after a write commits: recompute the pending products, each once."""
    result = recompute.run_pending(product_keys)
    if result.products:
        bump()
    return {str(k): v for k, v in result.products.items()}


def queue_recompute(product_keys: list[int] | None = None) -> None:
    recompute_pending.apply_async(kwargs={"product_keys": product_keys}, expires=RECOMPUTE_EXPIRES)


@shared_task(name="insights.tasks.recompute_all")
def recompute_all() -> list[str]:
    """Nightly: every hook, over everything."""
    ran = recompute.run_full()
    bump()
    return ran


@shared_task(name="insights.tasks.recompute_after_sync")
def recompute_after_sync(
    connection_id: int | None, families: list[str], metric_ids: list[int] | None = None
) -> dict[str, list[str]]:
    """The task syncs queued before record_write existed; a message still in a broker after an upgrade
    is turned into pending work (unscoped by product, as it was) and run."""
    recompute.request(families, (), metric_ids=metric_ids or (), connection_id=connection_id)
    return recompute_pending()
