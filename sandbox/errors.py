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


class BuildsBusy(TenantBusy):
    """This owner has as many runtime builds waiting or running as one owner may: a 429."""

    # A build takes a minute or more: asking again sooner only spends requests.
    retry_after_s = 30


class EngineUnavailable(EngineError):
    """The Docker engine does not answer, or the sandbox image is missing."""

    retry_after_s = limits.UNAVAILABLE_RETRY_AFTER_S


class Invalid(ValueError):
    """A request breaks a rule, found before anything is written or run.

    `field` is a dotted path to the culprit ("files.0.path"). Every service raises one of
    this family for bad input, and the API answers every one as a 400 naming the field.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class JobInvalid(Invalid):
    """A run's request breaks a rule: its code, files, env, limits or runtime."""


class RuntimeInvalid(Invalid):
    """A custom runtime's or revision's request breaks a rule."""


class NameTaken(Invalid):
    """The owner already has one of that name (a secret): a 409, naming the field."""


class SessionError(Exception):
    """A session request that cannot be served as asked; `status` and `code` are its
    answer (the API's one error shape)."""

    status = 409
    code = "session_error"


class SessionBusy(SessionError):
    """A call, pause or resume of this session is going on: one at a time."""

    code = "session_busy"


class SessionEnded(SessionError):
    """The session has ended: nothing more runs in it."""

    code = "session_ended"


class TooManySessions(SessionError):
    """The owner has as many live sessions as one owner may: end one first."""

    status = 429
    code = "too_many_sessions"


class SessionElsewhere(SessionError):
    """The session's sandbox is on another node of the cluster."""

    status = 503
    code = "session_elsewhere"
