"""The admin in a real browser: a department editor logs in with its password (a member, not
staff), opens its R7 draft, types its progress and a rating, saves; the evaluation has them,
at version 2, with a history record by that editor.

Headless Chromium with its driver (Debian's ``chromium`` and ``chromium-driver``) against
the live server; skipped where either is missing. Set ``ADMIN_BROWSER_SCREENSHOTS`` to a
directory to keep a screenshot of each page.
"""

import os
from pathlib import Path

import pytest

from evaluations.models import Evaluation, RoundStatus
from initiatives.models import DepartmentRole
from tests.browser import chromium
from tests.helpers import member, open_r7

PASSWORD = "kikaku-Progress-2025!"
PROGRESS = "体験会を県内10か所で開催し、延べ1,200人が参加した。"


@pytest.fixture
def browser():
    driver = chromium("--lang=ja", prefs={"intl.accept_languages": "ja"})
    driver.implicitly_wait(5)
    yield driver
    driver.quit()


def _screenshot(driver, name: str) -> None:
    directory = os.environ.get("ADMIN_BROWSER_SCREENSHOTS")
    if directory:
        Path(directory).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(directory) / f"{name}.png"))


@pytest.mark.django_db(transaction=True)
def test_editor_saves_progress_in_the_browser(
    browser, live_server, settings, plan, secretariat, django_user_model
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.select import Select
    from selenium.webdriver.support.ui import WebDriverWait

    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = False  # plain http here
    round_ = open_r7(secretariat, plan)
    assert round_.status == RoundStatus.OPEN
    draft = Evaluation.objects.get(round=round_, initiative__number=89)
    editor = member(django_user_model, "kikaku-editor", "kikaku-shinko", DepartmentRole.EDITOR)
    editor.set_password(PASSWORD)
    editor.save()
    assert not editor.is_staff

    browser.get(f"{live_server.url}/admin/")
    browser.find_element(By.ID, "id_username").send_keys("kikaku-editor")
    browser.find_element(By.ID, "id_password").send_keys(PASSWORD)
    _screenshot(browser, "1-login")
    browser.find_element(By.CSS_SELECTOR, "#login-form [type=submit]").click()
    WebDriverWait(browser, 10).until(expected_conditions.title_contains("管理メニュー"))
    _screenshot(browser, "2-index")

    browser.get(f"{live_server.url}/admin/evaluations/evaluation/{draft.pk}/change/")
    assert "指標に基づく目安" in browser.page_source
    progress = browser.find_element(By.ID, "id_progress_text")
    progress.clear()
    progress.send_keys(PROGRESS)
    Select(browser.find_element(By.ID, "id_rating")).select_by_value("B")
    _screenshot(browser, "3-change")
    browser.find_element(By.CSS_SELECTOR, "input[name=_save]").click()
    WebDriverWait(browser, 10).until(
        expected_conditions.presence_of_element_located((By.CSS_SELECTOR, ".messagelist .success"))
    )
    _screenshot(browser, "4-saved")

    saved = Evaluation.objects.get(pk=draft.pk)
    assert (saved.progress_text, saved.rating, saved.version) == (PROGRESS, "B", 2)
    latest = saved.history.latest()
    assert latest.history_user == editor
    assert latest.history_change_reason == "update (admin)"
