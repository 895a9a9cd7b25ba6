import importlib
import logging

from django.apps import AppConfig
from django.conf import settings

log = logging.getLogger(__name__)


class ConnectorsConfig(AppConfig):
    name = "connectors"
    label = "connectors"
    verbose_name = "Connectors"

    def ready(self) -> None:
        load_connector_modules()
        connect_worker_signals()
        from . import uploads  # noqa: F401  (registers the import hooks of a connection's uploads)


def connect_worker_signals() -> None:
    """In Celery workers: the dead-worker watchdog, and secret redaction on every log handler (Celery
    replaces the root logger's handlers, so the filter from settings.LOGGING is added again)."""
    from celery.signals import after_setup_logger, after_setup_task_logger, worker_ready, worker_shutdown

    from . import watchdog
    from .redaction import install_log_filter

    def add_filter(logger: logging.Logger | None = None, **_: object) -> None:
        install_log_filter(logger)

    worker_ready.connect(watchdog.start, weak=False, dispatch_uid="connectors-watchdog-start")
    worker_shutdown.connect(watchdog.stop, weak=False, dispatch_uid="connectors-watchdog-stop")
    after_setup_logger.connect(add_filter, weak=False, dispatch_uid="connectors-redact-logs")
    after_setup_task_logger.connect(add_filter, weak=False, dispatch_uid="connectors-redact-task-logs")


def load_connector_modules() -> list[str]:
    """Import every module in PRODUCTOPS_CONNECTORS + PRODUCTOPS_EXTRA_CONNECTORS; return those that failed.

    One broken or missing connector must not take the whole app down: it is logged and skipped, and
    its connections show "not installed" until it is fixed.
    """
    failed = []
    modules = [*settings.PRODUCTOPS_CONNECTORS, *getattr(settings, "PRODUCTOPS_EXTRA_CONNECTORS", [])]
    for dotted in dict.fromkeys(modules):
        try:
            importlib.import_module(dotted)
        except Exception:
            log.exception(
                "connector module %s failed to import; its connections are disabled until fixed", dotted
            )
            failed.append(dotted)
    return failed
