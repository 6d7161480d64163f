from django.apps import AppConfig


class PlaygroundConfig(AppConfig):
    name = "playground"

    def ready(self) -> None:
        from playground import artifacts  # noqa: F401  # its signal: files go with their run
