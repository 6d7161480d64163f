"""The output collector's cut points: what is kept, what is told, what a cut says."""

from sandbox.events import OutputEvent, RunEvent
from sandbox.results import OutputCollector


def collector(max_bytes: int) -> tuple[OutputCollector, list[RunEvent]]:
    told: list[RunEvent] = []

    async def emit(event: RunEvent) -> None:
        told.append(event)

    return OutputCollector(max_bytes, emit), told


async def test_a_character_split_between_reads_comes_out_whole() -> None:
    output, told = collector(100)
    euro = "€".encode()
    await output.add("stdout", b"a" + euro[:1])
    await output.add("stdout", euro[1:] + b"b")
    assert output.text("stdout") == "a€b"
    assert "".join(e.text for e in told if isinstance(e, OutputEvent)) == "a€b"


async def test_output_is_cut_at_the_cap_with_a_note_and_the_rest_is_dropped() -> None:
    output, told = collector(10)
    await output.add("stdout", b"0123456789abc")
    await output.add("stdout", b"more")
    text = output.text("stdout")
    assert text.startswith("0123456789\n[Sandpit: stdout cut at 10 bytes")
    assert "abc" not in text and "more" not in text
    assert output.truncated == {"stdout": True, "stderr": False}
    assert told[-1] == OutputEvent("stdout", text)


async def test_a_cut_inside_a_character_leaves_a_replacement_not_an_error() -> None:
    output, _ = collector(2)
    await output.add("stderr", "a€".encode())
    assert output.text("stderr").startswith("a\ufffd\n[Sandpit: stderr cut")


async def test_what_is_dropped_still_counts_towards_a_runaway() -> None:
    output, _ = collector(4)
    for _ in range(16):
        await output.add("stdout", b"xxxx")
    assert not output.runaway("stdout")
    await output.add("stdout", b"x")
    assert output.runaway("stdout")
    assert not output.runaway("stderr")


async def test_sandpit_s_note_starts_on_a_line_of_its_own() -> None:
    output, _ = collector(100)
    await output.add("stderr", b"no newline")
    await output.note("the run was stopped.")
    assert output.text("stderr") == "no newline\nSandpit: the run was stopped.\n"
