"""Request bodies of the /v1 API, field for field as Riza's client has them: the one
schema tree every entry point's body is checked against (responses: responses.py)."""

from typing import Annotated, Any, Literal

from django.conf import settings
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    field_validator,
    model_validator,
)

from sandbox import limits
from sandbox.egress.policy import (
    checked_basic_password,
    checked_basic_user,
    checked_credential,
    checked_header_name,
)
from sandbox.jobs import File, Job, JobKind, Limits
from sandbox.languages import Language

# JSON gives a string: strict schemas take it as the enum's value (sandbox/languages.py).
LanguageName = Annotated[Language, Field(strict=False)]

OutputStatusName = Literal["valid", "json_serialization_error", "error"]
# A host name, or a wildcard of one: "api.example.com", "*.example.com".


class StrictSchema(BaseModel):
    # "5" is not a number and 5 is not a string: a wrongly typed field is a 400, as the
    # API promises, never silently coerced. (Plain pydantic, not ninja.Schema, whose
    # attribute lookups would take a list for an object.)
    model_config = ConfigDict(strict=True, extra="ignore")


class FileIn(StrictSchema):
    path: StrictStr
    contents: StrictStr = ""
    # Ours: "base64" for binary input (a spreadsheet, an image).
    encoding: Literal["utf-8", "base64"] = "utf-8"


def one_of(model: BaseModel, clear: str, where: str = "secret_id") -> None:
    """A credential comes in clear or as one of your secrets: one of them, not both."""
    given = [name for name in (clear, where) if getattr(model, name) is not None]
    if len(given) != 1:
        raise ValueError(f"give {clear} or {where}, one of them")


class BearerAuth(StrictSchema):
    token: StrictStr | None = None
    secret_id: StrictStr | None = None

    _token_fits = field_validator("token")(checked_credential)

    @model_validator(mode="after")
    def one_source(self) -> "BearerAuth":
        one_of(self, "token")
        return self


class BasicAuth(StrictSchema):
    user_id: StrictStr = ""
    password: StrictStr | None = None
    secret_id: StrictStr | None = None

    _user_fits = field_validator("user_id")(checked_basic_user)
    _password_fits = field_validator("password")(checked_basic_password)

    @model_validator(mode="after")
    def one_source(self) -> "BasicAuth":
        if self.password is not None and self.secret_id is not None:
            raise ValueError("give password or secret_id, one of them")
        if not self.user_id and self.password is None and self.secret_id is None:
            raise ValueError("give user_id, and password or secret_id")
        return self


def token_is_value(data: Any) -> Any:
    """Riza's docs say `token` where its client says `value`: take either."""
    if isinstance(data, dict) and "token" in data and "value" not in data:
        data = {**data, "value": data["token"]}
        del data["token"]
    return data


class HeaderAuth(StrictSchema):
    name: StrictStr
    value: StrictStr | None = None
    secret_id: StrictStr | None = None

    _token = model_validator(mode="before")(token_is_value)
    _name_fits = field_validator("name")(checked_header_name)
    _value_fits = field_validator("value")(checked_credential)

    @model_validator(mode="after")
    def one_source(self) -> "HeaderAuth":
        one_of(self, "value")
        return self


class QueryAuth(StrictSchema):
    key: StrictStr
    value: StrictStr | None = None
    secret_id: StrictStr | None = None

    _token = model_validator(mode="before")(token_is_value)
    _fits = field_validator("key", "value")(checked_credential)

    @model_validator(mode="after")
    def one_source(self) -> "QueryAuth":
        one_of(self, "value")
        return self


AUTH_KINDS = ("bearer", "basic", "header", "query")


class HttpAuth(StrictSchema):
    """How a credential is added to a host's requests: one kind, in clear or by secret_id
    (one of the owner's secrets, resolved on the host at run time)."""

    # An unknown kind is a mistake to say, not to ignore: its host would get no credential.
    model_config = ConfigDict(strict=True, extra="forbid")

    bearer: BearerAuth | None = None
    basic: BasicAuth | None = None
    header: HeaderAuth | None = None
    query: QueryAuth | None = None

    @model_validator(mode="after")
    def one_kind(self) -> "HttpAuth":
        given = [k for k in AUTH_KINDS if getattr(self, k) is not None]
        if len(given) != 1:
            also = f", not {' and '.join(given)}" if given else ""
            raise ValueError(f"give one of bearer, basic, header or query{also}")
        return self


class HttpAllow(StrictSchema):
    # A name, *.name or *; checked (IDN, address literals) by sandbox/egress/policy.py.
    host: Annotated[StrictStr, Field(min_length=1, max_length=255)]
    auth: HttpAuth | None = None


class HttpIn(StrictSchema):
    allow: list[HttpAllow] | None = None


def _documented_range(low: int, high: int, unit: str) -> Any:
    # The range is enforced, with a message naming it, by the engine's validate_job;
    # here it only tells clients and the OpenAPI document.
    return Field(None, description=unit, json_schema_extra={"minimum": low, "maximum": high})


class LimitsIn(StrictSchema):
    execution_timeout: StrictInt | None = _documented_range(
        limits.MIN_TIMEOUT_S, settings.SANDBOX_MAX_TIMEOUT_S, "seconds, default 30"
    )
    memory_size: StrictInt | None = _documented_range(
        limits.MIN_MEMORY_MIB, settings.SANDBOX_MAX_MEMORY_MIB, "MiB, default 128"
    )

    def to_limits(self) -> Limits:
        return Limits(
            execution_timeout_s=(
                limits.DEFAULT_TIMEOUT_S
                if self.execution_timeout is None
                else self.execution_timeout
            ),
            memory_mib=limits.DEFAULT_MEMORY_MIB if self.memory_size is None else self.memory_size,
        )


class RunIn(StrictSchema):
    code: StrictStr
    language: LanguageName
    env: dict[StrictStr, StrictStr] | None = None
    files: list[FileIn] | None = None
    http: HttpIn | None = None
    limits: LimitsIn | None = None
    runtime_revision_id: StrictStr | None = None
    # Ours: glob patterns of files to keep after the run ("*.png", "out/**").
    output_files: list[StrictStr] | None = None

    def job_parts(self) -> dict[str, Any]:
        return {
            "language": self.language,
            "code": self.code,
            "env": dict(self.env or {}),
            "files": job_files(self.files),
            "output_files": tuple(self.output_files or ()),
            "limits": (self.limits or LimitsIn()).to_limits(),
            "http_allow": job_http_allow(self.http),
        }


def job_files(files: list[FileIn] | None) -> tuple[File, ...]:
    return tuple(File(f.path, f.contents, f.encoding) for f in files or ())


def job_http_allow(http: HttpIn | None) -> tuple[dict[str, Any], ...]:
    return tuple(rule.model_dump(exclude_none=True) for rule in (http.allow or ())) if http else ()


class ExecuteIn(RunIn):
    args: list[StrictStr] | None = None
    stdin: StrictStr | None = None

    def to_job(self) -> Job:
        return Job(
            kind=JobKind.SCRIPT,
            args=tuple(self.args or ()),
            stdin=self.stdin or "",
            **self.job_parts(),
        )


class ExecuteFunctionIn(RunIn):
    input: Any = None

    def to_job(self) -> Job:
        return Job(kind=JobKind.FUNCTION, input=self.input, **self.job_parts())


class EnvIn(StrictSchema):
    """A tool call's environment variable: a value, or one of your secrets."""

    name: Annotated[StrictStr, Field(min_length=1)]
    value: StrictStr | None = None
    secret_id: StrictStr | None = None

    @model_validator(mode="after")
    def one_source(self) -> "EnvIn":
        one_of(self, "value")
        return self


class ToolExecIn(StrictSchema):
    input: Any = None
    env: list[EnvIn] | None = None
    http: HttpIn | None = None
    revision_id: StrictStr | None = None
    output_files: list[StrictStr] | None = None


class SessionLimitsIn(StrictSchema):
    memory_size: StrictInt | None = _documented_range(
        limits.MIN_MEMORY_MIB, settings.SANDBOX_MAX_MEMORY_MIB, "MiB, default 128"
    )


class SessionIn(StrictSchema):
    """A session: a run's sandbox (its language, runtime, env, files, network and
    memory) kept for calls, until it idles past idle_timeout seconds and pauses."""

    language: LanguageName
    runtime_revision_id: StrictStr | None = None
    env: dict[StrictStr, StrictStr] | None = None
    files: list[FileIn] | None = None
    http: HttpIn | None = None
    # (Before `limits`, which names the field, not the module, below it.)
    idle_timeout: StrictInt | None = _documented_range(
        limits.SESSION_MIN_IDLE_TIMEOUT_S, limits.SESSION_MAX_IDLE_TIMEOUT_S, "seconds, default 600"
    )
    limits: SessionLimitsIn | None = None

    def to_job(self) -> Job:
        memory = self.limits.memory_size if self.limits else None
        return Job(
            kind=JobKind.SESSION,
            language=self.language,
            code="",
            env=dict(self.env or {}),
            files=job_files(self.files),
            http_allow=job_http_allow(self.http),
            limits=Limits(memory_mib=limits.DEFAULT_MEMORY_MIB if memory is None else memory),
        )


class CallLimitsIn(StrictSchema):
    execution_timeout: StrictInt | None = _documented_range(
        limits.MIN_TIMEOUT_S, settings.SANDBOX_MAX_TIMEOUT_S, "seconds, default 30"
    )


class SessionExecuteIn(StrictSchema):
    """One call of a session: a cell of code, its stdin, its time, files to keep."""

    code: StrictStr
    stdin: StrictStr | None = None
    limits: CallLimitsIn | None = None
    output_files: list[StrictStr] | None = None
