"""Tools: saved, versioned functions with a JSON Schema for their input.

Every change is a new revision; the tool's current revision is what runs unless a call
names another. A call's input is checked against its revision's schema before anything
runs, and its secrets are resolved on the host at run time (playground/secrets/vault.py).
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.db import transaction

from playground.models import Tool, ToolRevision
from playground.tools.schema_checks import Problem, checkers, input_problem, schema_problem
from sandbox.errors import Invalid
from sandbox.languages import LANGUAGES, names
from sandbox.models import RuntimeRevision

MAX_NAME_CHARS = 128
MAX_DESCRIPTION_CHARS = 8192


@dataclass(frozen=True)
class ToolFields:
    """What a revision is made of; an update changes some of them."""

    name: str
    code: str
    language: str
    description: str = ""
    input_schema: Mapping[str, Any] | None = None
    runtime_revision_id: str = ""


async def check_schema(owner: User, schema: Any) -> None:
    """Invalid("input_schema") unless it is a JSON Schema object its own metaschema takes,
    whose references stay inside it."""
    _raise(await checkers.check(str(owner.pk), "input_schema", schema_problem, schema))


async def check_input(owner: User, schema: Mapping[str, Any], value: Any) -> None:
    """Invalid naming the part of the input at fault (`input.a.0`), saying what was wanted."""
    if schema:
        _raise(await checkers.check(str(owner.pk), "input", input_problem, schema, value))


def _raise(problem: Problem) -> None:
    if problem is not None:
        raise Invalid(*problem)


async def _check(owner: User, fields: ToolFields) -> None:
    if not fields.name.strip() or len(fields.name) > MAX_NAME_CHARS:
        raise Invalid("name", f"must be 1 to {MAX_NAME_CHARS} characters")
    if fields.language not in LANGUAGES:
        raise Invalid("language", f"must be one of {names()}")
    if len(fields.description) > MAX_DESCRIPTION_CHARS:
        raise Invalid("description", f"is longer than {MAX_DESCRIPTION_CHARS} characters")
    if fields.input_schema is not None:
        await check_schema(owner, fields.input_schema)
        # An object of named arguments, as MCP lists every tool (an empty schema: any input).
        if fields.input_schema and fields.input_schema.get("type") != "object":
            raise Invalid(
                "input_schema",
                'must describe an object: put "type": "object" at its top, and the input\'s '
                'parts under "properties"',
            )
    if fields.runtime_revision_id:
        exists = await RuntimeRevision.objects.filter(
            id=fields.runtime_revision_id, runtime__owner=owner, runtime__deleted_at__isnull=True
        ).aexists()
        if not exists:
            raise Invalid(
                "runtime_revision_id", f"no runtime revision {fields.runtime_revision_id!r}"
            )


def _save_revision(tool: Tool, fields: ToolFields) -> ToolRevision:
    with transaction.atomic():
        if tool._state.adding:
            tool.save()
        revision = ToolRevision.objects.create(
            tool=tool,
            name=fields.name,
            description=fields.description,
            language=fields.language,
            code=fields.code,
            input_schema=dict(fields.input_schema or {}),
            runtime_revision_id=fields.runtime_revision_id,
        )
        tool.current_revision = revision
        tool.save(update_fields=["current_revision"])
    return revision


async def tool_create(*, owner: User, fields: ToolFields) -> Tool:
    """A tool and its first revision. Invalid, and nothing written, for bad fields."""
    await _check(owner, fields)
    tool = Tool(owner=owner)
    await sync_to_async(_save_revision)(tool, fields)
    return tool


async def tool_update(*, tool: Tool, changes: Mapping[str, Any]) -> Tool:
    """A new revision: the current one with `changes`; the old one stays runnable."""
    current = tool.current_revision
    assert current is not None
    fields = ToolFields(
        name=changes.get("name", current.name),
        code=changes.get("code", current.code),
        language=changes.get("language", current.language),
        description=changes.get("description", current.description),
        input_schema=changes.get("input_schema", current.input_schema),
        runtime_revision_id=changes.get("runtime_revision_id", current.runtime_revision_id),
    )
    await _check(tool.owner, fields)
    await sync_to_async(_save_revision)(tool, fields)
    return tool


async def revision_of(tool: Tool, revision_id: str | None) -> ToolRevision:
    if not revision_id:
        assert tool.current_revision is not None
        return tool.current_revision
    revision = await ToolRevision.objects.filter(tool=tool, id=revision_id).afirst()
    if revision is None:
        raise Invalid("revision_id", f"tool {tool.id} has no revision {revision_id!r}")
    return revision


def tool_shape(tool: Tool, revision: ToolRevision | None = None) -> dict[str, Any]:
    """Riza's Tool: the tool as its current (or the given) revision has it."""
    revision = revision or tool.current_revision
    assert revision is not None
    return {
        "id": tool.id,
        "name": revision.name,
        "description": revision.description,
        "code": revision.code,
        "language": revision.language,
        "input_schema": revision.input_schema,
        "revision_id": revision.id,
        "runtime_revision_id": revision.runtime_revision_id or None,
    }
