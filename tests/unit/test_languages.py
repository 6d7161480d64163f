"""The language registry is the one list: everything that names languages reads it."""

import re
from pathlib import Path

import pytest

from sandbox import languages
from sandbox.jobs import File, JobKind, validate_file_path, validate_job
from sandbox.languages import FAMILIES, LANGUAGES, Family, Language
from tests.runs import script

ROOT = Path(__file__).resolve().parents[2]


def test_every_language_and_family_has_its_entry() -> None:
    assert set(LANGUAGES) == set(Language)
    assert set(FAMILIES) == set(Family)
    for language, spec in LANGUAGES.items():
        assert spec.language is language
        assert spec.suffix.startswith(".")
        assert spec.runtime_language in languages.RUNTIME_LANGUAGES


def test_a_runtime_serves_the_languages_of_its_family() -> None:
    assert languages.serves("javascript", "typescript")
    assert languages.serves("python", "python")
    assert not languages.serves("python", "javascript")
    assert not languages.serves("javascript", "cobol")


def test_the_editor_has_a_mode_for_every_language() -> None:
    modes = (ROOT / "static/js/modes.js").read_text()
    declared = set(re.findall(r"^  (\w+): \(\) =>", modes, re.M))
    assert {spec.editor_mode for spec in LANGUAGES.values()} <= declared


def test_no_other_module_lists_the_languages() -> None:
    # The names may appear as values, never as a list of them all outside the registry.
    listing = re.compile(r"python.{0,40}javascript.{0,40}typescript", re.S)
    sources = [*ROOT.glob("playground/**/*.py"), *ROOT.glob("sandbox/**/*.py")]
    sources += [*ROOT.glob("templates/*.html"), *ROOT.glob("static/js/*.js")]
    offenders = [
        str(path.relative_to(ROOT))
        for path in sources
        # modes.js lists CodeMirror's modes, which the registry's editor_mode names.
        if path.name not in ("languages.py", "modes.js")
        and "migrations" not in path.parts
        and "vendor" not in path.parts
        and listing.search(path.read_text())
    ]
    assert offenders == []


def test_an_unknown_language_is_refused_by_name() -> None:
    job = script("python", "print(1)")
    object.__setattr__(job, "language", "cobol")
    with pytest.raises(ValueError, match="python, javascript, typescript"):
        validate_job(job, max_timeout_s=30, max_memory_mib=256)
    assert job.kind is JobKind.SCRIPT


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("", "empty"),
        ("/etc/passwd", "relative"),
        ("../up", "climb"),
        ("a/../../b", "climb"),
        ("dir/", "folder"),
        (".", "folder"),
        ("a\x00b", "NUL"),
        ("x" * 2000, "longer"),
    ],
)
def test_file_paths_outside_the_working_directory_are_refused(path: str, reason: str) -> None:
    assert reason in validate_file_path(path)


def test_file_paths_inside_it_are_fine_and_a_path_named_twice_is_not() -> None:
    assert validate_file_path("data/input.csv") == ""
    assert validate_file_path("./a.txt") == ""
    files = [File("a.txt", "1"), File("./a.txt", "2")]
    with pytest.raises(ValueError, match="second time"):
        validate_job(script("python", "", files=files), max_timeout_s=30, max_memory_mib=256)


def test_node_starts_from_a_snapshot_only_in_images_labelled_with_one() -> None:
    node, python = FAMILIES[Family.NODE], FAMILIES[Family.PYTHON]
    labelled = {languages.SNAPSHOT_LABEL: "/opt/sandpit/worker.blob"}
    assert "--snapshot-blob" in node.command_for(labelled)
    # A runtime revision built on an older base image has no snapshot: the script.
    assert node.command_for({}) == node.worker_command
    assert python.command_for(labelled) == python.worker_command
    # The Dockerfile builds the snapshot with the very flags it is started with.
    dockerfile = (ROOT / "sandbox" / "agent" / "Dockerfile").read_text()
    assert languages.SNAPSHOT_LABEL in dockerfile
    for flag in node.snapshot_command[1:]:
        assert f'"{flag}"' in dockerfile
