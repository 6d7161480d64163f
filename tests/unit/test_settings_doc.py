"""docs/settings.md names every environment variable the code reads, and no other.

The variables are found by reading the source (every `envstr("X", …)`-like call,
`os.environ.get("X")`, `os.getenv("X")` and `os.environ["X"]`), so a new setting without
a line in the docs fails here the day it is added.
"""

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "settings.md"
READERS = {"envstr", "envint", "envbool", "envfloat", "envjson", "envchoice", "getenv"}
# Read by the libraries Sandpit uses, not by its own code.
READ_BY_LIBRARIES = {"DOCKER_HOST"}
TABLE_NAME = re.compile(r"^\| `([A-Z][A-Z0-9_]*)` \|", re.MULTILINE)


def _literal(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _is_environ(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "environ"


def names_read(source: str) -> set[str]:
    """The environment variables a module reads by a literal name."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            by_environ_get = name == "get" and _is_environ(getattr(func, "value", None))
            if name in READERS or by_environ_get:
                found.add(_literal(node.args[0]) or "")
        elif (
            isinstance(node, ast.Subscript)
            and isinstance(node.ctx, ast.Load)
            and _is_environ(node.value)
        ):
            found.add(_literal(node.slice) or "")
    return found - {""}


def code_reads() -> set[str]:
    names: set[str] = set()
    for folder in ("playground", "sandbox"):
        for path in (REPO / folder).rglob("*.py"):
            names |= names_read(path.read_text(encoding="utf-8"))
    return names


def test_the_reader_finds_each_way_of_reading() -> None:
    source = (
        'import os\nA = envint("A_INT", 1)\nB = os.environ.get("B_GET")\n'
        'C = os.environ["C_ITEM"]\nD = os.getenv("D_GETENV")\nos.environ["SET"] = "x"\n'
        'os.environ.setdefault("DEFAULT", "x")\n'
    )
    assert names_read(source) == {"A_INT", "B_GET", "C_ITEM", "D_GETENV"}


def test_every_variable_the_code_reads_is_documented() -> None:
    doc = DOC.read_text(encoding="utf-8")
    missing = sorted(name for name in code_reads() if f"`{name}`" not in doc)
    assert not missing, f"add these to docs/settings.md: {missing}"


def test_every_documented_variable_is_read() -> None:
    documented = set(TABLE_NAME.findall(DOC.read_text(encoding="utf-8")))
    stale = sorted(documented - code_reads() - READ_BY_LIBRARIES)
    assert not stale, f"docs/settings.md names variables nothing reads: {stale}"
