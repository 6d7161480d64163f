"""Rich results from real libraries: matplotlib's figures, pandas' tables and IPython's
display, on a custom runtime the suite builds (from the package index, through the
build's confined fetch step)."""

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import rizaio

from tests.conftest import LiveServer
from tests.test_runtimes import wait_for_build

PNG_MAGIC = "iVBORw0KGgo"  # b"\x89PNG\r\n\x1a\n", in base64


@pytest.fixture(scope="module")
def runtime(sandpit_server: LiveServer) -> Iterator[tuple[httpx.Client, str]]:
    key = sandpit_server.new_api_key("notebook")
    client = rizaio.Riza(api_key=key, base_url=sandpit_server.url, max_retries=0)
    made = client.runtimes.create(
        name="notebook",
        language="python",
        manifest_file={"name": "requirements.txt", "contents": "matplotlib\npandas\nipython\n"},
    )
    assert wait_for_build(client, made.id, made.revision_id) == "succeeded"
    with httpx.Client(
        base_url=sandpit_server.url, headers={"Authorization": f"Bearer {key}"}, timeout=120
    ) as raw:
        yield raw, made.revision_id
    client.runtimes.delete(made.id)


def _run(runtime: tuple[httpx.Client, str], code: str) -> dict[str, Any]:
    raw, revision = runtime
    answer = raw.post(
        "/v1/execute",
        json={
            "language": "python",
            "code": code,
            "runtime_revision_id": revision,
            "limits": {"memory_size": 512, "execution_timeout": 60},
        },
    )
    assert answer.status_code == 200, answer.text
    ran: dict[str, Any] = answer.json()
    assert ran["exit_code"] == 0, ran["stderr"]
    return ran


def test_matplotlib_figures_become_pngs_as_jupyters_inline_backend_makes_them(
    runtime: tuple[httpx.Client, str],
) -> None:
    ran = _run(
        runtime,
        "import matplotlib.pyplot as plt\n"
        "plt.plot([1, 2, 3], [1, 4, 9])\n"
        "plt.show()\n"
        "plt.figure()\n"
        "plt.bar(['a', 'b'], [2, 3])\n"  # left open: shown when the run ends
        "print('drawn')\n",
    )
    assert ran["stdout"] == "drawn\n"
    pictures = [r["data"] for r in ran["results"]]
    assert len(pictures) == 2
    for picture in pictures:
        assert picture["image/png"].startswith(PNG_MAGIC)
        assert picture["text/plain"].startswith("<Figure size")


def test_a_pandas_table_comes_through_its_own_repr(runtime: tuple[httpx.Client, str]) -> None:
    ran = _run(
        runtime,
        "import pandas as pd\ndisplay(pd.DataFrame({'city': ['Oslo', 'Lima'], 'n': [1, 2]}))\n",
    )
    [table] = [r["data"] for r in ran["results"]]
    assert "<table" in table["text/html"] and "Oslo" in table["text/html"]
    assert "Lima" in table["text/plain"]


def test_ipythons_display_lands_in_the_same_list(runtime: tuple[httpx.Client, str]) -> None:
    ran = _run(
        runtime,
        "from IPython.display import display, HTML, Markdown\n"
        "display(HTML('<b>bold</b>'), Markdown('*it*'))\n",
    )
    data = [r["data"] for r in ran["results"]]
    assert data[0]["text/html"] == "<b>bold</b>"
    assert data[1]["text/markdown"] == "*it*"
