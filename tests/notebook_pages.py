"""Driving the notebook page in Chromium: helpers that its tests and the audits share."""

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement

from tests.browser import by_id, wait_for
from tests.conftest import LiveServer

FINISHED = {"succeeded", "failed", "timed_out", "out_of_memory", "stopped", "error"}


def open_notebook(driver: WebDriver, server: LiveServer, path: str = "/notebook") -> None:
    driver.get(server.url + path)
    wait_for(driver, lambda d: d.execute_script("return !!window.sandpitNotebook"))


def cells(driver: WebDriver) -> list[WebElement]:
    return driver.find_elements(By.CSS_SELECTOR, '[data-testid="cells"] > [data-testid="cell"]')


def cell(driver: WebDriver, index: int) -> WebElement:
    return cells(driver)[index]


def set_cell(driver: WebDriver, index: int, code: str) -> None:
    driver.execute_script("window.sandpitNotebook.setCode(arguments[0], arguments[1])", index, code)


def shift_enter(driver: WebDriver, index: int) -> None:
    """Run the cell from the keyboard, as a person would: Shift-Enter in its editor."""
    editor = cell(driver, index).find_element(By.CSS_SELECTOR, ".cm-content")
    editor.click()
    editor.send_keys(Keys.SHIFT, Keys.ENTER)


def part(driver: WebDriver, index: int, testid: str) -> str:
    """The text of one part of a cell: cell-status, cell-stdout, cell-stderr..."""
    found = cell(driver, index).find_element(By.CSS_SELECTOR, f'[data-testid="{testid}"]')
    return str(found.get_attribute("textContent"))


def cell_status(driver: WebDriver, index: int) -> str:
    found = cell(driver, index).find_element(By.CSS_SELECTOR, '[data-testid="cell-status"]')
    return str(found.get_attribute("class")).split()[-1]


def wait_until_cell_finished(driver: WebDriver, index: int) -> None:
    wait_for(driver, lambda d: len(cells(d)) > index and cell_status(d, index) in FINISHED)


def run_cell(driver: WebDriver, index: int, code: str) -> None:
    """Put the code in the cell, Shift-Enter it, and wait for its call to end."""
    wait_for(driver, lambda d: len(cells(d)) > index)
    set_cell(driver, index, code)
    shift_enter(driver, index)
    wait_until_cell_finished(driver, index)


def wait_until_saved(driver: WebDriver) -> None:
    """The page's cells, as they stand, are kept (before a reload, say)."""
    wait_for(driver, lambda d: d.execute_script("return window.sandpitNotebook.saved()"))


def session_state(driver: WebDriver) -> str:
    return str(by_id(driver, "session-state").text)


def notebook_id(driver: WebDriver) -> str:
    wait_for(driver, lambda d: "/notebook/nb_" in d.current_url)
    return str(driver.current_url.rsplit("/", 1)[-1])


def status_of(driver: WebDriver, url: str, method: str = "GET") -> int:
    """The HTTP status this browser gets for a request of the page's kind (its cookies
    and CSRF token)."""
    driver.set_script_timeout(30)
    return int(
        driver.execute_async_script(
            "const [url, method, done] = arguments;"
            "const token = (document.cookie.match(/(?:^|;\\s*)csrftoken=([^;]+)/) || [])[1];"
            "fetch(url, {method, headers: {'X-CSRFToken': decodeURIComponent(token || ''),"
            " 'Content-Type': 'application/json'},"
            " body: method === 'POST' ? JSON.stringify({cell: 'c1', code: 'print(1)'}) : undefined})"
            ".then((r) => done(r.status), () => done(0));",
            url,
            method,
        )
    )


def make_notebook(driver: WebDriver, server: LiveServer, *codes: str) -> str:
    """A notebook whose cells ran these, in turn; its id."""
    open_notebook(driver, server)
    for index, code in enumerate(codes):
        run_cell(driver, index, code)
    wait_until_saved(driver)
    return notebook_id(driver)
