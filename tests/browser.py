"""Driving the playground in a real headless Chromium: the browser fixture and helpers
that the UI tests share."""

import tempfile
from collections.abc import Callable, Iterator

import pytest
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from tests.conftest import REPO, LiveServer

WAIT_S = 30
SCREENSHOTS = REPO / ".sandpit" / "screenshots"
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]


@pytest.fixture
def new_browser() -> Iterator[Callable[..., WebDriver]]:
    """Each call opens a fresh browser session: its own profile, cookies and storage."""
    opened: list[WebDriver] = []

    def open_browser(width: int = 1400, height: int = 900) -> WebDriver:
        options = webdriver.ChromeOptions()
        options.binary_location = "/usr/bin/chromium"
        for flag in CHROMIUM_FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--window-size={width},{height}")
        options.add_argument(f"--user-data-dir={tempfile.mkdtemp(prefix='sandpit-chromium-')}")
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        opened.append(driver)
        return driver

    yield open_browser
    for driver in opened:
        driver.quit()


def by_id(driver: WebDriver, testid: str) -> WebElement:
    return driver.find_element(By.CSS_SELECTOR, f'[data-testid="{testid}"]')


def wait_for(driver: WebDriver, condition: Callable[[WebDriver], object]) -> None:
    # While a form's submit loads the next page, elements of the last one go stale.
    WebDriverWait(driver, WAIT_S, ignored_exceptions=(WebDriverException,)).until(condition)


def displayed(element: WebElement) -> Callable[[WebDriver], bool]:
    """A wait_for condition: the element is shown."""
    return lambda driver: element.is_displayed()


def text_of(driver: WebDriver, testid: str) -> str:
    return str(by_id(driver, testid).get_attribute("textContent"))


def finished(driver: WebDriver) -> bool:
    return by_id(driver, "status").get_attribute("class").split()[-1] in {  # type: ignore[union-attr]
        "succeeded",
        "failed",
        "timed_out",
        "out_of_memory",
        "stopped",
        "error",
    }


def type_code(driver: WebDriver, code: str) -> None:
    editor = driver.find_element(By.CSS_SELECTOR, '[data-testid="editor"] .cm-content')
    editor.click()
    editor.send_keys(Keys.CONTROL, "a")
    editor.send_keys(Keys.DELETE)
    for line in code.splitlines():
        editor.send_keys(line)
        editor.send_keys(Keys.ENTER)


def set_code(driver: WebDriver, code: str) -> None:
    driver.execute_script(
        "const v = window.sandpit.code; v.dispatch({changes: {from: 0, to: v.state.doc.length, insert: arguments[0]}});",
        code,
    )


def screenshot(driver: WebDriver, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))


def open_playground(driver: WebDriver, server: LiveServer) -> None:
    driver.get(server.url + "/")
    wait_for(driver, lambda d: d.execute_script("return !!window.sandpit"))


AXE = REPO / "tests" / "vendor" / "axe.min.js"
# WCAG 2.0 and 2.1, levels A and AA.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def as_phone(driver: WebDriver, width: int, height: int = 844) -> None:
    """Chromium as a phone of this width: a mobile viewport, not a narrow window (a
    desktop window has a minimum width of its own)."""
    metrics = {"width": width, "height": height, "deviceScaleFactor": 2, "mobile": True}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)


def prefer_dark(driver: WebDriver, dark: bool) -> None:
    scheme = {"name": "prefers-color-scheme", "value": "dark" if dark else "light"}
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [scheme]})


def sideways_overflow(driver: WebDriver) -> int:
    """How far the page is wider than the viewport, in CSS pixels."""
    return int(
        driver.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
    )


def axe_violations(driver: WebDriver) -> list[dict[str, object]]:
    """What axe-core finds on the page as it stands, against WCAG 2 A and AA."""
    driver.set_script_timeout(60)
    driver.execute_script(AXE.read_text())
    found = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {runOnly: {type: 'tag', values: arguments[0]}})"
        ".then((r) => done(r.violations.map((v) => ({id: v.id, help: v.help,"
        " nodes: v.nodes.map((n) => n.target.join(' ') + ': ' + n.failureSummary)}))));",
        AXE_TAGS,
    )
    return list(found)


def sign_in(driver: WebDriver, server: LiveServer, username: str) -> None:
    """Make the user (if new) and sign in through the sign-in form."""
    password = f"{username}-pw-0123456789"
    server.manage(
        "shell",
        "-c",
        "from django.contrib.auth.models import User\n"
        f"user, _ = User.objects.get_or_create(username={username!r})\n"
        f"user.set_password({password!r})\n"
        "user.save()",
    )
    driver.get(server.url + "/accounts/login/")
    driver.find_element(By.NAME, "username").send_keys(username)
    driver.find_element(By.NAME, "password").send_keys(password, Keys.ENTER)
    wait_for(driver, lambda d: "/accounts/login" not in d.current_url)
