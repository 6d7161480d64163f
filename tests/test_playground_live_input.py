"""Live input from the editor: a line typed while the run goes reaches its stdin, End
input closes it; the run's permalink offers no input box to anyone."""

from collections.abc import Callable

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver

from tests.browser import (
    by_id,
    displayed,
    finished,
    open_playground,
    screenshot,
    set_code,
    text_of,
    wait_for,
)
from tests.conftest import LiveServer

CODE = (
    "name = input('name? ')\n"
    "print('hello', name, flush=True)\n"
    "import sys\n"
    "print('rest:', repr(sys.stdin.read()))\n"
)


def test_typed_lines_reach_the_running_program(
    sandpit_server: LiveServer, new_browser: Callable[..., WebDriver]
) -> None:
    driver = new_browser()
    open_playground(driver, sandpit_server)
    set_code(driver, CODE)
    driver.find_element(By.CSS_SELECTOR, "#stdin-panel summary").click()
    by_id(driver, "live-stdin").click()
    by_id(driver, "run").click()
    row = by_id(driver, "live-input")
    wait_for(driver, displayed(row))
    wait_for(driver, lambda d: "name? " in text_of(d, "stdout"))
    by_id(driver, "live-line").send_keys("ada", Keys.ENTER)
    wait_for(driver, lambda d: "hello ada" in text_of(d, "stdout"))
    by_id(driver, "live-line").send_keys("more", Keys.ENTER)
    screenshot(driver, "live-input")
    by_id(driver, "live-end").click()
    wait_for(driver, finished)
    assert text_of(driver, "stdout") == "name? hello ada\nrest: 'more\\n'\n"
    assert not row.is_displayed()
    permalink = str(by_id(driver, "permalink").get_attribute("href"))
    driver.get(permalink)
    wait_for(driver, lambda d: "hello ada" in text_of(d, "stdout"))
    assert not driver.find_elements(By.ID, "live-line")


def test_without_the_box_ticked_stdin_ends_as_before(
    sandpit_server: LiveServer, new_browser: Callable[..., WebDriver]
) -> None:
    driver = new_browser()
    open_playground(driver, sandpit_server)
    set_code(driver, "import sys\nprint(repr(sys.stdin.read()))\n")
    by_id(driver, "run").click()
    wait_for(driver, finished)
    assert text_of(driver, "stdout") == "''\n"
    assert not by_id(driver, "live-input").is_displayed()
