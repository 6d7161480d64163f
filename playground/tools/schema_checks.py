"""Tenants' JSON Schemas, checked in worker processes of their own, within a time limit.

A schema's `pattern` and `patternProperties` are a tenant's regular expressions, and
Python's `re` backtracks while holding the GIL: so schemas and inputs are checked in
playground/workers.py's processes, in turn by owner, each check timed from its start.

Nothing is ever fetched: jsonschema would follow a `$ref` to any http(s) or file URL
from the server, outside every sandbox. The registry here refuses every retrieval, and a
schema whose references do not resolve within itself, or that refer to themselves
without end, is refused when it is saved.

The checks answer (field, message) or None: exceptions of ours do not cross processes.
"""

import re
from collections.abc import Iterator, Mapping
from typing import Any

import jsonschema
from jsonschema.exceptions import best_match
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource, Unresolvable

from playground.workers import Overran, WorkerFailed, Workers

CHECK_TIMEOUT_S = 2.0
CHECKERS = 2
CHECKER_MEMORY_BYTES = 1024 * 1024 * 1024
REQUIRED = re.compile(r"^'(.+)' is a required property$")
# Keywords whose subschemas apply to the same instance: a `$ref` loop through them alone
# never reaches a part of the input, so a validator following it recurses for ever.
IN_PLACE = ("allOf", "anyOf", "oneOf", "not", "if", "then", "else")

Problem = tuple[str, str] | None


def _no_retrieval(uri: str) -> Resource:
    raise NoSuchResource(ref=uri)  # type: ignore[call-arg]


REGISTRY: Registry[Any] = Registry(retrieve=_no_retrieval)  # type: ignore[call-arg]


def _validator(schema: Mapping[str, Any]) -> Any:
    return jsonschema.validators.validator_for(schema)(schema, registry=REGISTRY)


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("$ref", "$dynamicRef") and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _in_place(node: Any) -> Iterator[Any]:
    """The subschemas that apply to the same instance as `node`."""
    if not isinstance(node, dict):
        return
    for key in IN_PLACE:
        value = node.get(key)
        if isinstance(value, list):
            yield from value
        elif isinstance(value, dict):
            yield value
    dependent = node.get("dependentSchemas")
    if isinstance(dependent, dict):
        yield from dependent.values()


def _subschemas(node: Any) -> Iterator[dict[str, Any]]:
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _next_in_place(node: dict[str, Any], resolver: Any) -> Iterator[tuple[Any, Any]]:
    """The subschemas evaluated on the same instance as `node`, each with its resolver."""
    ref = node.get("$ref", node.get("$dynamicRef"))
    if isinstance(ref, str):
        resolved = resolver.lookup(ref)
        yield resolved.contents, resolved.resolver
    for sub in _in_place(node):
        yield sub, resolver


def _reference_problem(schema: Mapping[str, Any]) -> str | None:
    """Why the schema's references cannot be followed, or None."""
    resolver = _validator(schema)._resolver
    for ref in _refs(schema):
        try:
            resolver.lookup(ref)
        except Unresolvable:
            return (
                f"refers to {ref[:200]!r}, which is not part of it; references must "
                "point inside the schema (#/...), and nothing is ever fetched"
            )
    # A loop of references through keywords that stay on one instance: a cycle in the
    # graph whose edges are those keywords and $ref, from any subschema (iterative DFS).
    done: set[int] = set()
    for start in _subschemas(schema):
        if id(start) in done:
            continue
        on_path: set[int] = {id(start)}
        stack = [(start, _next_in_place(start, resolver))]
        while stack:
            node, edges = stack[-1]
            step = next(edges, None)
            if step is None:
                stack.pop()
                on_path.discard(id(node))
                done.add(id(node))
                continue
            target, where = step
            if id(target) in on_path:
                return "refers to itself without end (a $ref loop that never reaches the input)"
            if id(target) not in done and isinstance(target, dict):
                on_path.add(id(target))
                stack.append((target, _next_in_place(target, where)))
    return None


def schema_problem(schema: Any) -> Problem:
    """What is wrong with `input_schema`, unless it is a JSON Schema its metaschema takes."""
    if not isinstance(schema, dict):
        return "input_schema", "must be a JSON Schema object"
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        where = ".".join(str(p) for p in exc.absolute_path)
        return (
            "input_schema",
            f"is not valid JSON Schema{' at ' + where if where else ''}: {exc.message}",
        )
    problem = _reference_problem(schema)
    return ("input_schema", problem) if problem else None


def input_problem(schema: Mapping[str, Any], value: Any) -> Problem:
    """The part of the input at fault (`input.a.0`) and what was wanted, or None."""
    if not schema:
        return None
    validator = _validator(schema)
    error = best_match(validator.iter_errors(value))
    if error is None:
        return None
    path = [str(p) for p in error.absolute_path]
    missing = REQUIRED.match(error.message) if error.validator == "required" else None
    if missing:
        path.append(missing.group(1))
    return ".".join(["input", *path]), error.message


class Checkers:
    """Checks in the workers: a Problem back, never an exception."""

    def __init__(self) -> None:
        self._workers = Workers(
            name="schema-checks", count=CHECKERS, memory_bytes=CHECKER_MEMORY_BYTES
        )

    async def check(self, owner: str, field: str, fn: Any, *args: Any) -> Problem:
        try:
            problem: Problem = await self._workers.run(owner, fn, *args, timeout_s=CHECK_TIMEOUT_S)
        except Overran:
            return field, (
                f"took longer than {CHECK_TIMEOUT_S:g} s to check against the schema; "
                "a pattern in it backtracks too much"
            )
        except WorkerFailed as exc:
            return field, f"could not be checked against the schema: {exc}"
        return problem

    def close(self) -> None:
        self._workers.close()


checkers = Checkers()
