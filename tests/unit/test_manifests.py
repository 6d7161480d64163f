"""What a manifest may say: checked on what pip and npm will actually read."""

import json
import time
from collections.abc import Callable

import pytest

from sandbox.builds.manifests import (
    MAX_MANIFEST_CHARS,
    NPM_NAME,
    NPM_VERSION_RANGE,
    PYTHON_MODULE,
    invalid_imports,
    is_requirement,
    manifest_problem,
)

# Inputs a backtracking pattern takes O(n²) steps or worse to refuse: long runs of what
# two neighbouring parts could both match, failing only at the very end.
HOSTILE_LINE = "a" * 64_000 + "@"
# Linear patterns refuse each of these in about a millisecond; a quadratic one in seconds.
LINEAR_TIME_S = 0.1


@pytest.mark.parametrize(
    "contents",
    [
        "six==1.17.0\n",
        "requests[socks]>=2.31,<3 ; python_version >= '3.8'\n# a comment\n",
        "numpy\npandas~=2.2\n",
    ],
)
def test_it_accepts_packages_by_name(contents: str) -> None:
    assert manifest_problem("requirements.txt", contents) == ""


@pytest.mark.parametrize(
    ("contents", "said"),
    [
        ("# -*- coding: utf-7 -*-\nsix +AEA- http+ADo-//127.0.0.1/x.whl\n", "encoding"),
        ("six\n# vim: set fileencoding=latin-1 :\n", "encoding"),
        ("\ufeffsix\n", "U+FEFF"),
        ("six \\\n@ http://127.0.0.1:9/x.whl\n", "is not a package"),
        ("six==${VERSION}\n", "is not a package"),
        ("--index-url http://127.0.0.1:9/simple\n", "is not a package"),
        ("pkg @ http://127.0.0.1:9/pkg.whl\n", "is not a package"),
        ("./local/folder\n", "is not a package"),
        ("six\x0b\n", "U+000B"),
    ],
)
def test_it_refuses_what_would_make_pip_fetch_from_elsewhere(contents: str, said: str) -> None:
    assert said in manifest_problem("requirements.txt", contents)


@pytest.mark.parametrize(
    "section",
    ["dependencies", "devDependencies", "optionalDependencies", "peerDependencies"],
)
def test_it_checks_every_npm_dependency_section(section: str) -> None:
    good = json.dumps({section: {"is-number": "^7.0.0", "@scope/pkg": "1.x"}})
    bad = json.dumps({section: {"x": "http://127.0.0.1:9/x.tgz"}})
    assert manifest_problem("package.json", good) == ""
    assert section in manifest_problem("package.json", bad)


@pytest.mark.parametrize(
    "package",
    [
        {"overrides": {"foo": "git+http://127.0.0.1:9/x.git"}},
        {"overrides": {"foo": {"bar": "file:../x"}}},
        {"overrides": {"foo@http://127.0.0.1/x": "1.0.0"}},
        {"dependencies": {"../escape": "1.0.0"}},
        {"dependencies": {"alias": "npm:other@1.0.0"}},
        {"bundleDependencies": ["../x"]},
        {"workspaces": ["packages/*"]},
    ],
)
def test_it_refuses_npm_sources_outside_the_registry(package: dict[str, object]) -> None:
    assert manifest_problem("package.json", json.dumps(package)) != ""


def test_npm_overrides_by_name_and_range_are_fine() -> None:
    package = {"overrides": {"foo": "1.0.0", "bar@^2": {"baz": "3.x"}, ".": "1.0.0"}}
    assert manifest_problem("package.json", json.dumps(package)) == ""


def test_imports_must_be_module_names() -> None:
    assert invalid_imports("six, os.path numpy") == []
    assert invalid_imports("six; __import__('os')") == ["six;", "__import__('os')"]


def test_it_refuses_a_hostile_line_by_its_length_at_once() -> None:
    started = time.perf_counter()
    problem = manifest_problem("requirements.txt", f"six\n{HOSTILE_LINE}\n")
    assert time.perf_counter() - started < LINEAR_TIME_S
    assert problem.startswith("line 2 is longer than")


def test_it_refuses_a_manifest_past_its_size() -> None:
    assert "at most" in manifest_problem("package.json", " " * (MAX_MANIFEST_CHARS + 1))


@pytest.mark.parametrize(
    ("check", "text"),
    [
        (is_requirement, HOSTILE_LINE),
        (is_requirement, "a[" + "a" * 64_000),
        (is_requirement, "a" + "." * 64_000 + "@"),
        (PYTHON_MODULE.match, "a." * 32_000 + "!"),
        (NPM_NAME.match, "@" + "a" * 64_000 + "!"),
        (NPM_NAME.match, "a" * 64_000 + "/"),
        (NPM_VERSION_RANGE.match, "1" * 64_000 + "@"),
    ],
)
def test_every_pattern_refuses_a_long_hostile_input_in_linear_time(
    check: Callable[[str], object], text: str
) -> None:
    started = time.perf_counter()
    assert not check(text)
    assert time.perf_counter() - started < LINEAR_TIME_S


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("requests[socks,security]>=2.31,<3", True),
        ("pkg[extra] ; python_version >= '3.8'", True),
        ("pkg[extra", False),
        ("pkg [extra]", False),
        ("-e .", False),
        ("pkg @ http://127.0.0.1/x.whl", False),
    ],
)
def test_a_requirement_is_a_name_extras_and_specifiers(line: str, expected: bool) -> None:
    assert is_requirement(line) is expected
