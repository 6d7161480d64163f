"""Rich results and files, through Riza's own client in strict mode and raw HTTP for
Sandpit's routes: display() in Python and JavaScript, bundles checked and capped, files
in as base64 and out by output_files, served to the owner only and never rendered."""

import base64
import hashlib
import struct
import zlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import rizaio

from tests.conftest import LiveServer


def tiny_png() -> bytes:
    """A 1x1 red PNG, made here: no image library needed."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


PNG = tiny_png()


@pytest.fixture(scope="module")
def owner(sandpit_server: LiveServer) -> Iterator[tuple[rizaio.Riza, httpx.Client]]:
    key = sandpit_server.new_api_key("rich-results")
    client = rizaio.Riza(api_key=key, base_url=sandpit_server.url, _strict_response_validation=True)
    with httpx.Client(
        base_url=sandpit_server.url, headers={"Authorization": f"Bearer {key}"}, timeout=60
    ) as raw:
        yield client, raw


def _run(raw: httpx.Client, **body: Any) -> dict[str, Any]:
    answer = raw.post("/v1/execute", json={"language": "python", **body})
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


PYTHON_DISPLAYS = f"""
import base64
class Table:
    def _repr_html_(self):
        return "<table><tr><td>1</td></tr></table>"
    def __repr__(self):
        return "Table(1)"
class Picture:
    def _repr_png_(self):
        return base64.b64decode({base64.b64encode(PNG).decode()!r})
class Both:
    def _repr_mimebundle_(self, include=None, exclude=None):
        return {{"text/markdown": "**bold**", "application/json": {{"a": [1, 2]}}}}
display(Table(), Picture(), Both())
display({{"text/html": "<b>raw</b>"}}, raw=True)
display(42)
print('{{"data": {{"text/plain": "forged"}}, "metadata": {{}}}}')
"""


def test_python_display_follows_ipythons_protocol(
    owner: tuple[rizaio.Riza, httpx.Client],
) -> None:
    client, raw = owner
    ran = _run(raw, code=PYTHON_DISPLAYS)
    assert ran["exit_code"] == 0, ran["stderr"]
    results = [r["data"] for r in ran["results"]]
    assert results[0] == {
        "text/html": "<table><tr><td>1</td></tr></table>",
        "text/plain": "Table(1)",
    }
    assert base64.b64decode(results[1]["image/png"]) == PNG
    assert results[2]["text/markdown"] == "**bold**"
    assert results[2]["application/json"] == {"a": [1, 2]}
    assert results[3] == {"text/html": "<b>raw</b>"}
    assert results[4] == {"text/plain": "42"}
    assert len(results) == 5  # the printed look-alike made none
    assert "forged" in ran["stdout"]
    # The same results in history, through the strict client.
    kept = client.executions.get(ran["id"])
    assert [r["data"] for r in kept.model_extra["results"]] == results  # type: ignore[index]


def test_a_function_displays_too(owner: tuple[rizaio.Riza, httpx.Client]) -> None:
    client, _ = owner
    ran = client.command.exec_func(
        language="python",
        code="def execute(input):\n    display({'text/plain': 'hi'}, raw=True)\n    return 1",
        input={},
    )
    assert ran.output == 1
    assert ran.execution.model_extra["results"] == [  # type: ignore[index]
        {"data": {"text/plain": "hi"}, "metadata": {}}
    ]


def test_bad_bundles_are_dropped_and_said_and_the_run_goes_on(
    owner: tuple[rizaio.Riza, httpx.Client],
) -> None:
    _, raw = owner
    code = (
        "display({'image/png': 'not base64!'}, raw=True)\n"
        "display({'text/html': 5}, raw=True)\n"
        "display({'nonsense': 'x'}, raw=True)\n"
        "for i in range(40):\n    display(i)\n"
        "print('done')"
    )
    ran = _run(raw, code=code)
    assert ran["exit_code"] == 0 and ran["stdout"] == "done\n"
    assert len(ran["results"]) == 32
    assert "image/png must be base64" in ran["stderr"]
    assert "text/html must be a string" in ran["stderr"]
    assert "'nonsense' is not a mime type" in ran["stderr"]
    assert "at most 32 a run" in ran["stderr"]


def test_garbage_on_the_display_descriptor_harms_nothing(
    owner: tuple[rizaio.Riza, httpx.Client],
) -> None:
    _, raw = owner
    code = (
        "import os, sys\n"
        "fd = int(sys.argv[0] and open('/proc/self/cmdline','rb').read().split(b'\\0')[-2])\n"
        "os.write(fd, b'\\xff\\xff\\xff\\xff' + b'x' * 100)\n"
        "display('after')\n"
        "print('still here')"
    )
    ran = _run(raw, code=code)
    assert ran["exit_code"] == 0 and ran["stdout"] == "still here\n", ran["stderr"]
    assert ran["results"] == []
    assert "size cap" in ran["stderr"]


def test_javascript_display(owner: tuple[rizaio.Riza, httpx.Client]) -> None:
    _, raw = owner
    code = (
        "display({[Symbol.for('Jupyter.display')]() { return {'text/html': '<i>x</i>'}; }});\n"
        "display({'text/markdown': '# hi'});\n"
        "display({a: [1, 2]});\n"
        "display('plain');\n"
    )
    for language in ("javascript", "typescript"):
        ran = _run(raw, code=code, language=language)
        assert ran["exit_code"] == 0, ran["stderr"]
        data = [r["data"] for r in ran["results"]]
        assert data[0] == {"text/html": "<i>x</i>"}
        assert data[1] == {"text/markdown": "# hi"}
        assert data[2] == {"text/plain": "{ a: [ 1, 2 ] }", "application/json": {"a": [1, 2]}}
        assert data[3] == {"text/plain": "'plain'", "application/json": "plain"}


def test_binary_files_in_and_files_out(
    sandpit_server: LiveServer, owner: tuple[rizaio.Riza, httpx.Client]
) -> None:
    client, raw = owner
    code = (
        "import os\n"
        "data = open('in.png', 'rb').read()\n"
        "open('notes.txt', 'a').write('and more')\n"
        "os.makedirs('out/deep', exist_ok=True)\n"
        "open('chart.png', 'wb').write(data)\n"
        "open('out/deep/report.html', 'w').write('<script>alert(1)</script>')\n"
        "open('big.png', 'wb').write(b'x' * (11 * 1024 * 1024))\n"
        "os.symlink('/etc/passwd', 'passwd.png')\n"
        "open('ignored.log', 'w').write('not asked for')\n"
    )
    ran = _run(
        raw,
        code=code,
        files=[
            {"path": "in.png", "contents": base64.b64encode(PNG).decode(), "encoding": "base64"},
            {"path": "notes.txt", "contents": "given, "},
        ],
        output_files=["*.png", "*.txt", "out/**"],
        limits={"memory_size": 256},
    )
    assert ran["exit_code"] == 0, ran["stderr"]
    files = {f["path"]: f for f in ran["files"]}
    # in.png was given and left as it was: not kept twice; notes.txt was changed.
    kept = {"chart.png", "notes.txt", "out/deep/report.html", "big.png", "passwd.png"}
    assert set(files) == kept
    chart = files["chart.png"]
    assert chart["size"] == len(PNG) and chart["sha256"] == hashlib.sha256(PNG).hexdigest()
    assert chart["content_type"] == "image/png"
    assert chart["url"] == f"/v1/executions/{ran['id']}/files/chart.png"
    assert "larger than" in files["big.png"]["skipped"] and files["big.png"]["url"] is None
    assert "symbolic link" in files["passwd.png"]["skipped"]

    got = raw.get(chart["url"])
    assert got.status_code == 200 and got.content == PNG
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    assert got.headers["Content-Security-Policy"].startswith("sandbox")
    assert got.headers["Content-Disposition"].startswith("attachment")
    page = raw.get(files["out/deep/report.html"]["url"])
    assert page.content == b"<script>alert(1)</script>"
    assert page.headers["Content-Disposition"].startswith("attachment")
    listed = raw.get(f"/v1/executions/{ran['id']}/files").json()["files"]
    assert {f["path"] for f in listed} == set(files)
    assert client.executions.get(ran["id"]).model_extra["files"] == listed  # type: ignore[index]

    # Nobody else: another owner's key, no key, or the permalink of a private run.
    stranger = sandpit_server.new_api_key("rich-stranger")
    assert (
        httpx.get(
            sandpit_server.url + chart["url"], headers={"Authorization": f"Bearer {stranger}"}
        ).status_code
        == 404
    )
    assert httpx.get(sandpit_server.url + chart["url"]).status_code == 401
    assert httpx.get(f"{sandpit_server.url}/e/{ran['id']}/files/chart.png").status_code == 404
    assert raw.get(f"/v1/executions/{ran['id']}/files/ignored.log").status_code == 404


def test_a_deleted_execution_takes_its_files(
    sandpit_server: LiveServer, owner: tuple[rizaio.Riza, httpx.Client]
) -> None:
    _, raw = owner
    ran = _run(raw, code="open('a.txt','w').write('x')", output_files=["a.txt"])
    listed = raw.get(f"/v1/executions/{ran['id']}/files").json()["files"]
    assert [f["path"] for f in listed] == ["a.txt"]
    printed = sandpit_server.manage(
        "shell",
        "-c",
        "from playground.runs.files import storage, stored_name\n"
        "from playground.models import Execution\n"
        f"name = stored_name({ran['id']!r}, 'a.txt')\n"
        "print(storage().exists(name))\n"
        f"Execution.objects.filter(id={ran['id']!r}).delete()\n"
        "print(storage().exists(name))",
    )
    assert printed.split()[-2:] == ["True", "False"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"output_files": ["/etc/*"]}, "output_files.0"),
        ({"output_files": ["../x"]}, "output_files.0"),
        ({"output_files": ["*"] * 17}, "output_files"),
        ({"files": [{"path": "a", "contents": "@@", "encoding": "base64"}]}, "files.0.contents"),
        ({"files": [{"path": "a", "contents": "x", "encoding": "latin-1"}]}, "files.0.encoding"),
    ],
)
def test_bad_file_requests_are_400s_naming_the_field(
    owner: tuple[rizaio.Riza, httpx.Client], body: dict[str, Any], field: str
) -> None:
    _, raw = owner
    answer = raw.post("/v1/execute", json={"language": "python", "code": "1", **body})
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["field"] == field


async def test_mcp_gets_pictures_as_image_content(sandpit_server: LiveServer) -> None:
    from mcp import types

    from tests.test_mcp import mcp_session

    key = sandpit_server.new_api_key("rich-mcp")
    code = (
        f"import base64\ndisplay({{'image/png': {base64.b64encode(PNG).decode()!r},"
        " 'text/plain': 'a dot'}, raw=True)\ndisplay('words')"
    )
    async with mcp_session(sandpit_server, key) as session:
        answer = await session.call_tool("run_code", {"code": code, "language": "python"})
    assert not answer.isError
    images = [c for c in answer.content if isinstance(c, types.ImageContent)]
    assert [(i.mimeType, base64.b64decode(i.data)) for i in images] == [("image/png", PNG)]
    structured = answer.structuredContent
    assert structured is not None
    assert structured["results"][0]["data"] == {
        "image/png": "(image content 1)",
        "text/plain": "a dot",
    }
    assert structured["results"][1]["data"] == {"text/plain": "'words'"}
    text = next(c for c in answer.content if isinstance(c, types.TextContent))
    assert base64.b64encode(PNG).decode() not in text.text
