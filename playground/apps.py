from django.apps import AppConfig


class PlaygroundConfig(AppConfig):
    name = "playground"

    def ready(self) -> None:
        from playground.runs import files  # noqa: F401  # its signal: files go with their run
