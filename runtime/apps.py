from django.apps import AppConfig


class RuntimeConfig(AppConfig):
    name = "runtime"
    verbose_name = "MCP runtime"

    def ready(self) -> None:
        from runtime import signals

        signals.connect()
