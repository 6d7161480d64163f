"""Results and files in the playground, in a real headless Chromium: pictures show, the
permalink and history show them too, uploads reach the run, written files download, and
no hostile result or file runs anything in Sandpit's origin."""

import base64
import hashlib
import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from selenium.webdriver.chromium.webdriver import ChromiumDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement

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
from tests.rich_runs import MAKE_PNG, ORANGE, PNG_RESULT

# What a hostile result tries, each on its own (one refused does not stop the next);
# then it writes where it ran into its own page, so a test can tell it ran at all.
ATTEMPTS = (
    "for (const attempt of ["
    "() => { window.top.pwned = 'top'; },"
    "() => { parent.document.title = 'pwned'; },"
    "() => { document.cookie = 'pwned=1; path=/'; },"
    "() => { localStorage.setItem('pwned', '1'); },"
    "() => { top.localStorage.setItem('pwned', '1'); },"
    "]) { try { attempt(); } catch (e) {} }"
    "document.body.dataset.ran = String(self.origin);"
)
HOSTILE_HTML = f"<p id='hostile'>hostile html</p><script>{ATTEMPTS}</script>"
HOSTILE_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="30"'
    " onload=\"window.top.pwned = 'svg onload'\">"
    "<script>window.top.pwned = 'svg script'</script>"
    '<rect width="40" height="30" fill="#c62828"/></svg>'
)
HOSTILE_MARKDOWN = (
    "# Hostile notes\n\n"
    "<img src=x onerror=\"window.top.pwned = 'markdown onerror'\">\n\n"
    "[a link](javascript:void(window.top.pwned='markdown link'))\n\n"
    "<a href=\"javascript:window.top.pwned='markdown anchor'\">an anchor</a>\n\n"
    "<script>window.top.pwned = 'markdown script'</script>\n\n"
    "**still bold**\n"
)
HOSTILE_FILE = f"<!doctype html><body><script>{ATTEMPTS}</script>"
HOSTILE_RUN = f"""
display({{"text/html": {HOSTILE_HTML!r}, "text/plain": "hostile html"}}, raw=True)
display({{"image/svg+xml": {HOSTILE_SVG!r}, "text/plain": "a red box"}}, raw=True)
display({{"text/markdown": {HOSTILE_MARKDOWN!r}}}, raw=True)
open("x.html", "w").write({HOSTILE_FILE!r})
print("hostile")
"""
MARKERS = (
    "return {pwned: window.pwned === undefined ? null : String(window.pwned),"
    " title: document.title, cookie: document.cookie, stored: localStorage.getItem('pwned')}"
)


def run_code(driver: WebDriver, code: str) -> None:
    set_code(driver, code)
    by_id(driver, "run").click()
    wait_for(driver, finished)


def assert_nothing_ran_here(driver: WebDriver) -> None:
    markers = driver.execute_script(MARKERS)
    assert markers["pwned"] is None
    assert "pwned" not in markers["title"]
    assert "pwned" not in markers["cookie"]
    assert markers["stored"] is None


def policy_violations(driver: WebDriver) -> list[str]:
    """What the browser's console said against the page's Content-Security-Policy."""
    assert isinstance(driver, ChromiumDriver)
    return [
        str(entry["message"])
        for entry in driver.get_log("browser")  # type: ignore[no-untyped-call]
        if "Content Security Policy" in str(entry["message"])
    ]


def loaded_image(driver: WebDriver, css: str) -> WebElement:
    image = driver.find_element(By.CSS_SELECTOR, css)
    wait_for(driver, lambda d: d.execute_script("return arguments[0].complete", image))
    return image


def natural_width(driver: WebDriver, image: WebElement) -> int:
    return int(driver.execute_script("return arguments[0].naturalWidth", image))


def painted_colour(driver: WebDriver, image: WebElement) -> list[int]:
    """The colour at the middle of a screenshot of the element, read back by the page."""
    shot = image.screenshot_as_base64
    found = driver.execute_async_script(
        "const done = arguments[1]; const img = new Image();"
        "img.onload = () => { const c = document.createElement('canvas');"
        "c.width = img.width; c.height = img.height; const g = c.getContext('2d');"
        "g.drawImage(img, 0, 0);"
        "done(Array.from(g.getImageData(img.width >> 1, img.height >> 1, 1, 1).data)); };"
        "img.src = 'data:image/png;base64,' + arguments[0];",
        shot,
    )
    return [int(v) for v in found[:3]]


def fetched(driver: WebDriver, url: str) -> dict[str, Any]:
    """GET url from the page (its cookies), as the download link would."""
    answer: dict[str, Any] = driver.execute_async_script(
        "const done = arguments[1];"
        "fetch(arguments[0]).then(async (r) => { const bytes = new Uint8Array(await r.arrayBuffer());"
        "done({status: r.status, headers: Object.fromEntries(r.headers),"
        " bytes: Array.from(bytes)}); }, (e) => done({error: String(e)}));",
        url,
    )
    return answer


def test_a_png_result_shows_on_the_editor_the_permalink_and_is_marked_in_history(
    sandpit_server: LiveServer, new_browser: Callable[..., WebDriver]
) -> None:
    driver = new_browser()
    open_playground(driver, sandpit_server)
    run_code(driver, PNG_RESULT)
    assert text_of(driver, "stdout") == "drawn\n"
    css = '[data-testid="results"] [data-mime="image/png"] img'
    image = loaded_image(driver, css)
    assert natural_width(driver, image) == 160
    assert image.get_attribute("alt") == "An orange rectangle"
    assert str(image.get_attribute("src")).startswith("data:image/png;base64,")
    driver.execute_script("arguments[0].scrollIntoView()", image)
    screenshot(driver, "result-png")
    painted = painted_colour(driver, image)
    assert all(abs(a - b) <= 3 for a, b in zip(painted, ORANGE, strict=True)), painted
    assert policy_violations(driver) == []

    permalink = str(by_id(driver, "permalink").get_attribute("href"))
    driver.get(permalink)
    image = loaded_image(driver, css)
    assert natural_width(driver, image) == 160
    screenshot(driver, "result-png-permalink")

    driver.get(sandpit_server.url + "/history")
    row = driver.find_element(By.CSS_SELECTOR, '[data-testid="history-link"]')
    cell = row.find_element(By.XPATH, "..")
    assert [t.text for t in cell.find_elements(By.CSS_SELECTOR, ".tag")] == ["results"]
    assert policy_violations(driver) == []


def test_hostile_results_and_files_run_nothing_in_sandpits_origin(
    sandpit_server: LiveServer, new_browser: Callable[..., WebDriver]
) -> None:
    driver = new_browser()
    open_playground(driver, sandpit_server)
    run_code(driver, HOSTILE_RUN)
    assert text_of(driver, "stdout") == "hostile\n", text_of(driver, "stderr")
    results = driver.find_elements(By.CSS_SELECTOR, '[data-testid="result"]')
    assert [r.get_attribute("data-mime") for r in results] == [
        "text/html",
        "image/svg+xml",
        "text/markdown",
    ]

    # HTML: in a frame sandboxed without scripts and without Sandpit's origin.
    frame = by_id(driver, "result-frame")
    assert frame.get_attribute("sandbox") == ""
    driver.switch_to.frame(frame)
    wait_for(driver, lambda d: d.find_elements(By.ID, "hostile"))
    assert driver.find_element(By.TAG_NAME, "body").get_attribute("data-ran") is None
    driver.switch_to.default_content()

    # SVG: a picture, never markup in the page.
    svg = loaded_image(driver, '[data-mime="image/svg+xml"] img')
    assert str(svg.get_attribute("src")).startswith("data:image/svg+xml")
    assert natural_width(driver, svg) == 40
    assert driver.find_elements(By.CSS_SELECTOR, "#results svg") == []

    # Markdown: rendered, and nothing that runs survives.
    box = driver.find_element(By.CSS_SELECTOR, ".result-markdown")
    assert box.find_element(By.TAG_NAME, "h1").text == "Hostile notes"
    assert box.find_element(By.TAG_NAME, "strong").text == "still bold"
    assert box.find_elements(By.TAG_NAME, "script") == []
    assert driver.find_elements(By.CSS_SELECTOR, "[onerror], [onload]") == []
    links = box.find_elements(By.TAG_NAME, "a")
    assert "an anchor" in [a.text for a in links]
    for link in links:
        assert not str(link.get_attribute("href") or "").startswith("javascript:")
        link.click()
    assert_nothing_ran_here(driver)

    # The owner turns the HTML's scripts on: they run, but in an opaque origin.
    by_id(driver, "result-scripts").click()
    frame = by_id(driver, "result-frame")
    assert frame.get_attribute("sandbox") == "allow-scripts"
    driver.switch_to.frame(frame)
    wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "body[data-ran]"))
    assert driver.find_element(By.TAG_NAME, "body").get_attribute("data-ran") == "null"
    driver.switch_to.default_content()
    assert_nothing_ran_here(driver)
    screenshot(driver, "hostile-results")

    # x.html: listed, downloaded as an attachment, never a page of Sandpit's.
    link = driver.find_element(By.CSS_SELECTOR, '[data-testid="file-link"]')
    assert link.text == "x.html"
    assert link.get_attribute("download") == "x.html"
    url = str(link.get_attribute("href"))
    answer = fetched(driver, url)
    assert answer["status"] == 200
    assert answer["headers"]["content-disposition"].startswith("attachment")
    assert answer["headers"]["x-content-type-options"] == "nosniff"
    assert answer["headers"]["content-security-policy"].startswith("sandbox")
    assert bytes(answer["bytes"]).decode() == HOSTILE_FILE
    permalink = str(by_id(driver, "permalink").get_attribute("href"))
    driver.get(url)  # straight to the file, as a link opened in a tab would
    driver.get(permalink)
    wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, '[data-testid="file-link"]'))
    assert_nothing_ran_here(driver)
    # A watcher of the permalink is not its owner: they cannot turn scripts on.
    assert by_id(driver, "results").get_attribute("data-owner") is not None
    watcher = new_browser()
    by_id(driver, "share").click()
    wait_for(driver, lambda d: by_id(d, "share").text == "Unshare")
    watcher.get(permalink)
    wait_for(watcher, lambda d: d.find_elements(By.CSS_SELECTOR, '[data-testid="result"]'))
    assert watcher.find_elements(By.CSS_SELECTOR, '[data-testid="result-scripts"]') == []
    assert by_id(watcher, "result-frame").get_attribute("sandbox") == ""


def test_an_upload_reaches_the_run_and_the_files_it_writes_download(
    sandpit_server: LiveServer, new_browser: Callable[..., WebDriver]
) -> None:
    driver = new_browser()
    open_playground(driver, sandpit_server)
    data = bytes(range(256)) * 40
    upload = Path(tempfile.mkdtemp(prefix="sandpit-upload-")) / "data.bin"
    upload.write_bytes(data)
    picker = by_id(driver, "upload-input")
    driver.execute_script("arguments[0].closest('details').open = true", picker)
    picker.send_keys(str(upload))
    wait_for(driver, lambda d: "data.bin" in text_of(d, "uploads"))
    assert "10 KiB" in text_of(driver, "uploads")
    code = (
        MAKE_PNG
        + "import hashlib, os\n"
        + "data = open('data.bin', 'rb').read()\n"
        + "print(len(data), hashlib.sha256(data).hexdigest())\n"
        + "os.makedirs('out', exist_ok=True)\n"
        + "open('out/report.txt', 'w').write('hello files\\n')\n"
        + "open('chart.png', 'wb').write(png(64, 32, (26, 127, 55)))\n"
    )
    run_code(driver, code)
    assert text_of(driver, "stdout") == f"{len(data)} {hashlib.sha256(data).hexdigest()}\n"
    saved = str(driver.execute_script("return localStorage.getItem('sandpit.editor.v1')"))
    assert json.loads(saved)["files"] == [], "uploads are never kept in the browser"
    assert base64.b64encode(data[:48]).decode() not in saved

    def listed(d: WebDriver) -> dict[str, str]:
        links = d.find_elements(By.CSS_SELECTOR, '[data-testid="file-link"]')
        return {a.text: str(a.get_attribute("href")) for a in links}

    files = listed(driver)
    # ** asks for every file of the working directory, but the upload, left as it was,
    # is not kept a second time.
    assert set(files) == {"chart.png", "out/report.txt"}
    assert "12 B" in text_of(driver, "run-files")
    assert bytes(fetched(driver, files["out/report.txt"])["bytes"]) == b"hello files\n"
    preview = loaded_image(driver, ".file-preview")
    assert preview.get_attribute("src") == files["chart.png"]
    assert natural_width(driver, preview) == 64
    screenshot(driver, "run-files")

    permalink = str(by_id(driver, "permalink").get_attribute("href"))
    driver.get(permalink)
    wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, '[data-testid="file-link"]'))
    assert listed(driver) == files
    assert natural_width(driver, loaded_image(driver, ".file-preview")) == 64

    driver.get(sandpit_server.url + "/history")
    assert [t.text for t in driver.find_elements(By.CSS_SELECTOR, "td .tag")] == ["files"]

    # A reload forgets the upload.
    open_playground(driver, sandpit_server)
    assert text_of(driver, "uploads") == "", "a reload forgets uploads"


def test_an_upload_can_be_removed_before_the_run(
    sandpit_server: LiveServer, new_browser: Callable[..., WebDriver]
) -> None:
    driver = new_browser()
    open_playground(driver, sandpit_server)
    folder = Path(tempfile.mkdtemp(prefix="sandpit-upload-"))
    for name in ("keep.txt", "drop.txt"):
        (folder / name).write_text(name)
    picker = by_id(driver, "upload-input")
    driver.execute_script("arguments[0].closest('details').open = true", picker)
    picker.send_keys(f"{folder / 'keep.txt'}\n{folder / 'drop.txt'}")
    wait_for(driver, lambda d: "drop.txt" in text_of(d, "uploads"))
    driver.find_element(By.CSS_SELECTOR, '[aria-label="Remove drop.txt"]').click()
    assert "drop.txt" not in text_of(driver, "uploads")
    run_code(driver, "import os\nprint(sorted(os.listdir('.')))")
    assert json.loads(text_of(driver, "stdout").replace("'", '"')) == ["keep.txt"]


KINDS_RUN = (
    MAKE_PNG
    + """
import base64
picture = base64.b64encode(png(30, 20, (11, 99, 196))).decode()
display({"image/png": picture, "text/html": "<b>html too</b>", "text/plain": "a blue box"},
        metadata={"image/png": {"width": 60}}, raw=True)
display({"text/html": "<b>bold html</b>", "text/markdown": "**markdown**"}, raw=True)
display({"application/json": {"outer": {"inner": [1, 2]}, "n": None}, "text/plain": "{...}"}, raw=True)
display({"application/vnd.example+json": {"kind": "custom"}}, raw=True)
display({"application/pdf": base64.b64encode(b"%PDF-1.4 tiny").decode(), "text/plain": "doc"},
        raw=True)
display({"text/latex": "$x^2$", "text/plain": "x**2"}, raw=True)
display(42)
"""
)


def test_each_result_shows_by_its_richest_type(
    sandpit_server: LiveServer, new_browser: Callable[..., WebDriver]
) -> None:
    driver = new_browser()
    open_playground(driver, sandpit_server)
    run_code(driver, KINDS_RUN)
    results = driver.find_elements(By.CSS_SELECTOR, '[data-testid="result"]')
    assert [r.get_attribute("data-mime") for r in results] == [
        "image/png",
        "text/html",
        "application/json",
        "application/vnd.example+json",
        "application/pdf",
        "text/latex",
        "text/plain",
    ], text_of(driver, "stderr")
    _, html, tree, custom, pdf, latex, plain = results
    image = loaded_image(driver, '[data-mime="image/png"] img')
    assert image.get_attribute("alt") == "a blue box"
    assert driver.execute_script("return arguments[0].width", image) == 60  # its metadata
    assert html.find_element(By.TAG_NAME, "iframe").get_attribute("sandbox") == ""

    # JSON: a tree of <details>, the first level open, deeper ones built when opened.
    top = tree.find_element(By.CSS_SELECTOR, ".json-tree > details")
    assert top.get_attribute("open") is not None
    inner = top.find_element(By.CSS_SELECTOR, "li details")
    assert inner.get_attribute("open") is None
    assert inner.find_elements(By.TAG_NAME, "ul") == []
    inner.find_element(By.TAG_NAME, "summary").click()
    wait_for(driver, lambda d: inner.find_elements(By.CSS_SELECTOR, "details ul"))
    assert "inner: [2]" in inner.text
    assert "null" in top.text
    assert "custom" in custom.text

    assert pdf.find_element(By.TAG_NAME, "button").text.startswith("Download PDF")
    assert latex.find_element(By.TAG_NAME, "pre").text == "$x^2$"
    assert plain.find_element(By.TAG_NAME, "pre").text == "42"
    assert policy_violations(driver) == []
