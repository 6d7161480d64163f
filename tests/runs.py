"""Builders of engine jobs and a sink for their events, shared by the engine tests."""

from sandbox.jobs import Job, JobKind, Language, RunEvent


class EventLog:
    """An on_event sink that keeps what it is told."""

    def __init__(self) -> None:
        self.events: list[RunEvent] = []

    async def __call__(self, event: RunEvent) -> None:
        self.events.append(event)

    def kinds(self) -> list[str]:
        return [e.kind for e in self.events]


def script(language: str, code: str, **kwargs: object) -> Job:
    return Job(kind=JobKind.SCRIPT, language=Language(language), code=code, **kwargs)  # type: ignore[arg-type]


def function(language: str, code: str, **kwargs: object) -> Job:
    return Job(kind=JobKind.FUNCTION, language=Language(language), code=code, **kwargs)  # type: ignore[arg-type]
