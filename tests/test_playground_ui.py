"""The playground end to end, in a real headless Chromium against a live server."""

import json
from collections.abc import Callable
from pathlib import Path

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver

from tests.browser import (
    SCREENSHOTS,
    by_id,
    finished,
    open_playground,
    screenshot,
    set_code,
    sign_in,
    text_of,
    type_code,
    wait_for,
)
from tests.conftest import LiveServer


def test_typed_code_streams_its_first_line_before_the_last_is_printed(
    sandpit_server: LiveServer, new_browser: Callable[..., WebDriver]
) -> None:
    driver = new_browser()
    open_playground(driver, sandpit_server)
    screenshot(driver, "editor")
    type_code(
        driver, "import time\nprint('first line', flush=True)\ntime.sleep(2)\nprint('last line')"
    )
    by_id(driver, "run").click()
    wait_for(driver, lambda d: "first line" in text_of(d, "stdout"))
    assert "last line" not in text_of(driver, "stdout"), (
        "the first line should show while the run goes on"
    )
    assert by_id(driver, "status").text.startswith("Running")
    wait_for(driver, finished)
    assert text_of(driver, "stdout") == "first line\nlast line\n"
    assert by_id(driver, "status").text == "Succeeded"
    screenshot(driver, "finished-run")


def test_ctrl_enter_runs_and_stop_kills_a_long_run(
    sandpit_server: LiveServer, new_browser: Callable[..., WebDriver]
) -> None:
    driver = new_browser()
    open_playground(driver, sandpit_server)
    set_code(driver, "import time\nprint('going', flush=True)\ntime.sleep(60)\nprint('never')")
    driver.find_element(By.CSS_SELECTOR, '[data-testid="editor"] .cm-content').send_keys(
        Keys.CONTROL, Keys.ENTER
    )
    wait_for(driver, lambda d: "going" in text_of(d, "stdout"))
    by_id(driver, "stop").click()
    wait_for(driver, finished)
    assert by_id(driver, "status").text == "Stopped"
    assert "never" not in text_of(driver, "stdout")
    assert "the run was stopped" in text_of(driver, "stderr")


def test_a_permalink_is_private_until_shared_then_forkable(
    sandpit_server: LiveServer, new_browser: Callable[..., WebDriver]
) -> None:
    owner = new_browser()
    open_playground(owner, sandpit_server)
    set_code(owner, "print('shared with care')")
    by_id(owner, "run").click()
    wait_for(owner, finished)
    permalink = str(by_id(owner, "permalink").get_attribute("href"))

    stranger = new_browser()
    stranger.get(permalink)
    assert "shared with care" not in stranger.page_source  # private: a 404 for strangers

    owner.get(permalink)
    assert "shared with care" in text_of(owner, "stdout")
    by_id(owner, "share").click()
    wait_for(owner, lambda d: by_id(d, "share").text == "Unshare")
    screenshot(owner, "permalink")

    stranger.get(permalink)
    wait_for(stranger, lambda d: "shared with care" in text_of(d, "stdout"))
    assert stranger.find_elements(By.CSS_SELECTOR, '[data-testid="share"]') == []
    by_id(stranger, "fork").click()
    wait_for(stranger, lambda d: d.execute_script("return !!window.sandpit"))
    forked = stranger.execute_script("return window.sandpit.code.state.doc.toString()")
    assert forked == "print('shared with care')"

    owner.get(permalink)
    by_id(owner, "share").click()  # Unshare
    wait_for(owner, lambda d: by_id(d, "share").text == "Share")
    stranger.get(permalink)
    assert "shared with care" not in stranger.page_source


def test_function_mode_runs_with_input_json_and_flags_bad_json(
    sandpit_server: LiveServer, new_browser: Callable[..., WebDriver]
) -> None:
    driver = new_browser()
    open_playground(driver, sandpit_server)
    driver.find_element(By.CSS_SELECTOR, 'input[name="mode"][value="function"]').click()
    code = driver.execute_script("return window.sandpit.code.state.doc.toString()")
    assert "def execute(input)" in code, "an untouched editor gets the function example"
    driver.execute_script(
        "const v = window.sandpit.input; v.dispatch({changes: {from: 0, to: v.state.doc.length, insert: '{\"name\": '}});"
    )
    by_id(driver, "run").click()
    wait_for(driver, lambda d: d.find_element(By.ID, "input-error").is_displayed())
    assert "not valid JSON" in driver.find_element(By.ID, "input-error").text
    driver.execute_script(
        'const v = window.sandpit.input; v.dispatch({changes: {from: 0, to: v.state.doc.length, insert: \'{"name": "Grace"}\'}});'
    )
    by_id(driver, "run").click()
    wait_for(driver, finished)
    assert json.loads(text_of(driver, "output")) == {"greeting": "Hello, Grace!", "letters": 5}


def test_a_traceback_line_moves_the_cursor_and_state_survives_a_reload(
    sandpit_server: LiveServer, new_browser: Callable[..., WebDriver]
) -> None:
    driver = new_browser()
    open_playground(driver, sandpit_server)
    set_code(driver, "x = 1\ny = 2\nraise ValueError('line three')\n")
    by_id(driver, "run").click()
    wait_for(driver, finished)
    link = driver.find_element(By.CSS_SELECTOR, '[data-testid="stderr"] a.line-link')
    assert link.get_attribute("data-line") == "3"
    link.click()
    line = driver.execute_script(
        "const v = window.sandpit.code; return v.state.doc.lineAt(v.state.selection.main.head).number;"
    )
    assert line == 3
    driver.refresh()
    wait_for(driver, lambda d: d.execute_script("return !!window.sandpit"))
    kept = driver.execute_script("return window.sandpit.code.state.doc.toString()")
    assert kept == "x = 1\ny = 2\nraise ValueError('line three')\n"


def test_history_lists_the_browsers_runs_with_links(
    sandpit_server: LiveServer, new_browser: Callable[..., WebDriver]
) -> None:
    driver = new_browser()
    open_playground(driver, sandpit_server)
    set_code(driver, "print('in history')")
    by_id(driver, "run").click()
    wait_for(driver, finished)
    permalink = str(by_id(driver, "permalink").get_attribute("href"))
    driver.get(sandpit_server.url + "/history")
    links = driver.find_elements(By.CSS_SELECTOR, '[data-testid="history-link"]')
    assert [str(a.get_attribute("href")) for a in links] == [permalink]
    screenshot(driver, "history")
    assert Path(SCREENSHOTS / "history.png").exists()


def test_the_pages_run_no_inline_script_and_a_new_key_still_copies(
    sandpit_server: LiveServer, new_browser: Callable[..., WebDriver]
) -> None:
    driver = new_browser()
    sign_in(driver, sandpit_server, "inline-scripts")
    driver.get(sandpit_server.url + "/keys")
    driver.find_element(By.NAME, "name").send_keys("copied", Keys.ENTER)
    wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, '[data-testid="new-key"]'))
    # An inline script, as injected markup would be: the page's policy does not run it.
    ran = driver.execute_script(
        "const s = document.createElement('script'); s.textContent = 'window.inlineRan = 1';"
        "document.body.append(s); return window.inlineRan === 1;"
    )
    assert ran is False
    driver.execute_cdp_cmd(
        "Browser.grantPermissions",
        {"origin": sandpit_server.url, "permissions": ["clipboardReadWrite"]},
    )
    by_id(driver, "copy-key").click()
    wait_for(driver, lambda d: by_id(d, "copy-key").text == "Copied")
    copied = driver.execute_async_script(
        "const done = arguments[0]; navigator.clipboard.readText().then(done, (e) => done('!' + e));"
    )
    assert copied == by_id(driver, "new-key").get_attribute("value")
