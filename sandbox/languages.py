"""Every language Sandpit runs, named once.

A language belongs to a family: the interpreter in the sandbox image that runs it, with
its worker and its warm pool. The API's language enum, the history filter, the editor's
picker and modes, the permalink page, the container command and the custom runtimes'
manifests are all read from the two tables below. To add a language, see the README's
"Adding a language".
"""

from dataclasses import dataclass
from enum import StrEnum


class Family(StrEnum):
    PYTHON = "python"
    NODE = "node"


class Language(StrEnum):
    PYTHON = "python"
    JAVASCRIPT = "javascript"
    TYPESCRIPT = "typescript"

    @property
    def spec(self) -> "LanguageSpec":
        return LANGUAGES[self]

    @property
    def family(self) -> Family:
        """The interpreter that runs it: one warm pool per image and family."""
        return LANGUAGES[self].family


@dataclass(frozen=True)
class FamilySpec:
    family: Family
    # The worker the supervisor starts for each run, as uid 1000 (sandbox/agent/).
    worker_command: tuple[str, ...]
    # On top of what a run asks for: the supervisor (about 10 MiB) and the resting
    # interpreter (Python's about 10 MiB, Node's heap about 40 MiB), so that a "16 MiB"
    # run has about 16 MiB for its own data.
    agent_memory_mib: int
    # A custom runtime of this family installs packages from this manifest file.
    manifest: str
    # The language a custom runtime of this family is created as (Riza's word).
    runtime_language: Language
    # The worker started from a startup snapshot instead, in an image whose label
    # (SNAPSHOT_LABEL) says it has one: images built before it keep worker_command.
    snapshot_command: tuple[str, ...] = ()

    def command_for(self, image_labels: dict[str, str]) -> tuple[str, ...]:
        if self.snapshot_command and image_labels.get(SNAPSHOT_LABEL):
            return self.snapshot_command
        return self.worker_command


# Set by the base image's Dockerfile (sandbox/agent/) on images with Node's snapshot.
SNAPSHOT_LABEL = "sandpit.node-snapshot"


@dataclass(frozen=True)
class LanguageSpec:
    language: Language
    display_name: str
    family: Family
    # The name the code is written to in the sandbox's working directory.
    suffix: str
    # The CodeMirror language the editor and the permalink page highlight it with.
    editor_mode: str

    @property
    def name(self) -> str:
        return self.language.value

    @property
    def runtime_language(self) -> Language:
        """The language of the custom runtimes that may run it."""
        return FAMILIES[self.family].runtime_language


FAMILIES: dict[Family, FamilySpec] = {
    Family.PYTHON: FamilySpec(
        family=Family.PYTHON,
        worker_command=("/usr/bin/python3", "-I", "-u", "-B", "/opt/sandpit/worker.py"),
        agent_memory_mib=24,
        manifest="requirements.txt",
        runtime_language=Language.PYTHON,
    ),
    Family.NODE: FamilySpec(
        family=Family.NODE,
        worker_command=("/usr/bin/node", "--stack-size=2048", "/opt/sandpit/worker.js"),
        agent_memory_mib=64,
        manifest="package.json",
        runtime_language=Language.JAVASCRIPT,
        # The flags must be those the snapshot was built with (sandbox/agent/Dockerfile).
        snapshot_command=(
            "/usr/bin/node",
            "--stack-size=2048",
            "--snapshot-blob",
            "/opt/sandpit/worker.blob",
        ),
    ),
}

LANGUAGES: dict[Language, LanguageSpec] = {
    Language.PYTHON: LanguageSpec(
        Language.PYTHON, "Python 3.13", Family.PYTHON, suffix=".py", editor_mode="python"
    ),
    Language.JAVASCRIPT: LanguageSpec(
        Language.JAVASCRIPT,
        "JavaScript (Node 20)",
        Family.NODE,
        suffix=".js",
        editor_mode="javascript",
    ),
    Language.TYPESCRIPT: LanguageSpec(
        Language.TYPESCRIPT, "TypeScript", Family.NODE, suffix=".ts", editor_mode="typescript"
    ),
}

# The languages a custom runtime may be created as: one per family.
RUNTIME_LANGUAGES = tuple(spec.runtime_language for spec in FAMILIES.values())


def runtime_language_choices() -> list[tuple[str, str]]:
    return [(name.value, LANGUAGES[name].display_name) for name in RUNTIME_LANGUAGES]


def names() -> str:
    """The languages for a message: "python, javascript, typescript"."""
    return ", ".join(LANGUAGES)


def serves(runtime_language: str, language: str) -> bool:
    """Whether a custom runtime created as `runtime_language` may run `language`."""
    spec = LANGUAGES.get(language)  # type: ignore[call-overload]
    return spec is not None and spec.runtime_language == runtime_language


def family_of_manifest(manifest: str) -> Family | None:
    return next((f.family for f in FAMILIES.values() if f.manifest == manifest), None)


def _check() -> None:
    missing = set(Language) - set(LANGUAGES) or set(Family) - set(FAMILIES)
    if missing:
        raise RuntimeError(f"sandbox/languages.py names no spec for {sorted(missing)}")


_check()
