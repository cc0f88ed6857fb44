"""The 360° page in a real browser: Debian's headless Chromium driven through chromedriver.

The screenshot lands in test-results/serving/ (git-ignored), beside the server's log.
"""

from __future__ import annotations

import shutil

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as visible
from selenium.webdriver.support.ui import WebDriverWait

from serving_server import OPENID, OUTPUT, STAFF_KEY, shared_server

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


@pytest.fixture(scope="module")
def browser():
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not shutil.which(path)]
    if missing:
        pytest.fail(f"{' and '.join(missing)} missing: `bash scripts/setup.sh` installs Debian's chromium and "
                    "chromium-driver", pytrace=False)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1100",
                     "--lang=zh-CN"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def test_search_by_openid_shows_tags_and_timeline(browser):
    server = shared_server()
    wait = WebDriverWait(browser, 15)
    browser.get(f"{server.url}/ui/")
    browser.find_element(By.ID, "api-key").send_keys(STAFF_KEY)
    browser.find_element(By.CSS_SELECTOR, "#key-form button").click()
    browser.find_element(By.ID, "search").send_keys(OPENID)
    browser.find_element(By.CSS_SELECTOR, "#search-form button").click()
    wait.until(visible.visibility_of_element_located((By.ID, "profile")))
    wait.until(visible.text_to_be_present_in_element((By.ID, "message"), "as of"))
    browser.save_screenshot(str(OUTPUT / "page_360.png"))

    assert browser.find_element(By.ID, "profile-title").text == "张伟 · OID_A"
    categories = {
        group.get_attribute("data-category"): [chip.get_attribute("data-tag-code")
                                               for chip in group.find_elements(By.CSS_SELECTOR, ".tag")]
        for group in browser.find_elements(By.CSS_SELECTOR, ".tag-group")
    }
    assert categories == {"价值分层": ["high_value"], "基础属性": ["gender", "city_tier"], "消费行为": ["order_count_365d"]}
    assert "新一线" in browser.find_element(By.ID, "tags").text
    titles = [title.text for title in browser.find_elements(By.CSS_SELECTOR, "#timeline li strong")]
    assert titles == ["sign_in", "Order T2002", "add_cart", "product_view", "Order P1001"]  # newest first
    second = browser.find_elements(By.CSS_SELECTOR, "#timeline li")[1].text
    assert "2026-01-03 20:05:00" in second and "天猫" in second and "¥158.50" in second
    assert "loyal since 2025-11-20" in browser.find_element(By.ID, "value").text
    assert browser.find_element(By.ID, "segments").text.split("\n") == ["high_value_active", "wechat_engaged"]
    golden = browser.find_element(By.ID, "golden").text
    assert "138****8000" in golden and "13800138000" not in browser.page_source
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []


def test_a_placeholder_mobile_is_explained_not_searched(browser):
    server = shared_server()
    browser.get(f"{server.url}/ui/")  # the key stays in this tab's sessionStorage
    search = browser.find_element(By.ID, "search")
    search.send_keys("13800000000")
    browser.find_element(By.CSS_SELECTOR, "#search-form button").click()
    WebDriverWait(browser, 10).until(visible.text_to_be_present_in_element((By.ID, "message"), "placeholder"))
    assert browser.find_element(By.ID, "message").get_attribute("class") == "error"
    assert not browser.find_element(By.ID, "profile").is_displayed()
