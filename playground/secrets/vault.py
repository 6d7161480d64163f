"""Secrets: made, listed and deleted by their owner; their values read back by nobody.

A value is decrypted at run time only, on the host, and only into the run's environment
or its egress proxy (`resolve_env`, `resolve_http`): never into a stored request, a log
line or an error message.
"""

from collections.abc import Mapping, Sequence
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from playground.models import Secret
from playground.runs.masking import SECRET_AUTH_FIELDS
from playground.secrets.box import secret_box
from sandbox.egress.policy import credential_problem
from sandbox.errors import Invalid, JobInvalid, NameTaken
from sandbox.pagination import newest_first

MAX_NAME_CHARS = 128
MAX_VALUE_BYTES = 64 * 1024


def _create(owner: User, name: str, value: str) -> Secret:
    if not name.strip() or len(name) > MAX_NAME_CHARS:
        raise Invalid("name", f"must be 1 to {MAX_NAME_CHARS} characters")
    if len(value.encode("utf-8", "surrogatepass")) > MAX_VALUE_BYTES or "\x00" in value:
        raise Invalid("value", f"must be at most {MAX_VALUE_BYTES} bytes, without NUL")
    try:
        with transaction.atomic():
            return Secret.objects.create(
                owner=owner, name=name, ciphertext=secret_box().seal(value)
            )
    except IntegrityError:
        raise NameTaken("name", f"you already have a secret named {name!r}") from None


async def secret_create(*, owner: User, name: str, value: str) -> Secret:
    return await sync_to_async(_create)(owner, name, value)


async def secret_delete(*, secret: Secret) -> None:
    """Gone: runs that name it from now on are refused; past runs keep the reference."""
    await secret.adelete()


async def secret_list(
    *, owner: User, limit: int, starting_after: str | None = None
) -> list[Secret]:
    """Newest first; `starting_after` is the last id of the previous page (pagination.py)."""
    secrets = Secret.objects.filter(owner=owner).defer("ciphertext")
    page = await newest_first(secrets, starting_after=starting_after)
    return [s async for s in page[:limit]]


async def _value(owner: User, secret_id: Any, field: str) -> str:
    secret = (
        await Secret.objects.filter(owner=owner, id=secret_id).afirst()
        if isinstance(secret_id, str)
        else None
    )
    if secret is None:
        raise JobInvalid(field, f"no secret {secret_id!r} of yours exists")
    await Secret.objects.filter(id=secret.id).aupdate(last_used_at=timezone.now())
    return secret_box().open(secret.ciphertext)


async def resolve_env(*, owner: User, env: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """[{name, value | secret_id}] as the run's environment, secrets decrypted."""
    resolved = {}
    for i, item in enumerate(env):
        if "secret_id" in item:
            resolved[item["name"]] = await _value(owner, item["secret_id"], f"env.{i}.secret_id")
        else:
            resolved[item["name"]] = item.get("value", "")
    return resolved


async def resolve_http(*, owner: User, allow: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """http.allow with each credential's secret_id replaced by the secret's value."""
    resolved = []
    for i, rule in enumerate(allow):
        rule = dict(rule)
        auth = dict(rule.get("auth") or {})
        for kind, part in list(auth.items()):
            if isinstance(part, dict) and "secret_id" in part:
                field = f"http.allow.{i}.auth.{kind}.secret_id"
                part = {k: v for k, v in part.items() if k != "secret_id"}
                # The kind's secret part (masking's first name for it) is what the id stands for.
                secret_part = SECRET_AUTH_FIELDS[kind][0]
                value = await _value(owner, auth[kind]["secret_id"], field)
                # Checked as the API checks a value in clear, and never repeated.
                if problem := credential_problem(value, may_be_empty=kind == "basic"):
                    raise JobInvalid(field, f"the secret's value {problem}")
                part[secret_part] = value
                auth[kind] = part
        if auth:
            rule["auth"] = auth
        resolved.append(rule)
    return resolved
