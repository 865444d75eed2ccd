"""Two members chat in real time: unread badges, read ticks, typing, files, a dropped
connection that comes back without losing or repeating a message, and edits and deletions
seen live by the other."""

import re
import uuid

from playwright.sync_api import expect

from conftest import PHONE, page_check, sign_in
from seed import watch_photo

LIVE = 15_000  # ms: a reconnect backs off for up to 5 s between tries


def member(server, prefix):
    name = f"{prefix}_{uuid.uuid4().hex[:6]}"
    password = "a long chat password"
    answer = server.request("POST", "/auth/register", {"username": name, "email": f"{name}@example.com", "password": password})
    server.request("POST", "/auth/logout", token=answer["access_token"])
    return name, password, answer["user"]["user_id"]


def test_two_members_chat_live_with_read_ticks_files_a_reconnect_edits_and_deletions(visitor, server, tmp_path):
    alice_name, alice_password, _ = member(server, "alice")
    bob_name, bob_password, bob_id = member(server, "bob")
    alice_person = visitor()
    alice = alice_person.page
    bob = visitor(PHONE).page

    # Alice's socket goes through a switch the test can open
    connected = {"allowed": True, "routes": []}

    def through_switch(route):
        if not connected["allowed"]:
            route.close()
            return
        route.connect_to_server()
        connected["routes"].append(route)

    alice.route_web_socket(re.compile(r"/api/v1/ws$"), through_switch)
    sign_in(alice, alice_name, alice_password)
    sign_in(bob, bob_name, bob_password)
    bob.get_by_role("link", name="Чаты").click()
    expect(bob.get_by_text("Чатов пока нет")).to_be_visible()

    alice.goto(f"/users/{bob_id}")
    alice.get_by_role("button", name="Написать").click()
    expect(alice.get_by_role("heading", level=1)).to_have_text(bob_name)
    alice.get_by_label("Сообщение", exact=True).fill("Привет! Есть «Командирские» 1985 года?")
    alice.get_by_role("button", name="Отправить").click()
    mine = alice.locator(".message.mine")
    expect(mine).to_have_count(1)
    expect(mine.locator(".tick")).to_have_attribute("title", re.compile("отправлено|доставлено"))

    # Bob's list shows the new chat with one unread, live
    chat_row = bob.locator(".chat-list li")
    expect(chat_row).to_have_count(1, timeout=LIVE)
    expect(chat_row.locator(".unread")).to_have_text("1")
    expect(chat_row.locator(".chat-preview")).to_contain_text("Командирские")
    page_check(bob, "chats")
    chat_row.get_by_role("link").click()
    expect(bob.locator(".message")).to_have_count(1)
    expect(alice.locator(".message.mine .tick")).to_have_attribute("title", "прочитано", timeout=LIVE)

    bob.get_by_label("Сообщение", exact=True).press_sequentially("Есть", delay=30)
    expect(alice.get_by_text(f"{bob_name} печатает…")).to_be_visible(timeout=LIVE)
    bob.get_by_label("Сообщение", exact=True).press("Enter")
    expect(alice.locator(".message:not(.mine)")).to_have_text(re.compile("Есть"), timeout=LIVE)

    # a photo: preview and progress before sending, a thumbnail after
    photo = tmp_path / "komandirskie.jpg"
    photo.write_bytes(watch_photo(3, "main"))
    alice.locator("#message-files").set_input_files(str(photo))
    expect(alice.locator(".previews img")).to_be_visible()
    expect(alice.locator(".previews progress")).to_be_visible()
    alice.get_by_label("Сообщение", exact=True).fill("Вот фото")
    alice.get_by_role("button", name="Отправить").click()
    expect(alice.locator(".previews li")).to_have_count(0)
    received = bob.locator(".message .attachment-image img")
    expect(received).to_have_attribute("src", re.compile("^blob:"), timeout=LIVE)
    bob.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=received.element_handle())
    expect(alice.locator(".message.mine .attachment-image img")).to_have_attribute("src", re.compile("^blob:"))
    page_check(alice, "conversation")

    # Alice's connection drops; Bob writes meanwhile; she gets each message once
    connected["allowed"] = False
    for route in connected["routes"]:
        route.close()
    expect(alice.get_by_text("Нет связи. Переподключаемся…")).to_be_visible(timeout=LIVE)
    for text in ("первое", "второе", "третье"):
        bob.get_by_label("Сообщение", exact=True).fill(text)
        bob.get_by_role("button", name="Отправить").click()
        expect(bob.locator(".message.mine").filter(has_text=text)).to_have_count(1)
    expect(alice.locator(".message").filter(has_text="третье")).to_have_count(0)
    connected["allowed"] = True
    expect(alice.locator(".message").filter(has_text="третье")).to_have_count(1, timeout=LIVE)
    expect(alice.get_by_text("Нет связи. Переподключаемся…")).to_be_hidden()
    texts = alice.locator(".message .text").all_text_contents()
    assert texts == ["Привет! Есть «Командирские» 1985 года?", "Есть", "Вот фото", "первое", "второе", "третье"], texts

    alice.get_by_role("link", name="Медиа").click()
    expect(alice.locator(".media-grid img")).to_have_attribute("src", re.compile("^blob:"))
    page_check(alice, "chat-media")

    # Alice edits her first message from the keyboard; Bob sees the new text live
    alice.go_back()
    first = alice.locator(".message.mine").first
    expect(first).to_contain_text("1985 года")
    first.get_by_role("button", name="Изменить сообщение").focus()
    alice.keyboard.press("Enter")
    editor = alice.get_by_label("Новый текст сообщения")
    expect(editor).to_be_focused()
    expect(editor).to_have_value("Привет! Есть «Командирские» 1985 года?")
    editor.fill("Привет! Есть «Командирские» 1984 года?")
    alice.keyboard.press("Enter")
    expect(first.locator(".text")).to_have_text("Привет! Есть «Командирские» 1984 года?")
    expect(first.get_by_role("button", name="Изменить сообщение")).to_be_focused()
    edited = bob.locator(".message").first
    expect(edited.locator(".text")).to_have_text("Привет! Есть «Командирские» 1984 года?", timeout=LIVE)
    expect(edited).to_contain_text("изменено")
    # Escape leaves a message as it was
    first.get_by_role("button", name="Изменить сообщение").press("Enter")
    alice.get_by_label("Новый текст сообщения").press("Escape")
    expect(first.locator(".text")).to_have_text("Привет! Есть «Командирские» 1984 года?")
    expect(first.get_by_role("button", name="Изменить сообщение")).to_be_focused()

    # Alice deletes the photo message; it turns into a note for both, live for Bob
    photo_message = alice.locator(".message.mine").filter(has_text="Вот фото")
    photo_message.get_by_role("button", name="Удалить сообщение").click()
    alice.get_by_role("dialog").get_by_role("button", name="Удалить").click()
    expect(alice.locator(".message").filter(has_text="Вот фото")).to_have_count(0)
    expect(alice.locator(".message .deleted")).to_have_count(1)
    expect(bob.locator(".message").filter(has_text="Вот фото")).to_have_count(0, timeout=LIVE)
    expect(bob.locator(".message .deleted")).to_have_text("Сообщение удалено")
    expect(bob.locator(".message .attachment-image")).to_have_count(0)
    # in a private chat nobody changes the other's messages
    expect(bob.locator(".message:not(.mine) .message-actions button")).to_have_count(0)
    expect(bob.locator(".message.mine .message-actions button").first).to_be_visible()
    page_check(bob, "conversation-edited")


def test_a_member_makes_and_manages_a_group(visitor, server):
    alice_name, alice_password, _ = member(server, "owner")
    bob_name, bob_password, bob_id = member(server, "bob")
    carol_name, _, carol_id = member(server, "carol")
    token = server.token(alice_name, alice_password)
    for other in (bob_id, carol_id):
        server.request("POST", "/chats", {"type": "private", "user_id": other}, token=token)
    page = visitor().page
    sign_in(page, alice_name, alice_password)
    page.get_by_role("link", name="Чаты").click()
    page.get_by_text("Новая группа").click()
    page.get_by_label("Название группы").fill("Коллекционеры Востока")
    page.get_by_label(bob_name).check()
    page.get_by_label(carol_name).check()
    page_check(page, "new-group")
    page.get_by_role("button", name="Создать группу").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Коллекционеры Востока")
    page.get_by_label("Сообщение", exact=True).fill("Добро пожаловать!")
    page.get_by_role("button", name="Отправить").click()
    expect(page.locator(".message.mine")).to_have_count(1)

    # the owner deletes a member's message (and cannot edit it)
    group_id = int(re.search(r"/chats/(\d+)", page.url).group(1))
    bob_token = server.token(bob_name, bob_password)
    server.request("POST", f"/chats/{group_id}/messages", {"text": "Продаю ремешок"}, token=bob_token)
    bobs = page.locator(".message:not(.mine)").filter(has_text="Продаю ремешок")
    expect(bobs).to_have_count(1, timeout=LIVE)
    expect(bobs.get_by_role("button", name="Изменить сообщение")).to_have_count(0)
    bobs.get_by_role("button", name="Удалить сообщение").click()
    page.get_by_role("dialog").get_by_role("button", name="Удалить").click()
    expect(page.locator(".message .deleted")).to_have_text("Сообщение удалено")

    page.get_by_role("link", name="Участники").click()
    members = page.locator(".members li")
    expect(members).to_have_count(3)
    expect(members.filter(has_text=alice_name)).to_contain_text("владелец")
    page_check(page, "group-members")
    members.filter(has_text=carol_name).get_by_role("button", name="Исключить").click()
    page.get_by_role("dialog").get_by_role("button", name="Исключить").click()
    expect(page.locator(".members li")).to_have_count(2)
    page.locator(".members li").filter(has_text=bob_name).get_by_role("button", name="Сделать админом").click()
    expect(page.locator(".members li").filter(has_text=bob_name)).to_contain_text("админ")


def test_history_loads_as_one_scrolls_up(visitor, server):
    alice_name, alice_password, _ = member(server, "reader")
    _, _, bob_id = member(server, "writer")
    token = server.token(alice_name, alice_password)
    chat = server.request("POST", "/chats", {"type": "private", "user_id": bob_id}, token=token)
    for number in range(1, 46):
        server.request("POST", f"/chats/{chat['id']}/messages", {"text": f"сообщение {number}"}, token=token)
    page = visitor(PHONE).page
    sign_in(page, alice_name, alice_password)
    page.goto(f"/chats/{chat['id']}")
    messages = page.locator(".message .text")
    expect(messages.last).to_have_text("сообщение 45")
    expect(messages).to_have_count(30)
    page.locator(".message-scroller").evaluate("scroller => { scroller.scrollTop = 0; }")
    expect(messages).to_have_count(45)
    expect(messages.first).to_have_text("сообщение 1")
