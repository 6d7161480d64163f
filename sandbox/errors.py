"""What the engine raises, so that callers can answer each case distinctly."""

from sandbox import limits


class EngineError(Exception):
    """The engine could not run the job; nothing the code did caused it."""

    retry_after_s = limits.BUSY_RETRY_AFTER_S


class EngineBusy(EngineError):
    """Every run slot is taken and the waiting line is full: try again shortly."""

    retry_after_s = limits.BUSY_RETRY_AFTER_S


class TenantBusy(EngineError):
    """This owner has as many runs in progress as one owner may: a 429, not a 503."""

    retry_after_s = limits.BUSY_RETRY_AFTER_S


class EngineUnavailable(EngineError):
    """The Docker engine does not answer, or the sandbox image is missing."""

    retry_after_s = limits.UNAVAILABLE_RETRY_AFTER_S


class JobInvalid(ValueError):
    """The job breaks a rule before anything runs; `field` is a dotted path to the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
