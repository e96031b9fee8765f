"""The server's page in a real headless browser: Debian's chromium driven by selenium (no browser download).

Sign in with the token (a wrong one refused), drop a clip (through the file input, the drop's own path),
watch it, read the verdict, the tracks and the offset-over-time plot, download the document, fix, and
download the fixed copy; nothing the page loads may break its Content-Security-Policy.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest

from .oracle import make_flash_clip
from .test_export import packets
from .test_server import RunningServer, start_server

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                                reason="needs the system's chromium and chromedriver (apt: chromium chromium-driver)")
WAIT_S = 120.0


@pytest.fixture(scope="module")
def page_server(tmp_path_factory: pytest.TempPathFactory, oracle_weights: Path) -> Iterator[RunningServer]:
    root = tmp_path_factory.mktemp("media")
    running = start_server(tmp_path_factory.mktemp("page-data"), root, oracle_weights, workers=1)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """On the browser's side: a 16 s clip whose audio leads by 120 ms (several points over time)."""
    return make_flash_clip(tmp_path_factory.mktemp("desk") / "take one.mp4", seconds=16.0, audio_lead_s=0.12, seed=4)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,1400", "--no-first-run", "--disable-extensions", "--disable-sync",
                     "--disable-background-networking", "--disable-component-update", "--no-proxy-server"):
        options.add_argument(argument)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    driver.set_page_load_timeout(30)
    driver.downloads = downloads
    try:
        yield driver
    finally:
        driver.quit()


def until(condition: Callable[[], object], timeout: float = WAIT_S, what: str = "the page") -> object:
    """``condition()`` once it is truthy, polled; a timeout fails the test."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what} did not happen in {timeout:g} s")


def downloaded(folder: Path, name: str) -> Path:
    path = folder / name
    until(lambda: path.is_file() and not list(folder.glob("*.crdownload")), 30, f"the download of {name}")
    return path


def test_sign_in_analyse_read_fix_and_download(page_server, browser, clip):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    element = lambda id_: browser.find_element(By.ID, id_)  # noqa: E731
    browser.get(page_server.url + "/")
    assert element("login").is_displayed() and not element("work").is_displayed()

    element("token").send_keys("not-the-token-at-all")
    element("sign-in").click()
    until(lambda: "refused the token" in element("login-error").text, 10, "the wrong token's refusal")
    assert not element("work").is_displayed()

    element("token").clear()
    element("token").send_keys(page_server.token)
    element("sign-in").click()
    until(lambda: element("work").is_displayed(), 10, "signing in")

    Select(element("tolerance")).select_by_value("ebu-r37")
    element("file").send_keys(str(clip))
    until(lambda: element("result").is_displayed() or element("work-error").text, what="the analysis")
    assert element("work-error").text == ""
    assert element("file-name").text == "take one.mp4"
    assert element("direction").text.startswith("audio leads video by 1")
    assert element("offset").text.startswith("+3 frames")
    assert "outside" in element("tolerance-result").text
    assert len(element("tracks").find_elements(By.CSS_SELECTOR, "tbody tr")) == 1
    plot = element("plot")
    assert len(plot.find_elements(By.CSS_SELECTOR, "circle")) >= 3
    assert plot.find_elements(By.CSS_SELECTOR, "rect.band")  # the tolerance's band

    element("download-document").click()
    document = json.loads(downloaded(browser.downloads, "take one.analysis.json").read_text(encoding="utf-8"))
    assert document["offset_frames"] == 3 and document["source"]["path"] == "take one.mp4"

    element("force").click()
    element("fix").click()
    until(lambda: element("download-fixed").is_displayed() or element("fix-text").text.startswith("confidence"),
          what="the fix")
    assert element("fix-text").text.startswith("audio delayed by")
    element("download-fixed").click()
    fixed = downloaded(browser.downloads, "take one.synced.mp4")
    assert packets(fixed) == packets(clip)

    problems = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"
                and not (entry["source"] == "network" and "/v1/roots" in entry["message"] and "401" in entry["message"])]
    assert problems == []  # no script error, no Content-Security-Policy violation (the wrong token's 401 aside)

    browser.refresh()  # the token stays for the tab's session
    until(lambda: element("work").is_displayed(), 10, "signing in again from the session")
    element("sign-out").click()
    assert element("login").is_displayed() and not element("work").is_displayed()


def test_the_page_loads_nothing_from_elsewhere(page_server):
    import httpx

    with httpx.Client(base_url=page_server.url, trust_env=False) as client:
        page = client.get("/")
        script = client.get("/static/app.js")
        assert page.status_code == 200 and script.status_code == 200
        assert "default-src 'none'" in page.headers["content-security-policy"]
        for text in (page.text, script.text, client.get("/static/app.css").text):
            assert "http://" not in text.replace("http://www.w3.org/2000/svg", "") and "https://" not in text
        assert client.get("/static/../security.py").status_code == 404
        assert client.get("/static/nothing.js").status_code == 404
