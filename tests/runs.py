"""Builders of engine jobs and a sink for their events, shared by the engine tests."""

from sandbox.events import OutputEvent, RunEvent
from sandbox.jobs import Job, JobKind
from sandbox.languages import Language


class EventLog:
    """An on_event sink that keeps what it is told."""

    def __init__(self) -> None:
        self.events: list[RunEvent] = []

    async def __call__(self, event: RunEvent) -> None:
        self.events.append(event)

    def text(self, stream: str) -> str:
        """What the run wrote to `stream`, from its output events."""
        return "".join(
            e.text for e in self.events if isinstance(e, OutputEvent) and e.stream == stream
        )


def script(language: str, code: str, **kwargs: object) -> Job:
    return Job(kind=JobKind.SCRIPT, language=Language(language), code=code, **kwargs)  # type: ignore[arg-type]


def function(language: str, code: str, **kwargs: object) -> Job:
    return Job(kind=JobKind.FUNCTION, language=Language(language), code=code, **kwargs)  # type: ignore[arg-type]
