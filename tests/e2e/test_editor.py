"""Moderators edit the catalog directly, confirm deletions and read a 409 in words."""

import re

from playwright.sync_api import expect

from conftest import page_check, sign_in
from seed import PASSWORD, STAFF, watch_photo


def test_a_moderator_edits_references_and_a_watch(visitor, tmp_path):
    page = visitor().page
    sign_in(page, STAFF["moderator"], PASSWORD)
    page.get_by_role("link", name="Справочники").click()
    expect(page.locator(".reference-row").first).to_be_visible()
    # a brand still in use: the refusal says so in words, next to it
    row = page.locator(".reference-row[data-reference='Восток']")
    row.get_by_role("button", name="Удалить").click()
    page.get_by_role("dialog").get_by_role("button", name="Удалить").click()
    expect(row.get_by_role("alert")).to_contain_text("Нельзя удалить: запись ещё используется")
    expect(row.get_by_role("alert")).to_contain_text("watches")
    page_check(page, "references")

    page.get_by_label("Новая запись").fill("Заря")
    page.get_by_role("button", name="Добавить").click()
    added = page.locator(".reference-row[data-reference='Заря']")
    expect(added).to_be_visible()
    added.get_by_role("button", name="Удалить").click()
    page.get_by_role("dialog").get_by_role("button", name="Отмена").click()
    expect(added).to_be_visible()
    added.get_by_role("button", name="Удалить").click()
    page.get_by_role("dialog").get_by_role("button", name="Удалить").click()
    expect(page.get_by_text("«Заря» удалено.")).to_be_visible()

    page.get_by_role("link", name="Новые часы").click()
    page.get_by_label("Папка (латиницей)").fill("zarya_e2e")
    page.get_by_label("Названия").fill("Заря Е2Е")
    page.get_by_role("button", name="Сохранить").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Заря Е2Е")
    page.get_by_role("link", name="Изменить").click()
    photo = tmp_path / "zarya.jpg"
    photo.write_bytes(watch_photo(11, "main"))
    page.locator("#photo-main").set_input_files(str(photo))
    expect(page.get_by_text("Фото сохранено.")).to_be_visible()
    expect(page.locator(".side-editor").first.locator("progress")).to_have_attribute("value", "1")
    page_check(page, "watch-editor")
    page.get_by_role("button", name="Удалить часы").click()
    page.get_by_role("dialog").get_by_role("button", name="Удалить").click()
    expect(page).to_have_url(re.compile(r"/$"))
    page.goto("/?q=заря")
    expect(page.locator(".empty")).to_contain_text("Ничего не найдено")
