"""No pattern of the server's own can backtrack without bound: Python's `re` holds the
GIL while it matches, so one slow match on tenant input stops every request and run.

Every literal pattern under playground/ and sandbox/ (the agents inside containers
aside: they only hurt their own run) is parsed with re's own parser and refused when a
quantifier repeats something that itself repeats without bound (`(a+)+`: exponential),
or when two unbounded repeats that can match the same character stand side by side
(`\\w+\\w*`: polynomial). Tenants' own patterns (JSON Schema `pattern`) never run in the
server: playground/workers.py runs them.
"""

import ast

# re's own parser, as re uses it (Python 3.11+; sre_parse before).
import re._constants as sre  # type: ignore[import-not-found]
import re._parser as sre_parse  # type: ignore[import-not-found]
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
SERVER_CODE = ("playground", "sandbox")
NOT_SERVER_CODE = ("sandbox/agent", "migrations")
RE_CALLS = {
    "compile",
    "match",
    "search",
    "fullmatch",
    "findall",
    "finditer",
    "sub",
    "subn",
    "split",
}
ALPHABET = frozenset(range(256))  # enough to tell whether two classes share a character
UNBOUNDED = sre.MAXREPEAT


def _category(name: Any) -> frozenset[int]:
    tests: dict[Any, Callable[[str], bool]] = {
        sre.CATEGORY_DIGIT: str.isdigit,
        sre.CATEGORY_SPACE: str.isspace,
        sre.CATEGORY_WORD: lambda c: c.isalnum() or c == "_",
    }
    for positive, test in tests.items():
        if name == positive:
            return frozenset(c for c in ALPHABET if test(chr(c)))
    negated = {
        sre.CATEGORY_NOT_DIGIT: sre.CATEGORY_DIGIT,
        sre.CATEGORY_NOT_SPACE: sre.CATEGORY_SPACE,
        sre.CATEGORY_NOT_WORD: sre.CATEGORY_WORD,
    }
    return ALPHABET - _category(negated[name]) if name in negated else ALPHABET


def _first(items: Any) -> frozenset[int]:
    """The characters a (sub)pattern may start with (an over-estimate is safe)."""
    found: set[int] = set()
    for op, arg in items:
        if op is sre.LITERAL:
            return frozenset(found | {arg})
        if op is sre.NOT_LITERAL:
            return frozenset(found | (ALPHABET - {arg}))
        if op is sre.ANY:
            return ALPHABET
        if op is sre.IN:
            chars: set[int] = set()
            negate = False
            for kind, value in arg:
                if kind is sre.NEGATE:
                    negate = True
                elif kind is sre.LITERAL:
                    chars.add(value)
                elif kind is sre.RANGE:
                    chars.update(range(value[0], min(value[1], 255) + 1))
                elif kind is sre.CATEGORY:
                    chars.update(_category(value))
            return frozenset(found | (ALPHABET - chars if negate else chars))
        if op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
            found |= _first(arg[2])
            if arg[0] > 0:
                return frozenset(found)
            continue
        if op is sre.SUBPATTERN:
            return frozenset(found | _first(arg[-1]))
        if op is sre.BRANCH:
            return frozenset(found.union(*(_first(b) for b in arg[1])))
        if op is sre.AT:
            continue
        return ALPHABET  # anything else: assume the worst
    return frozenset(found)


def _unbounded_sets(items: Any) -> Iterator[frozenset[int]]:
    """The characters of each repeat without bound inside a (sub)pattern."""
    for op, arg in items:
        if op in (sre.MAX_REPEAT, sre.MIN_REPEAT):
            if arg[1] is UNBOUNDED:
                yield _first(arg[2])
            yield from _unbounded_sets(arg[2])
        elif op is sre.SUBPATTERN:
            yield from _unbounded_sets(arg[-1])
        elif op is sre.BRANCH:
            for branch in arg[1]:
                yield from _unbounded_sets(branch)


def backtracking_problems(pattern: str | bytes) -> Iterator[str]:
    """What in `pattern` can backtrack without bound; nothing for a safe one."""
    yield from _walk(sre_parse.parse(pattern))


def _walk(items: Any) -> Iterator[str]:
    previous: frozenset[int] | None = None  # the set of an unbounded repeat just before
    for op, arg in items:
        if op in (sre.MAX_REPEAT, sre.MIN_REPEAT):
            low, high, body = arg
            # Nested repeats backtrack exponentially when one pass of the outer can end
            # where the next could begin: the inner's characters can start the body.
            starts = _first(body)
            if high > 1 and any(starts & inner for inner in _unbounded_sets(body)):
                yield "a repeat of something that itself repeats without bound (nested)"
            if high is UNBOUNDED:
                chars = _first(body)
                if previous is not None and previous & chars:
                    yield "two unbounded repeats side by side that share characters"
                previous = chars
                yield from _walk(body)
                continue
            yield from _walk(body)
            if low > 0:
                previous = None
            continue
        if op is sre.SUBPATTERN:
            yield from _walk(arg[-1])
        elif op is sre.BRANCH:
            for branch in arg[1]:
                yield from _walk(branch)
        if op is not sre.AT:
            previous = None


def literal_patterns() -> Iterator[tuple[str, int, str | bytes]]:
    for top in SERVER_CODE:
        for path in sorted((REPO / top).rglob("*.py")):
            where = path.relative_to(REPO).as_posix()
            if any(part in where for part in NOT_SERVER_CODE):
                continue
            for node in ast.walk(ast.parse(path.read_text(), filename=where)):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr in RE_CALLS
                    and isinstance(node.func.value, ast.Name)
                    and node.func.value.id == "re"
                    and node.args
                    and isinstance(node.args[0], ast.Constant)
                    and isinstance(node.args[0].value, str | bytes)
                ):
                    yield where, node.lineno, node.args[0].value


def test_the_checker_finds_the_patterns_that_backtrack() -> None:
    # The last: manifests' old requirement pattern, 23 s on one 64 kB line.
    old_requirement = (
        r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9._,\s-]*\])?[A-Za-z0-9<>=!~.,*+\s;'\"()_-]*$"
    )
    for bad in (r"^(a+)+$", r"(\w+\s?)*$", r"\d+\d+x", r"(x+x+)+y", old_requirement):
        assert list(backtracking_problems(bad)), bad
    for good in (
        r'"[^"]*"',
        rb"[][{}:,]",
        r"^[A-Za-z0-9_-]+$",
        r"^'(.+)' is a required property$",
        r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$",
    ):
        assert not list(backtracking_problems(good)), good


def test_the_server_has_patterns_to_check() -> None:
    assert len(list(literal_patterns())) >= 5


@pytest.mark.parametrize(
    ("where", "line", "pattern"),
    [pytest.param(w, n, p, id=f"{w}:{n}") for w, n, p in literal_patterns()],
)
def test_no_pattern_of_the_server_backtracks_without_bound(
    where: str, line: int, pattern: str | bytes
) -> None:
    problems = list(backtracking_problems(pattern))
    assert not problems, f"{where}:{line} {pattern!r}: {problems[0]}"
