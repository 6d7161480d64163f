"""What a manifest may say: checked on what pip and npm will actually read."""

import json

import pytest

from sandbox.builds.manifests import invalid_imports, manifest_problem


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
