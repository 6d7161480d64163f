"""HTTP access from the editor: a host and its credential, the requests shown beside the
output and on the permalink, the secret nowhere in the page, the browser or the record."""

from collections.abc import Callable

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.browser import (
    by_id,
    finished,
    open_playground,
    screenshot,
    set_code,
    sign_in,
    text_of,
    wait_for,
)
from tests.conftest import LiveServer
from tests.echo import EchoServers

SECRET = "bearer-typed-in-the-editor-42"
CODE = "import urllib.request\nprint(urllib.request.urlopen('https://api.example.test/from-ui?a=1').read().decode())"


def test_the_editor_lets_a_run_reach_a_host_and_shows_what_it_did(
    sandpit_server: LiveServer, new_browser: Callable[..., WebDriver], echo: EchoServers
) -> None:
    driver = new_browser()
    sign_in(driver, sandpit_server, "egress-ui")
    open_playground(driver, sandpit_server)
    set_code(driver, CODE)
    driver.find_element(By.CSS_SELECTOR, "#http-panel summary").click()
    by_id(driver, "add-host").click()
    row = driver.find_element(By.CSS_SELECTOR, "#http .row.http")
    row.find_element(By.CSS_SELECTOR, "input[aria-label='Host']").send_keys("api.example.test")
    row.find_element(By.CSS_SELECTOR, "select").send_keys("Bearer")
    row.find_element(By.CSS_SELECTOR, "input[aria-label='Credential secret']").send_keys(SECRET)
    by_id(driver, "run").click()
    wait_for(driver, finished)
    assert text_of(driver, "stdout") == "ok /from-ui\n\n", text_of(driver, "stderr")
    assert echo.requests_for("/from-ui")[-1].headers["Authorization"] == f"Bearer {SECRET}"
    table = text_of(driver, "egress")
    assert "GET api.example.test/from-ui?a=***" in table and "added" in table
    screenshot(driver, "egress")
    stored = driver.execute_script("return JSON.stringify(localStorage)")
    assert "api.example.test" in stored and SECRET not in stored

    permalink = str(by_id(driver, "permalink").get_attribute("href"))
    driver.get(permalink)
    wait_for(driver, lambda d: "from-ui" in text_of(d, "egress"))
    assert SECRET not in driver.page_source
    driver.get(permalink.replace("/e/", "/?fork="))  # the owner's fork keeps the host
    wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#http .row.http"))
    host = driver.find_element(By.CSS_SELECTOR, "#http input[aria-label='Host']")
    assert host.get_attribute("value") == "api.example.test"
    secret = driver.find_element(By.CSS_SELECTOR, "#http input[aria-label='Credential secret']")
    assert secret.get_attribute("value") == ""


def test_a_guest_run_gets_no_network(
    sandpit_server: LiveServer, new_browser: Callable[..., WebDriver]
) -> None:
    driver = new_browser()
    open_playground(driver, sandpit_server)
    assert driver.find_elements(By.ID, "http-panel") == []
    refused = driver.execute_async_script(
        """
        const done = arguments[0];
        const token = document.cookie.match(/csrftoken=([^;]+)/)[1];
        fetch('/runs', {method: 'POST', headers: {'Content-Type': 'application/json', 'X-CSRFToken': token},
          body: JSON.stringify({language: 'python', code: 'print(1)', http: {allow: [{host: 'api.example.test'}]}})})
          .then((r) => r.json().then((b) => done([r.status, b.error.field])));
        """
    )
    assert refused == [400, "http"]
