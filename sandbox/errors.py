"""What the engine raises, so that callers can answer each case distinctly."""


class EngineError(Exception):
    """The engine could not run the job; nothing the code did caused it."""

    retry_after_s: int = 1


class EngineBusy(EngineError):
    """Every run slot is taken and the waiting line is full: try again shortly."""


class EngineUnavailable(EngineError):
    """The Docker engine does not answer, or the sandbox image is missing."""


class JobInvalid(ValueError):
    """The job breaks a rule before anything runs; `field` is a dotted path to the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
