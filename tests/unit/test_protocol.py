"""The agent's stream, read as hostile input."""

import asyncio
import importlib.util
import struct

import pytest

from sandbox.images import AGENT_DIR
from sandbox.protocol import AgentStream, Frame, ProtocolError, printable


def _docker(stream: int, data: bytes) -> bytes:
    return bytes([stream, 0, 0, 0]) + struct.pack(">I", len(data)) + data


async def _stream(*chunks: bytes) -> AgentStream:
    reader = asyncio.StreamReader()
    for chunk in chunks:
        reader.feed_data(chunk)
    reader.feed_eof()
    return AgentStream(reader)


async def test_frames_split_across_docker_chunks_are_reassembled() -> None:
    frame = b"O" + struct.pack(">I", 5) + b"hello"
    stream = await _stream(_docker(1, frame[:3]), _docker(1, frame[3:]))
    assert await stream.next_frame() == (Frame.STDOUT, b"hello")


@pytest.mark.parametrize(
    "chunk",
    [
        _docker(1, b"Z" + struct.pack(">I", 0)),  # no such frame
        _docker(1, b"O" + struct.pack(">I", 1 << 30)),  # an absurd length
        bytes([1, 0, 0, 0]) + struct.pack(">I", 1 << 30),  # an absurd Docker chunk
        _docker(3, b"x"),  # no such Docker stream
    ],
)
async def test_hostile_frames_are_protocol_errors(chunk: bytes) -> None:
    stream = await _stream(chunk)
    with pytest.raises(ProtocolError):
        await stream.next_frame()


async def test_what_the_container_says_on_stderr_reaches_the_log_without_controls() -> None:
    stream = await _stream(_docker(2, b"boom\x1b[31m\r\x07 \xff\n"))
    with pytest.raises(EOFError):
        await stream.next_frame()
    assert stream.diagnostic_text == "boom\\x1b[31m\\x0d\\x07 \ufffd\n"
    assert printable(b"tab\tok") == "tab\tok"


def test_the_supervisor_and_the_engine_name_the_same_frames() -> None:
    spec = importlib.util.spec_from_file_location("supervisor", AGENT_DIR / "supervisor.py")
    assert spec is not None and spec.loader is not None
    supervisor = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(supervisor)
    assert {frame.name: frame.value for frame in Frame} == supervisor.FRAMES
    # One byte each, and no two alike.
    assert len(set(supervisor.FRAMES.values())) == len(Frame)
    assert all(len(letter) == 1 for letter in supervisor.FRAMES.values())
