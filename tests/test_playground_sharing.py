"""From the playground outwards: share a run in one click, take it to the API as a curl,
rizaio or fetch call, and find the keyboard shortcuts."""

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver

from tests.browser import (
    by_id,
    finished,
    open_playground,
    screenshot,
    set_code,
    text_of,
    wait_for,
)
from tests.conftest import LiveServer

TYPED_SECRET = "typed-in-the-editor-1234"
CODE = "import os, sys\nprint(sys.argv[1:], os.environ['TOKEN'], sys.stdin.read())"


def grant_clipboard(driver: WebDriver, server: LiveServer) -> None:
    driver.execute_cdp_cmd(
        "Browser.grantPermissions",
        {"origin": server.url, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]},
    )


def clipboard(driver: WebDriver) -> str:
    return str(
        driver.execute_async_script(
            "const done = arguments[0]; navigator.clipboard.readText().then(done, (e) => done('!' + e));"
        )
    )


def test_share_from_the_result_pane_shares_and_copies_the_link(
    sandpit_server: LiveServer, new_browser: Callable[..., WebDriver]
) -> None:
    owner = new_browser()
    open_playground(owner, sandpit_server)
    grant_clipboard(owner, sandpit_server)
    set_code(owner, "print('one click')")
    by_id(owner, "run").click()
    wait_for(owner, finished)
    permalink = str(by_id(owner, "permalink").get_attribute("href"))
    by_id(owner, "share-run").click()
    wait_for(owner, lambda d: by_id(d, "share-run").text == "Link copied")
    assert clipboard(owner) == permalink

    stranger = new_browser()
    stranger.get(permalink)
    wait_for(stranger, lambda d: "one click" in text_of(d, "stdout"))
    owner.get(permalink)  # the permalink page still offers Unshare
    assert by_id(owner, "share").text == "Unshare"


def _snippets(driver: WebDriver) -> dict[str, str]:
    by_id(driver, "api-call").click()
    wait_for(driver, lambda d: by_id(d, "api-dialog").is_displayed())
    found = {}
    for client in ("curl", "python", "javascript"):
        driver.find_element(By.CSS_SELECTOR, f'[role="tab"][data-client="{client}"]').click()
        found[client] = text_of(driver, "snippet")
    return found


def test_copy_as_api_call_reproduces_the_run_without_its_secrets(
    sandpit_server: LiveServer, new_browser: Callable[..., WebDriver], tmp_path: Path
) -> None:
    driver = new_browser()
    open_playground(driver, sandpit_server)
    set_code(driver, CODE)
    driver.find_element(By.CSS_SELECTOR, "#stdin-panel summary").click()
    driver.find_element(By.ID, "args").send_keys("first\nsecond")
    driver.find_element(By.ID, "stdin").send_keys("from stdin $HOME `x` \\ done")
    driver.find_element(By.XPATH, "//summary[contains(., 'Environment')]").click()
    by_id_add = driver.find_element(By.ID, "add-env")
    by_id_add.click()
    name, value = driver.find_elements(By.CSS_SELECTOR, "#env .row input")
    name.send_keys("TOKEN")
    value.send_keys(TYPED_SECRET)
    by_id(driver, "run").click()
    wait_for(driver, finished)
    in_browser = text_of(driver, "stdout")
    assert TYPED_SECRET in in_browser

    snippets = _snippets(driver)
    screenshot(driver, "api-call")
    for snippet in snippets.values():
        assert TYPED_SECRET not in snippet
    env = {
        **os.environ,
        "SANDPIT_API_KEY": sandpit_server.new_api_key("snippets"),
        "TOKEN": "from-the-environment",
    }
    expected = in_browser.replace(TYPED_SECRET, "from-the-environment")

    curl = subprocess.run(
        ["bash"], input=snippets["curl"], env=env, capture_output=True, text=True, check=True
    )
    assert json.loads(curl.stdout)["stdout"] == expected
    (tmp_path / "run.py").write_text(snippets["python"])
    python = subprocess.run(
        [sys.executable, tmp_path / "run.py"], env=env, capture_output=True, text=True, check=True
    )
    assert python.stdout == expected
    (tmp_path / "run.mjs").write_text(snippets["javascript"])
    node = subprocess.run(
        ["node", tmp_path / "run.mjs"], env=env, capture_output=True, text=True, check=True
    )
    assert json.loads(node.stdout)["stdout"] == expected


def test_a_function_s_api_call_goes_to_execute_function(
    sandpit_server: LiveServer, new_browser: Callable[..., WebDriver], tmp_path: Path
) -> None:
    driver = new_browser()
    open_playground(driver, sandpit_server)
    driver.find_element(By.CSS_SELECTOR, 'input[name="mode"][value="function"]').click()
    snippets = _snippets(driver)
    assert "/v1/execute-function" in snippets["curl"]
    assert "exec_func" in snippets["python"]
    (tmp_path / "run.py").write_text(snippets["python"])
    env = {**os.environ, "SANDPIT_API_KEY": sandpit_server.new_api_key("snippets")}
    python = subprocess.run(
        [sys.executable, tmp_path / "run.py"], env=env, capture_output=True, text=True, check=True
    )
    assert python.stdout.startswith("valid {")


def test_question_mark_lists_the_shortcuts_and_escape_stops_a_run(
    sandpit_server: LiveServer, new_browser: Callable[..., WebDriver]
) -> None:
    driver = new_browser()
    open_playground(driver, sandpit_server)
    body = driver.find_element(By.TAG_NAME, "body")
    body.send_keys("?")
    dialog = by_id(driver, "shortcuts-dialog")
    wait_for(driver, lambda d: dialog.is_displayed())
    assert "Run" in dialog.text and "Ctrl" in dialog.text
    body.send_keys(Keys.ESCAPE)
    wait_for(driver, lambda d: not dialog.is_displayed())
    by_id(driver, "shortcuts").click()
    wait_for(driver, lambda d: dialog.is_displayed())
    dialog.find_element(By.CSS_SELECTOR, "[data-close]").click()

    set_code(driver, "import time\nprint('going', flush=True)\ntime.sleep(60)")
    editor = driver.find_element(By.CSS_SELECTOR, '[data-testid="editor"] .cm-content')
    editor.send_keys(Keys.CONTROL, Keys.ENTER)
    wait_for(driver, lambda d: "going" in text_of(d, "stdout"))
    editor.send_keys(Keys.ESCAPE)
    wait_for(driver, finished)
    assert by_id(driver, "status").get_attribute("class").split()[-1] == "stopped"  # type: ignore[union-attr]
