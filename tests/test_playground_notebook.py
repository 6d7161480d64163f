"""The notebook page in a real headless Chromium against a live server: cells run in one
session, streamed live, with their results and errors beneath them. Signed in, but for
the guests' own test: every guest of the suite comes from one address, whose rate of
runs the other UI tests share."""

import json
from collections.abc import Callable

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.browser import by_id, screenshot, sign_in, wait_for
from tests.conftest import LiveServer
from tests.notebook_pages import (
    cell,
    cells,
    make_notebook,
    notebook_id,
    open_notebook,
    part,
    run_cell,
    session_state,
    set_cell,
    shift_enter,
    status_of,
    wait_until_cell_finished,
    wait_until_saved,
)
from tests.rich_runs import ORANGE, PNG_RESULT


def test_variables_last_between_cells_and_shift_enter_moves_on(
    sandpit_server: LiveServer, new_browser: Callable[..., WebDriver]
) -> None:
    driver = new_browser()
    sign_in(driver, sandpit_server, "nb-variables")
    open_notebook(driver, sandpit_server)
    assert session_state(driver) == "No session yet"
    run_cell(driver, 0, "import math\nx = 41")
    assert notebook_id(driver).startswith("nb_"), "the first run made the notebook"
    assert len(cells(driver)) == 2, "Shift-Enter on the last cell adds the next"
    focused = driver.execute_script(
        "return [...document.querySelectorAll('[data-testid=cell]')]"
        ".indexOf(document.activeElement.closest('[data-testid=cell]'))"
    )
    assert focused == 1, "Shift-Enter moves to the next cell"
    run_cell(driver, 1, "print(x + 1, math.floor(2.5))\nx * 2")
    assert part(driver, 1, "cell-stdout") == "42 2\n"
    # The last bare expression is the cell's result, as Jupyter's execute_result.
    results = cell(driver, 1).find_elements(By.CSS_SELECTOR, '[data-testid="result"]')
    assert [r.text for r in results] == ["82"]
    wait_for(driver, lambda d: session_state(d) == "Session ready")
    screenshot(driver, "notebook")

    # A reload shows the cells as they were kept, with their outputs.
    wait_until_saved(driver)
    driver.refresh()
    wait_for(driver, lambda d: len(cells(d)) == 3)
    assert part(driver, 1, "cell-stdout") == "42 2\n"
    run_cell(driver, 2, "print(x)")
    assert part(driver, 2, "cell-stdout") == "41\n"


def test_a_cell_streams_its_output_live_and_its_display_result_shows_under_it(
    sandpit_server: LiveServer, new_browser: Callable[..., WebDriver]
) -> None:
    driver = new_browser()
    sign_in(driver, sandpit_server, "nb-display")
    open_notebook(driver, sandpit_server)
    set_cell(driver, 0, "import time\nprint('first', flush=True)\ntime.sleep(2)\nprint('last')")
    shift_enter(driver, 0)
    wait_for(driver, lambda d: "first" in part(d, 0, "cell-stdout"))
    assert "last" not in part(driver, 0, "cell-stdout"), "the first line shows while it runs"
    assert session_state(driver) == "Session busy"
    wait_until_cell_finished(driver, 0)
    assert part(driver, 0, "cell-stdout") == "first\nlast\n"

    run_cell(driver, 1, PNG_RESULT)
    picture = cell(driver, 1).find_element(By.CSS_SELECTOR, '[data-testid="result"] img')
    assert picture.get_attribute("alt") == "An orange rectangle"
    wait_for(driver, lambda d: d.execute_script("return arguments[0].naturalWidth", picture) == 160)
    corner = driver.execute_script(
        "const img = arguments[0], c = document.createElement('canvas');"
        "c.width = img.naturalWidth; c.height = img.naturalHeight;"
        "const g = c.getContext('2d'); g.drawImage(img, 0, 0);"
        "return Array.from(g.getImageData(1, 1, 1, 1).data.slice(0, 3));",
        picture,
    )
    assert tuple(corner) == ORANGE
    assert cell(driver, 0).find_elements(By.CSS_SELECTOR, '[data-testid="result"]') == []
    assert part(driver, 1, "cell-stdout") == "drawn\n"


def test_an_exception_shows_under_its_cell_and_the_next_cell_still_runs(
    sandpit_server: LiveServer, new_browser: Callable[..., WebDriver]
) -> None:
    driver = new_browser()
    sign_in(driver, sandpit_server, "nb-exception")
    open_notebook(driver, sandpit_server)
    run_cell(driver, 0, "kept = 'yes'\n1 / 0")
    assert part(driver, 0, "cell-status").endswith("ZeroDivisionError")
    assert "ZeroDivisionError: division by zero" in part(driver, 0, "cell-stderr")
    run_cell(driver, 1, "print('still here', kept)")
    assert part(driver, 1, "cell-stdout") == "still here yes\n"
    assert part(driver, 1, "cell-status") == "Succeeded"
    screenshot(driver, "notebook-exception")


def test_interrupt_stops_a_long_cell_and_keeps_the_session_s_state(
    sandpit_server: LiveServer, new_browser: Callable[..., WebDriver]
) -> None:
    driver = new_browser()
    sign_in(driver, sandpit_server, "nb-interrupt")
    open_notebook(driver, sandpit_server)
    run_cell(driver, 0, "total = 5")
    set_cell(driver, 1, "import time\nprint('going', flush=True)\ntime.sleep(60)\nprint('never')")
    shift_enter(driver, 1)
    wait_for(driver, lambda d: "going" in part(d, 1, "cell-stdout"))
    wait_for(driver, lambda d: by_id(d, "interrupt").is_enabled())
    by_id(driver, "interrupt").click()
    wait_until_cell_finished(driver, 1)
    assert part(driver, 1, "cell-status") == "Interrupted · KeyboardInterrupt"
    assert "never" not in part(driver, 1, "cell-stdout")
    wait_for(driver, lambda d: session_state(d) == "Session ready")
    run_cell(driver, 2, "print(total)")
    assert part(driver, 2, "cell-stdout") == "5\n"


def test_restart_opens_a_new_session_with_nothing_of_the_old_one(
    sandpit_server: LiveServer, new_browser: Callable[..., WebDriver]
) -> None:
    driver = new_browser()
    sign_in(driver, sandpit_server, "nb-restart")
    open_notebook(driver, sandpit_server)
    run_cell(driver, 0, "y = 1\nopen('kept.txt', 'w').write('old')")
    run_cell(driver, 1, "print(y)")
    assert part(driver, 1, "cell-stdout") == "1\n"
    address = driver.current_url
    by_id(driver, "restart").click()
    wait_for(driver, lambda d: part(d, 1, "cell-status") == "Not run")
    wait_for(driver, lambda d: session_state(d) == "Session ready")
    assert driver.current_url == address, "the notebook and its cells stay"
    assert part(driver, 1, "cell-stdout") == ""
    run_cell(driver, 1, "import os\nprint(os.path.exists('kept.txt'))\nprint(y)")
    assert part(driver, 1, "cell-stdout") == "False\n"
    assert "NameError: name 'y' is not defined" in part(driver, 1, "cell-stderr")

    # Ended, a cell is refused until a restart.
    by_id(driver, "end-session").click()
    wait_for(driver, lambda d: session_state(d) == "Session ended")
    set_cell(driver, 1, "print('after the end')")
    shift_enter(driver, 1)
    wait_for(driver, lambda d: by_id(d, "notebook-notice").is_displayed())
    assert "Restart" in by_id(driver, "notebook-notice").text
    assert part(driver, 1, "cell-status") == "Not run"


def test_cells_are_added_and_deleted_and_kept_in_order(
    sandpit_server: LiveServer, new_browser: Callable[..., WebDriver]
) -> None:
    driver = new_browser()
    sign_in(driver, sandpit_server, "nb-cells")
    open_notebook(driver, sandpit_server)
    run_cell(driver, 0, "a = 'first'")
    by_id(driver, "add-cell").click()
    by_id(driver, "add-cell").click()
    wait_for(driver, lambda d: len(cells(d)) == 4)
    set_cell(driver, 2, "print('deleted')")
    set_cell(driver, 3, "print(a)")
    cell(driver, 2).find_element(By.CSS_SELECTOR, '[data-testid="cell-delete"]').click()
    wait_for(driver, lambda d: len(cells(d)) == 3)
    titles = [c.find_element(By.CSS_SELECTOR, ".cell-title").text for c in cells(driver)]
    assert titles == ["Cell 1", "Cell 2", "Cell 3"]
    run_cell(driver, 2, "print(a)")  # the last cell: Shift-Enter adds a fourth
    wait_until_saved(driver)
    driver.refresh()
    wait_for(driver, lambda d: len(cells(d)) == 4)
    codes = driver.execute_script("return window.sandpitNotebook.codes()")
    assert codes == ["a = 'first'", "", "print(a)", ""]
    assert part(driver, 2, "cell-stdout") == "first\n"


def test_a_notebook_is_private_until_shared_and_its_permalink_is_read_only(
    sandpit_server: LiveServer, new_browser: Callable[..., WebDriver]
) -> None:
    owner = new_browser()
    sign_in(owner, sandpit_server, "nb-owner")
    open_notebook(owner, sandpit_server)
    run_cell(owner, 0, "word = 'notebook'\nprint('shared with care')")
    run_cell(owner, 1, PNG_RESULT)
    run_cell(owner, 2, "word.upper()")
    nb = notebook_id(owner)
    permalink = f"{sandpit_server.url}/n/{nb}"
    assert by_id(owner, "notebook-permalink").get_attribute("href") == permalink

    stranger = new_browser()
    open_notebook(stranger, sandpit_server)  # a guest of its own, with a CSRF cookie
    for url in (f"/notebook/{nb}", f"/n/{nb}", f"/notebook/{nb}/session"):
        assert status_of(stranger, sandpit_server.url + url) == 404, url
    for url in (f"/notebook/{nb}/run", f"/notebook/{nb}/restart", f"/notebook/{nb}/end"):
        assert status_of(stranger, sandpit_server.url + url, "POST") == 404, url
    stranger.get(permalink)
    assert "shared with care" not in stranger.page_source

    owner.get(permalink)
    wait_for(owner, lambda d: len(cells(d)) == 3)
    assert part(owner, 0, "cell-stdout") == "shared with care\n"
    assert "Private" in by_id(owner, "share-state").text
    by_id(owner, "share").click()
    wait_for(owner, lambda d: by_id(d, "share").text == "Unshare")

    stranger.get(permalink)
    wait_for(stranger, lambda d: len(cells(d)) == 3)
    assert part(stranger, 0, "cell-stdout") == "shared with care\n"
    assert cell(stranger, 1).find_elements(By.CSS_SELECTOR, '[data-testid="result"] img')
    assert [r.text for r in cell(stranger, 2).find_elements(By.CSS_SELECTOR, ".result")] == [
        "'NOTEBOOK'"
    ]
    codes = stranger.execute_script(
        "return [...document.querySelectorAll('[data-testid=cell] .cm-content')]"
        ".map((e) => [e.innerText, e.contentEditable])"
    )
    assert codes[0] == ["word = 'notebook'\nprint('shared with care')", "false"]
    shown = json.loads(str(stranger.find_element(By.ID, "notebook-data").get_attribute("text")))
    assert shown["session"] is None, "the session is the owner's business"
    assert {c["execution"]["session_id"] for c in shown["cells"] if c["execution"]} == {None}
    buttons = '[data-testid="cell-run"], [data-testid="cell-delete"], [data-testid="share"]'
    assert stranger.find_elements(By.CSS_SELECTOR, buttons) == []
    # The editing page is the owner's: a stranger is sent to the permalink.
    stranger.get(f"{sandpit_server.url}/notebook/{nb}")
    wait_for(stranger, lambda d: d.current_url == permalink)
    assert status_of(stranger, f"{sandpit_server.url}/notebook/{nb}/run", "POST") == 404
    screenshot(stranger, "notebook-permalink")

    owner.get(permalink)
    by_id(owner, "share").click()  # Unshare
    wait_for(owner, lambda d: by_id(d, "share").text == "Share")
    assert status_of(stranger, permalink) == 404


def test_a_guest_s_notebook_is_within_a_guest_s_allowance(
    sandpit_server: LiveServer, new_browser: Callable[..., WebDriver]
) -> None:
    guest = new_browser()
    first = make_notebook(guest, sandpit_server, "print('one')")
    session = guest.execute_async_script(
        "fetch(arguments[0]).then((r) => r.json()).then((b) => arguments[1](b.session));",
        f"/notebook/{first}/session",
    )
    assert session["idle_timeout"] == 300, "a guest's session pauses sooner"
    assert session["memory_size"] <= 256
    run_cell(guest, 1, "import urllib.request\nurllib.request.urlopen('http://example.com')")
    assert part(guest, 1, "cell-status").startswith("Failed"), "no network for a guest"

    # One live session at a time: a second notebook waits for the first to end.
    open_notebook(guest, sandpit_server)
    set_cell(guest, 0, "print('two')")
    shift_enter(guest, 0)
    wait_for(guest, lambda d: by_id(d, "notebook-notice").is_displayed())
    assert "live sessions" in by_id(guest, "notebook-notice").text
    assert part(guest, 0, "cell-status") == "Not run"
    open_notebook(guest, sandpit_server, f"/notebook/{first}")
    by_id(guest, "end-session").click()
    wait_for(guest, lambda d: session_state(d) == "Session ended")
    second = make_notebook(guest, sandpit_server, "print('two')")
    assert second != first
    assert part(guest, 0, "cell-stdout") == "two\n"
