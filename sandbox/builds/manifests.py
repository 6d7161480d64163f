"""What a manifest may say: packages from the package indexes by name, nothing else.

Checked on what pip and npm will actually read. pip honours a PEP 263 coding line and a
byte-order mark (a `# -*- coding: utf-7 -*-` line turns `+AC0-` into `-`), joins lines
ending in a backslash and expands `${VARS}`; npm reads every dependency section, dev
ones included, and overrides. The fetch step's proxy refuses any host but the indexes
in any case: this check is what gives the user a clear 400 first.
"""

import json
import re
from typing import Any

from sandbox.languages import Family, family_of_manifest

# A manifest's size and a requirement line's length are checked before any pattern sees
# them: the checks run on the server's event loop, and a pattern's time grows with its
# input. No real requirements.txt comes near either.
MAX_MANIFEST_CHARS = 64 * 1024
MAX_REQUIREMENT_LINE_CHARS = 1024
# Every pattern here is linear: no quantifier over a group that can match in two ways,
# and no two quantified classes side by side that share a character.
PYTHON_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
# A PEP 508 requirement by name: extras, version specifiers, markers; no URL, path,
# option, line continuation or variable. Three patterns matched one after the other, each
# from where the last ended: as one pattern, the name's characters being the specifiers'
# too, a long line that fails at its end was tried again at every split of the two
# (O(n²): one 64 kB line held the server, GIL and all, for 23 s).
REQUIREMENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
REQUIREMENT_EXTRAS = re.compile(r"\[[A-Za-z0-9._,\s-]*\]")
REQUIREMENT_SPECIFIERS = re.compile(r"[A-Za-z0-9<>=!~.,*+\s;'\"()_-]*")
# pip's own test for an encoding declaration, on any comment line, not just the first two.
CODING = re.compile(r"coding[:=]", re.IGNORECASE)
# Characters no manifest needs and some parsers treat specially.
FORBIDDEN_CHARACTERS = re.compile(r"[\ufeff\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u2028\u2029]")
NPM_NAME = re.compile(r"^(@[a-z0-9][a-z0-9._~-]*/)?[a-z0-9][a-z0-9._~-]*$")
NPM_VERSION_RANGE = re.compile(r"^[0-9A-Za-z.^~<>=|*+\s-]*$")
NPM_DEPENDENCY_SECTIONS = (
    "dependencies",
    "devDependencies",
    "optionalDependencies",
    "peerDependencies",
)
NPM_BUNDLE_SECTIONS = ("bundleDependencies", "bundledDependencies")
# package.json fields that make npm read from elsewhere than the registry.
NPM_REFUSED_FIELDS = ("workspaces",)
MAX_OVERRIDE_DEPTH = 8


def invalid_imports(text: str) -> list[str]:
    return [m for m in text.replace(",", " ").split() if not PYTHON_MODULE.match(m)]


def is_requirement(line: str) -> bool:
    """A requirement by name from the index (a stripped line, no comment); linear time."""
    name = REQUIREMENT_NAME.match(line)
    if name is None:
        return False
    extras = REQUIREMENT_EXTRAS.match(line, name.end())
    rest = extras.end() if extras else name.end()
    return REQUIREMENT_SPECIFIERS.fullmatch(line, rest) is not None


def manifest_problem(manifest_name: str, contents: str) -> str:
    """Why a manifest is refused, or ""."""
    if len(contents) > MAX_MANIFEST_CHARS:
        return f"a manifest may have at most {MAX_MANIFEST_CHARS} characters"
    bad = FORBIDDEN_CHARACTERS.search(contents)
    if bad:
        return (
            f"character U+{ord(bad.group()):04X} is not allowed in a manifest "
            "(no byte-order mark or control characters)"
        )
    if family_of_manifest(manifest_name) is Family.PYTHON:
        return _requirements_problem(contents)
    return _package_json_problem(contents)


def _requirements_problem(contents: str) -> str:
    for number, raw in enumerate(contents.splitlines(), start=1):
        if len(raw) > MAX_REQUIREMENT_LINE_CHARS:
            return (
                f"line {number} is longer than {MAX_REQUIREMENT_LINE_CHARS} characters; "
                "a requirement is a package's name, extras, version and markers"
            )
        code, hash_mark, comment = raw.partition("#")
        if hash_mark and CODING.search(comment):
            return f"line {number}: encoding declarations are not allowed; send UTF-8"
        line = code.strip()
        if not line:
            continue
        if not is_requirement(line):
            return (
                f"line {number}: {line!r} is not a package from the index "
                "(name, extras, version, markers; no URLs, paths, variables or pip options)"
            )
    return ""


def _package_json_problem(contents: str) -> str:
    try:
        package = json.loads(contents)
    except ValueError as exc:
        return f"package.json is not valid JSON: {exc}"
    if not isinstance(package, dict):
        return "package.json must be a JSON object"
    for name in NPM_REFUSED_FIELDS:
        if name in package:
            return f"{name} is not supported: a runtime installs packages from the registry"
    for section in NPM_DEPENDENCY_SECTIONS:
        problem = _dependencies_problem(section, package.get(section, {}))
        if problem:
            return problem
    for section in NPM_BUNDLE_SECTIONS:
        bundled = package.get(section, [])
        if isinstance(bundled, bool):
            continue
        if not isinstance(bundled, list) or not all(
            isinstance(n, str) and NPM_NAME.match(n) for n in bundled
        ):
            return f"{section} must be a list of package names"
    return _overrides_problem("overrides", package.get("overrides", {}), 0)


def _dependencies_problem(section: str, dependencies: Any) -> str:
    if not isinstance(dependencies, dict):
        return f"{section} must be an object of package names and versions"
    for name, version in dependencies.items():
        if not NPM_NAME.match(name):
            return f"{section}: {name!r} is not an npm package name"
        if not isinstance(version, str) or not NPM_VERSION_RANGE.match(version):
            return (
                f"{section}.{name}: {version!r} is not a version range from the registry "
                "(no URLs, git, file:, npm: or github: sources)"
            )
    return ""


def _overrides_problem(where: str, overrides: Any, depth: int) -> str:
    if depth > MAX_OVERRIDE_DEPTH:
        return f"{where} nests too deeply"
    if not isinstance(overrides, dict):
        return f"{where} must be an object"
    for key, value in overrides.items():
        at = key.find("@", 1)
        name, version_range = (key[:at], key[at + 1 :]) if at > 0 else (key, "")
        if key != "." and not (NPM_NAME.match(name) and NPM_VERSION_RANGE.match(version_range)):
            return f"{where}: {key!r} is not an npm package name with an optional range"
        if isinstance(value, dict):
            problem = _overrides_problem(f"{where}.{key}", value, depth + 1)
            if problem:
                return problem
        elif not isinstance(value, str) or not NPM_VERSION_RANGE.match(value):
            return f"{where}.{key}: {value!r} is not a version range from the registry"
    return ""
