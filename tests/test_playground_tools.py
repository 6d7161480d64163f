"""The tools and secrets pages, in Chromium: a tool made, tried from its schema's form,
revised; a secret saved and never shown."""

import json
from collections.abc import Callable

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver

from tests.browser import by_id, finished, screenshot, sign_in, text_of, wait_for
from tests.conftest import LiveServer

SECRET = "never-rendered-value-5150"
SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "times": {"type": "integer"}},
    "required": ["name"],
}
CODE = "def execute(input):\n    return {'hi': input['name'] * input.get('times', 1)}\n"


def set_editor(driver: WebDriver, name: str, text: str) -> None:
    wait_for(driver, lambda d: d.execute_script("return !!window.sandpit"))
    driver.execute_script(
        "const view = window.sandpit[arguments[0]];"
        "view.dispatch({changes: {from: 0, to: view.state.doc.length, insert: arguments[1]}});",
        name,
        text,
    )


def test_a_tool_is_made_tried_from_its_schema_and_revised(
    sandpit_server: LiveServer, new_browser: Callable[..., WebDriver]
) -> None:
    driver = new_browser()
    sign_in(driver, sandpit_server, "toolsmith")
    driver.get(sandpit_server.url + "/tools")
    by_id(driver, "new-tool").click()
    driver.find_element(By.NAME, "name").send_keys("shout")
    set_editor(driver, "code", CODE)
    set_editor(driver, "schema", '{"type": "nope"}')
    wait_for(driver, lambda d: d.find_element(By.ID, "schema-error").is_displayed())
    assert "not a JSON Schema type" in driver.find_element(By.ID, "schema-error").text
    set_editor(driver, "schema", json.dumps(SCHEMA))
    by_id(driver, "save-tool").click()
    wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, '[data-testid="try-form"]'))

    name = driver.find_element(By.CSS_SELECTOR, '#try-fields [data-name="name"]')
    name.send_keys("ab")
    driver.find_element(By.CSS_SELECTOR, '#try-fields [data-name="times"]').send_keys("3")
    assert json.loads(str(by_id(driver, "try-input").get_attribute("value"))) == {
        "name": "ab",
        "times": 3,
    }
    by_id(driver, "run").click()
    wait_for(driver, finished)
    assert json.loads(text_of(driver, "output")) == {"hi": "ababab"}
    screenshot(driver, "tool")

    by_id(driver, "try-input").clear()
    by_id(driver, "try-input").send_keys('{"times": 2}')
    by_id(driver, "run").click()
    wait_for(driver, lambda d: "input.name" in d.find_element(By.ID, "notice").text)

    set_editor(driver, "code", CODE.replace("'hi'", "'hey'"))
    by_id(driver, "save-tool").click()
    wait_for(
        driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, '[data-testid="revisions"] li')) == 2
    )
    first = driver.find_elements(By.CSS_SELECTOR, '[data-testid="try-revision"] option')[-1]
    first.click()  # the first revision still runs
    by_id(driver, "try-input").clear()
    by_id(driver, "try-input").send_keys('{"name": "x"}')
    by_id(driver, "run").click()
    wait_for(driver, finished)
    assert json.loads(text_of(driver, "output")) == {"hi": "x"}


def test_a_secret_value_is_never_rendered(
    sandpit_server: LiveServer, new_browser: Callable[..., WebDriver]
) -> None:
    driver = new_browser()
    sign_in(driver, sandpit_server, "keeper")
    driver.get(sandpit_server.url + "/secrets")
    driver.find_element(By.NAME, "name").send_keys("PAGE_SECRET")
    by_id(driver, "secret-value").send_keys(SECRET, Keys.ENTER)
    wait_for(driver, lambda d: "PAGE_SECRET" in text_of(d, "secrets"))
    assert SECRET not in driver.page_source
    driver.find_element(By.NAME, "name").send_keys("PAGE_SECRET")
    by_id(driver, "secret-value").send_keys("again", Keys.ENTER)
    wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, '[data-testid="secret-error"]'))
    assert "already have a secret named" in text_of(driver, "secret-error")
    assert SECRET not in driver.page_source
