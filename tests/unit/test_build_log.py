"""A build's log: lines as they come in pieces, clean, and bounded."""

from sandbox.builds.log import (
    LOG_TAIL_BYTES,
    MAX_BUILD_LOG_BYTES,
    MAX_LINE_CHARS,
    BuildLog,
    LineSplitter,
)


def test_lines_split_across_chunks_come_out_whole_and_clean() -> None:
    splitter = LineSplitter()
    lines = splitter.feed(b"Collecting si") + splitter.feed(
        b"x\r\n\x1b[31mERROR:\x1b[0m bad\x07\rdone"
    )
    assert lines == ["Collecting six", "ERROR: bad?"]
    assert splitter.close() == ["done"]


def test_an_endless_line_is_cut() -> None:
    splitter = LineSplitter()
    lines = splitter.feed(b"x" * (MAX_LINE_CHARS * 5))
    assert lines and all(len(line) <= MAX_LINE_CHARS + 4 for line in lines)


def test_a_long_log_keeps_its_head_and_its_tail() -> None:
    log = BuildLog()
    for i in range(50_000):
        log.add(f"line {i:06d} " + "x" * 40)
    text = log.text()
    assert len(text) <= MAX_BUILD_LOG_BYTES + 100
    assert text.startswith("line 000000")
    assert text.endswith("line 049999 " + "x" * 40)
    assert "lines left out" in text
    assert log.tail_size <= LOG_TAIL_BYTES
