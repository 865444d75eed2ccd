"""Everyone browses and searches the catalog; a new member collects a watch."""

import json
import re
import time
import uuid

from playwright.sync_api import expect

from conftest import ARTIFACTS, PHONE, page_check, record_measure

TRANSFER_BUDGET_BYTES = 250 * 1024


def test_first_visit_is_small_and_shows_results(visitor):
    person = visitor()
    page = person.page
    cdp = person.context.new_cdp_session(page)
    cdp.send("Network.enable")
    transferred = {}
    cdp.on("Network.loadingFinished", lambda event: transferred.__setitem__(event["requestId"], event["encodedDataLength"]))
    started = time.monotonic()
    page.goto("/")
    expect(page.locator(".grid .card").first).to_be_visible()
    # the app marks the moment it first draws results (a poll from here would lag)
    first_results_ms = page.evaluate("performance.getEntriesByName('vitrine:first-results')[0].startTime")
    timeline = page.evaluate(
        "performance.getEntriesByType('resource').map(e => [e.name.replace(location.origin, ''), Math.round(e.startTime), Math.round(e.responseEnd)])"
    )
    (ARTIFACTS / "first-visit-timeline.json").write_text(json.dumps(timeline, indent=0))
    page.wait_for_load_state("networkidle")
    total = sum(transferred.values())
    record_measure("first_visit_transfer_bytes", total)
    record_measure("first_visit_requests", len(transferred))
    record_measure("first_results_ms", round(first_results_ms))
    record_measure("first_results_wall_ms", round((time.monotonic() - started) * 1000))
    print(f"first visit: {total} bytes in {len(transferred)} responses, first results at {first_results_ms:.0f} ms")
    assert total < TRANSFER_BUDGET_BYTES
    page_check(page, "catalog")


def test_search_filters_and_sort_live_in_the_url(visitor):
    page = visitor().page
    page.goto("/")
    page.get_by_label("Поиск по названию, коду, марке").fill("амфиб")
    expect(page).to_have_url(re.compile(r"q=%D0%B0%D0%BC%D1%84%D0%B8%D0%B1"))
    expect(page.locator(".card-title").first).to_have_text("Амфибия")
    if not page.get_by_label("Сортировка").is_visible():
        page.get_by_text("Фильтры и сортировка").click()
    page.get_by_label("Сортировка").select_option("-start_release")
    expect(page).to_have_url(re.compile(r"sort=-start_release"))
    expect(page.locator(".results")).not_to_have_attribute("aria-busy", "true")
    first_years = page.locator(".card-meta").first.text_content()
    page.reload()
    expect(page.get_by_label("Поиск по названию, коду, марке")).to_have_value("амфиб")
    expect(page.locator(".card-meta").first).to_have_text(first_years)
    page.go_back()
    expect(page).not_to_have_url(re.compile(r"sort="))


def test_a_new_member_finds_a_watch_and_collects_it(visitor):
    person = visitor(PHONE)
    page = person.page
    name = f"collector_{uuid.uuid4().hex[:8]}"
    page.goto("/")
    page.get_by_role("link", name="Регистрация").click()
    page_check(page, "register")
    page.get_by_label("Имя пользователя").fill(name)
    page.get_by_label("Электронная почта").fill(f"{name}@example.com")
    page.get_by_label("Пароль").fill("short")
    page.get_by_role("button", name="Зарегистрироваться").click()
    # the API's field error appears under its field
    expect(page.locator("[data-error-for=password]")).not_to_be_empty()
    page_check(page, "register-error")
    page.get_by_label("Пароль").fill("a long enough password")
    page.get_by_role("button", name="Зарегистрироваться").click()
    expect(page.get_by_role("link", name=name)).to_be_visible()

    page.get_by_label("Поиск по названию, коду, марке").fill("командир")
    expect(page).to_have_url(re.compile(r"q=%D0%BA%D0%BE%D0%BC%D0%B0%D0%BD%D0%B4%D0%B8%D1%80"))
    card = page.locator(".card").filter(has_text="Командирские").first
    expect(card).to_be_visible()
    page_check(page, "search-komandir")
    card.get_by_role("link").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Командирские")
    expect(page.get_by_text("2414А")).to_be_visible()
    page.get_by_role("button", name="Слева").click()
    expect(page.locator(".gallery-main")).to_have_attribute("alt", "Командирские: Слева")
    page.get_by_role("link", name="Открыть в полном размере").click()
    full = page.get_by_role("dialog")
    expect(full.locator("img")).to_have_attribute("src", re.compile(r"^/api/v1/files/[^?]+$"))
    page.wait_for_function("() => document.querySelector('dialog img').naturalWidth === 640")
    page.keyboard.press("Escape")
    expect(full).to_have_count(0)
    add = page.get_by_role("button", name="Добавить в коллекцию")
    page_check(page, "watch")
    add.click()
    expect(page.get_by_role("button", name="Убрать из коллекции")).to_be_visible()

    page.get_by_role("link", name="Моя коллекция").click()
    expect(page.locator(".grid .card")).to_have_count(1)
    page_check(page, "my-collection")
    # a reload keeps the session: the refresh cookie brings a new access token
    page.reload()
    expect(page.get_by_role("link", name=name)).to_be_visible()
    cookies = person.context.cookies()
    refresh = [cookie for cookie in cookies if cookie["name"] == "vitrine_refresh"]
    assert refresh and refresh[0]["httpOnly"] and refresh[0]["sameSite"] == "Strict"
    assert refresh[0]["path"] == "/api/v1/auth/refresh"
    assert page.evaluate("document.cookie") == ""


def test_the_app_speaks_english_on_request_and_keeps_it(visitor):
    page = visitor().page
    page.goto("/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Каталог часов")
    page.get_by_role("button", name="Switch to English").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Watch catalog")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.reload()
    expect(page.get_by_label("Search by name, code or brand")).to_be_visible()
    page_check(page, "catalog-en")
    page.get_by_role("button", name="Переключить на русский").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Каталог часов")


def test_the_catalog_is_used_by_keyboard_alone(visitor):
    page = visitor(PHONE).page
    page.goto("/")
    expect(page.locator(".grid .card").first).to_be_visible()
    page.keyboard.press("Tab")
    expect(page.locator("#skip-link")).to_be_focused()
    page.keyboard.press("Enter")
    # from the main content: the search field is the first control
    page.keyboard.press("Tab")
    expect(page.get_by_label("Поиск по названию, коду, марке")).to_be_focused()
    page.keyboard.type("амфибия")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile("q="))
    expect(page.locator(".card-title").first).to_have_text("Амфибия")
    # Tab on to the first card's link and open it
    for _ in range(20):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.classList.contains('card-link')"):
            break
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Амфибия")
    expect(page.get_by_role("heading", level=1)).to_be_focused()
