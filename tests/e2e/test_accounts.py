"""Members' accounts: avatars, sessions, and an admin's change of a member's role."""

import re
import time

from playwright.sync_api import expect

from conftest import PHONE, new_member, page_check, sign_in
from seed import PASSWORD, STAFF, watch_photo


def test_an_uploaded_avatar_shows_progress_and_becomes_active(visitor, server, tmp_path):
    name, password = new_member(server, "portrait")
    page = visitor().page
    sign_in(page, name, password)
    page.get_by_role("link", name=name).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Мой профиль")
    expect(page.get_by_text("Аватаров пока нет.")).to_be_visible()
    photo = tmp_path / "me.jpg"
    photo.write_bytes(watch_photo(7, "main"))
    # progress events as the browser reports them, recorded before the upload starts
    page.evaluate("""() => {
        window.progressSeen = [];
        const bar = document.querySelector('progress');
        new MutationObserver(() => window.progressSeen.push(bar.value)).observe(bar, { attributes: true });
        const original = Object.getOwnPropertyDescriptor(HTMLProgressElement.prototype, 'value');
        Object.defineProperty(bar, 'value', { set(v) { window.progressSeen.push(v); original.set.call(this, v); }, get() { return original.get.call(this); } });
    }""")
    page.get_by_label("Загрузить изображение (JPEG, PNG, GIF, WebP)").set_input_files(str(photo))
    expect(page.get_by_text("Аватар загружен и выбран.")).to_be_visible()
    progress = page.locator("progress")
    expect(progress).to_be_visible()
    expect(progress).to_have_attribute("value", "1")
    assert page.evaluate("window.progressSeen")[-1] == 1
    active = page.locator(".avatar-item.active")
    expect(active).to_have_count(1)
    expect(active.get_by_text("Используется")).to_be_visible()
    page_check(page, "account")

    page.get_by_role("button", name="Создать случайный аватар").click()
    expect(page.locator(".avatar-item")).to_have_count(2)
    page.locator(".avatar-item:not(.active)").get_by_role("button", name="Использовать").click()
    expect(page.locator(".avatar-item.active img")).to_have_attribute("alt", "Загруженный аватар")
    page.get_by_role("link", name="Посмотреть мой публичный профиль").click()
    expect(page.locator(".profile-head img.avatar")).to_be_visible()
    page_check(page, "profile")


def test_revoking_the_other_session_signs_that_browser_out(visitor, server):
    name, password = new_member(server, "two_devices")
    laptop = visitor().page
    phone = visitor(PHONE).page
    sign_in(laptop, name, password)
    sign_in(phone, name, password)

    laptop.goto("/account")
    sessions = laptop.locator(".sessions li")
    expect(sessions).to_have_count(2)
    expect(sessions.filter(has_text="это устройство")).to_have_count(1)
    page_check(laptop, "sessions")
    sessions.get_by_role("button", name="Завершить").click()
    expect(sessions).to_have_count(1)

    # the phone's next request finds its session gone and asks to sign in again
    phone.get_by_role("link", name="Мои предложения").click()
    expect(phone).to_have_url(re.compile(r"/signin\?expired=1"))
    expect(phone.get_by_text("Сеанс завершён")).to_be_visible()
    expect(phone.get_by_role("link", name=name)).to_have_count(0)
    phone.reload()
    expect(phone.get_by_role("navigation").get_by_role("link", name="Регистрация")).to_be_visible()
    # the laptop goes on
    laptop.reload()
    expect(laptop.get_by_role("link", name=name)).to_be_visible()


def test_an_admin_makes_a_member_a_moderator(visitor, server):
    name, password = new_member(server, "promoted")
    member = visitor().page
    sign_in(member, name, password)
    expect(member.get_by_role("link", name="Модерация")).to_have_count(0)

    admin = visitor().page
    sign_in(admin, STAFF["admin"], PASSWORD)
    admin.get_by_role("link", name="Пользователи").click()
    admin.get_by_label("Поиск по имени или почте").fill(name)
    row = admin.locator(f"tr[data-user='{name}']")
    expect(admin.locator("tbody tr")).to_have_count(1)
    page_check(admin, "admin-users")
    row.get_by_label(f"Роль пользователя {name}").select_option("moderator")
    expect(row.get_by_text("Роль изменена: модератор")).to_be_visible()
    admin.get_by_label("Роль", exact=True).select_option("moderator")
    expect(admin.locator(f"tr[data-user='{name}']")).to_be_visible()

    member.reload()
    expect(member.get_by_role("link", name="Модерация")).to_be_visible()


def test_the_sign_in_page_offers_the_enabled_providers(visitor):
    page = visitor().page
    page.goto("/signin")
    google = page.get_by_role("link", name="Войти через Google")
    expect(google).to_have_attribute("href", "/api/v1/auth/oauth/google/start?web=1")
    expect(page.get_by_role("link", name="Войти через Яндекс")).to_have_count(0)
    page_check(page, "signin")
    page.goto("/signin?oauth_error=oauth_denied")
    expect(page.get_by_role("alert")).to_have_text("Вход отменён или отклонён на стороне сервиса.")


def reset_link(server, email):
    """The reset link of the newest mail to `email` (mail goes out after the answer)."""
    for _ in range(100):
        for message in reversed(server.mail()):
            if email in message:
                found = re.search(r"/reset-password\?token=[A-Za-z0-9_\-]+", message)
                if found:
                    return found.group(0)
        time.sleep(0.05)
    raise AssertionError(f"no reset mail to {email}")


def test_a_forgotten_password_is_reset_then_changed_and_the_account_deleted(visitor, server):
    name, _ = new_member(server, "forgetful")
    page = visitor(PHONE).page
    page.goto("/signin")
    page.get_by_role("link", name="Забыли пароль?").click()
    page.get_by_label("Электронная почта").fill(f"{name}@example.com")
    page.get_by_role("button", name="Прислать ссылку").click()
    expect(page.get_by_text("письмо со ссылкой уже в пути")).to_be_visible()
    page_check(page, "forgot")

    page.goto(reset_link(server, f"{name}@example.com"))
    page.get_by_label("Новый пароль").fill("a brand new password")
    page.get_by_role("button", name="Сохранить пароль").click()
    expect(page).to_have_url(re.compile(r"/signin$"))
    sign_in(page, name, "a brand new password")

    page.goto("/account")
    page.get_by_label("Текущий пароль").fill("not my password")
    page.get_by_label("Новый пароль").fill("another new password")
    page.get_by_role("button", name="Сменить пароль").click()
    expect(page.locator(".panel").filter(has_text="Сменить пароль").get_by_role("alert")).not_to_be_empty()
    page.get_by_label("Текущий пароль").fill("a brand new password")
    page.get_by_role("button", name="Сменить пароль").click()
    expect(page.get_by_text("Пароль изменён.")).to_be_visible()

    page.get_by_role("button", name="Удалить аккаунт").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Удалить аккаунт навсегда?")
    dialog.get_by_role("button", name="Удалить аккаунт").click()
    expect(page.get_by_role("navigation").get_by_role("link", name="Войти")).to_be_visible()
    page.goto("/signin")
    page.get_by_label("Имя пользователя или почта").fill(name)
    page.get_by_label("Пароль").fill("another new password")
    page.get_by_role("button", name="Войти").click()
    expect(page.locator(".form-error")).to_have_text("Неверный логин или пароль.")
