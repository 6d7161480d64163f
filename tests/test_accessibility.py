"""Every page, audited by axe-core in Chromium (WCAG 2 A and AA) and laid out on phones,
with a run that has every kind of result and files in it."""

import json
from collections.abc import Callable

import pytest
import rizaio
from selenium.webdriver.remote.webdriver import WebDriver

from tests.browser import (
    as_phone,
    axe_violations,
    by_id,
    displayed,
    finished,
    open_playground,
    prefer_dark,
    screenshot,
    set_code,
    sideways_overflow,
    sign_in,
    wait_for,
)
from tests.conftest import LiveServer
from tests.notebook_pages import make_notebook
from tests.rich_runs import EVERY_KIND

PHONE_WIDTHS = (360, 390, 414)
# A line longer than any phone is wide, as code often has, and results and files wider
# than one.
LONG_LINE = "print('" + "a long line of output " * 8 + "')"
RICH_RUN = LONG_LINE + "\n" + EVERY_KIND


def _pages(driver: WebDriver, server: LiveServer, username: str) -> dict[str, str]:
    """Sign in, make a run with long lines, results and files in it, and a notebook with
    them and an error; the address of each page to check."""
    sign_in(driver, server, username)
    open_playground(driver, server)
    set_code(driver, RICH_RUN)
    by_id(driver, "run").click()
    wait_for(driver, finished)
    assert len(driver.find_elements("css selector", '[data-testid="result"]')) == 6
    assert len(driver.find_elements("css selector", '[data-testid="file-link"]')) == 2
    client = rizaio.Riza(api_key=server.new_api_key(username), base_url=server.url)
    tool = client.tools.create(
        name="audited",
        language="python",
        code="def execute(input):\n    return input",
        input_schema={"type": "object", "properties": {"q": {"type": "string"}}},
    )
    client.secrets.create(name=f"AUDITED_{username.replace('-', '_').upper()}", value="x")
    permalink = str(by_id(driver, "permalink").get_attribute("href"))
    notebook = make_notebook(driver, server, RICH_RUN, "raise ValueError('" + "wide " * 30 + "')")
    return {
        "notebook": f"{server.url}/notebook/{notebook}",
        "notebook-new": server.url + "/notebook",
        "notebook-permalink": f"{server.url}/n/{notebook}",
        "editor": server.url + "/",
        "permalink": permalink,
        "history": server.url + "/history",
        "keys": server.url + "/keys",
        "tools": server.url + "/tools",
        "tool": f"{server.url}/tools/{tool.id}",
        "secrets": server.url + "/secrets",
    }


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
def test_axe_finds_nothing_on_any_page(
    sandpit_server: LiveServer, new_browser: Callable[..., WebDriver], dark: bool
) -> None:
    driver = new_browser()
    prefer_dark(driver, dark)
    pages = _pages(driver, sandpit_server, f"audited-{'dark' if dark else 'light'}")
    found: dict[str, object] = {}
    for name, url in pages.items():
        driver.get(url)
        wait_for(driver, lambda d: d.execute_script("return document.readyState") == "complete")
        if name in ("editor", "permalink", "tool") or name.startswith("notebook"):
            wait_for(driver, lambda d: d.find_elements("css selector", ".cm-content"))
        if name == "editor":
            by_id(driver, "run").click()  # the result pane as it is after a run, too
            wait_for(driver, finished)
        found[name] = axe_violations(driver)
        if name == "editor":  # and with each of its dialogs open
            for opener, dialog in (("api-call", "api-dialog"), ("shortcuts", "shortcuts-dialog")):
                by_id(driver, opener).click()
                shown = by_id(driver, dialog)
                wait_for(driver, displayed(shown))
                found[dialog] = axe_violations(driver)
                shown.find_element("css selector", "[data-close]").click()
    guest = new_browser()
    prefer_dark(guest, dark)
    guest.get(sandpit_server.url + "/accounts/login/")
    found["sign-in"] = axe_violations(guest)
    failures = {page: v for page, v in found.items() if v}
    assert not failures, json.dumps(failures, indent=1, ensure_ascii=False)


@pytest.mark.parametrize("width", PHONE_WIDTHS)
def test_no_page_scrolls_sideways_on_a_phone(
    sandpit_server: LiveServer, new_browser: Callable[..., WebDriver], width: int
) -> None:
    driver = new_browser()
    as_phone(driver, width)
    pages = _pages(driver, sandpit_server, f"phone-{width}")
    wider = {}
    for name, url in pages.items():
        driver.get(url)
        wait_for(driver, lambda d: d.execute_script("return document.readyState") == "complete")
        if name == "editor":  # with the run's results and files in the result pane
            by_id(driver, "run").click()
            wait_for(driver, finished)
        # A mobile layout viewport grows to fit what overflows: measure both ways.
        wider[name] = max(
            sideways_overflow(driver), driver.execute_script("return window.innerWidth") - width
        )
        screenshot(driver, f"phone-{width}-{name}")
        if name in ("editor", "permalink"):
            driver.execute_script("document.getElementById('results-section').scrollIntoView()")
            screenshot(driver, f"phone-{width}-{name}-results")
    assert wider == dict.fromkeys(pages, 0)
