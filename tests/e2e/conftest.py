"""Fixtures of the browser tests: one vitrine server, Chromium, screenshots and axe."""

import json
import os
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect, sync_playwright

from seed import ROOT, Server

ARTIFACTS = Path(os.environ.get("E2E_ARTIFACTS", ROOT / "target" / "e2e-artifacts"))
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
PHONE = {"width": 375, "height": 740}
# a shared CI machine can be slow: waits are generous, and a pass never depends on them
expect.set_options(timeout=15_000)
DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture(scope="session")
def server():
    server = Server().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser():
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


class Visitor:
    """One browser context (one person) on the app, failing on script errors and CSP reports."""

    def __init__(self, browser, server, viewport=DESKTOP):
        self.server = server
        self.context = browser.new_context(viewport=viewport, locale="ru-RU", base_url=server.url)
        self.page = self.context.new_page()
        self.errors = []
        self.page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))
        self.page.on("console", self._console)

    def _console(self, message):
        if message.type == "error" and "Content Security Policy" in message.text:
            self.errors.append(f"CSP: {message.text}")

    def check_clean(self):
        assert not self.errors, self.errors

    def close(self):
        self.context.close()


@pytest.fixture
def visitor(browser, server):
    opened = []

    def open_visitor(viewport=DESKTOP):
        person = Visitor(browser, server, viewport)
        opened.append(person)
        return person

    yield open_visitor
    for person in opened:
        person.check_clean()
        person.close()


def screenshots(page, name):
    """The page at phone and desktop width, full length."""
    original = page.viewport_size
    for label, size in (("375", PHONE), ("1280", DESKTOP)):
        page.set_viewport_size(size)
        page.wait_for_load_state("networkidle")  # images in view have arrived
        page.screenshot(path=str(ARTIFACTS / f"{name}-{label}.png"), full_page=True)
    page.set_viewport_size(original)


def check_accessibility(page, name):
    """axe-core on the page as it is; serious or critical violations fail the test."""
    results = Axe().run(page)
    violations = results.response["violations"]
    (ARTIFACTS / f"{name}-axe.json").write_text(json.dumps(violations, ensure_ascii=False, indent=1))
    grave = [
        f"{violation['id']} ({violation['impact']}): {violation['help']} — "
        + "; ".join(node["target"][0] if isinstance(node["target"][0], str) else str(node["target"]) for node in violation["nodes"][:5])
        for violation in violations
        if violation["impact"] in ("serious", "critical")
    ]
    assert not grave, f"{name}: " + "\n".join(grave)


def record_measure(name, value):
    path = ARTIFACTS / "measures.json"
    measures = json.loads(path.read_text()) if path.exists() else {}
    measures[name] = value
    path.write_text(json.dumps(measures, indent=1))


def page_check(page, name):
    screenshots(page, name)
    check_accessibility(page, name)


def sign_in(page, login, password):
    page.goto("/signin")
    page.get_by_label("Имя пользователя или почта").fill(login)
    page.get_by_label("Пароль").fill(password)
    page.get_by_role("button", name="Войти").click()
    page.get_by_role("link", name=login).wait_for()


def new_member(server, prefix):
    """A member registered through the API: (username, password)."""
    import uuid

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    password = "a long member password"
    answer = server.request("POST", "/auth/register", {"username": name, "email": f"{name}@example.com", "password": password})
    # the registration's own session ends: the member's sessions are the browsers' ones
    server.request("POST", "/auth/logout", token=answer["access_token"])
    return name, password
