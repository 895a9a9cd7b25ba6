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
