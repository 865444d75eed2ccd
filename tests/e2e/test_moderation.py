"""Members propose, moderators review the diff and decide, and the catalog follows."""

import re

from playwright.sync_api import expect

from conftest import PHONE, new_member, page_check, sign_in
from seed import PASSWORD, STAFF, watch_photo


def loaded(page, image):
    """Waits until an <img> has its picture (a blob: URL for private photos)."""
    expect(image).to_be_visible()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())


def test_a_proposed_watch_with_a_photo_is_approved_with_the_diff_in_view_and_found(visitor, server, tmp_path):
    member_name, member_password = new_member(server, "proposer")
    member = visitor().page
    sign_in(member, member_name, member_password)
    member.get_by_role("link", name="Мои предложения").click()
    expect(member.get_by_text("Вы ещё ничего не предлагали")).to_be_visible()
    member.get_by_role("link", name="Предложить часы").click()
    member.get_by_label("Папка (латиницей)").fill("raketa_polar_e2e")
    member.get_by_label("Названия").fill("Полярная Ракета\nPolar Raketa")
    member.get_by_label("Марка").select_option(label="Ракета")
    member.get_by_label("Начало выпуска (год)").fill("1975")
    member.get_by_label("Конец выпуска (год)").fill("1969")
    member.get_by_role("button", name="Отправить на модерацию").click()
    # the API refuses an end before the start: the message stands under the field
    expect(member.locator("[data-error-for=end_release]")).not_to_be_empty()
    page_check(member, "draft-form-error")
    expect(member.get_by_text("Фотографии можно добавить после сохранения черновика.")).to_be_visible()
    member.get_by_label("Конец выпуска (год)").fill("1985")
    member.get_by_role("button", name="Сохранить черновик").click()
    expect(member.get_by_text("Черновик сохранён.")).to_be_visible()
    # the first save made the draft: photos can go with it now, with progress as they upload
    photo = tmp_path / "polar.jpg"
    photo.write_bytes(watch_photo(5, "main"))
    member.locator("#photo-main").set_input_files(str(photo))
    main_side = member.locator(".side-editor").filter(has=member.locator("#photo-main"))
    expect(main_side.get_by_role("status")).to_have_text("Фото сохранено.")
    expect(main_side.locator("progress")).to_have_attribute("value", "1")
    loaded(member, main_side.locator("img"))
    page_check(member, "draft-photos")
    member.get_by_role("button", name="Отправить на модерацию").click()
    expect(member).to_have_url(re.compile(r"/drafts$"))
    expect(member.get_by_text("на модерации")).to_be_visible()
    page_check(member, "drafts")

    moderator = visitor().page
    sign_in(moderator, STAFF["moderator"], PASSWORD)
    moderator.get_by_role("link", name="Модерация").click()
    moderator.get_by_role("link", name="Полярная Ракета").click()
    diff = moderator.locator("table.diff")
    expect(diff).to_contain_text("Ракета")
    expect(diff).to_contain_text("1975")
    proposed_photo = moderator.locator("table.photo-diff .proposed img")
    expect(proposed_photo).to_have_attribute("alt", "Главное фото — Предложено")
    expect(proposed_photo).to_have_attribute("src", re.compile("^blob:"))
    loaded(moderator, proposed_photo)
    page_check(moderator, "moderation-new")
    moderator.get_by_role("button", name="Одобрить и опубликовать").click()
    # the review's heading is the watch's title too: only the watch's page says the
    # approval has committed
    expect(moderator).to_have_url(re.compile(r"/watches/\d+$"))
    expect(moderator.get_by_role("heading", level=1)).to_have_text("Полярная Ракета")
    loaded(moderator, moderator.locator(".gallery img").first)

    found = server.request("GET", "/watches?q=%D0%BF%D0%BE%D0%BB%D1%8F%D1%80%D0%BD&limit=24")
    assert "Полярная Ракета" in [item["title"] for item in found["items"]], found
    anyone = visitor(PHONE).page
    anyone.goto("/?q=полярн")
    card = anyone.locator(".card").filter(has_text="Полярная Ракета")
    expect(card).to_have_count(1)
    # the published photo is public: the card shows it to anyone
    loaded(anyone, card.locator("img"))
    page_check(anyone, "search-approved")


def test_a_rejected_edit_shows_the_moderators_message(visitor, server):
    member_name, member_password = new_member(server, "editor")
    member = visitor().page
    sign_in(member, member_name, member_password)
    member.goto("/?q=командирские")
    member.locator(".card-link").first.click()
    member.get_by_role("link", name="Предложить правку").click()
    expect(member.get_by_label("Папка (латиницей)")).to_have_value(re.compile("komandirskie"))
    member.get_by_label("Начало выпуска (год)").fill("1979")
    member.get_by_role("button", name="Отправить на модерацию").click()
    expect(member).to_have_url(re.compile(r"/drafts$"))

    moderator = visitor().page
    sign_in(moderator, STAFF["moderator"], PASSWORD)
    moderator.goto("/moderation")
    moderator.get_by_role("link", name="Командирские").first.click()
    changed = moderator.locator("table.diff tr.changed")
    expect(changed).to_have_count(1)
    expect(changed.locator(".live")).to_have_text("1980")
    expect(changed.locator(".proposed")).to_have_text("1979")
    page_check(moderator, "moderation-edit")
    moderator.get_by_label("Сообщение автору").fill("Год начала выпуска подтвердите фотографией паспорта.")
    moderator.get_by_role("button", name="Отклонить").click()
    expect(moderator).to_have_url(re.compile(r"/moderation$"))

    member.reload()
    expect(member.get_by_text("отклонено")).to_be_visible()
    expect(member.get_by_text("Год начала выпуска подтвердите фотографией паспорта.")).to_be_visible()
    member.get_by_role("link", name="Командирские").click()
    expect(member.get_by_role("note")).to_contain_text("подтвердите фотографией")
    page_check(member, "draft-rejected")
