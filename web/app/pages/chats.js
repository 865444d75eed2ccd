// The list of my chats (unread badges, previews, live) and making a group.

import { h, fill, append } from '../dom.js';
import { t, formatDate } from '../i18n.js';
import { api, allPages, session } from '../api.js';
import { navigate } from '../router.js';
import * as live from '../live.js';
import { errorBox, emptyState, loading, field, formAlert, showError, clearErrors, avatarImage } from '../ui.js';

export function chatName(chat) {
  if (chat.type === 'group') return chat.name || t('chat.group');
  return chat.peer ? chat.peer.username : t('chat.deleted_member');
}

export function previewText(preview) {
  if (!preview) return t('chat.no_messages');
  if (preview.kind === 'deleted') return t('chat.deleted_message');
  if (preview.kind === 'attachment') return t('chat.attachment');
  return preview.text;
}

export function requireMember(path) {
  if (session.user) return true;
  navigate(`/signin?next=${encodeURIComponent(path)}`, { replace: true });
  return false;
}

export function chatsPage(container) {
  if (!requireMember('/chats')) return undefined;
  live.start();
  const list = h('div', { 'aria-busy': 'true' }, loading());
  let chats = [];
  let timer = null;

  async function load() {
    try {
      chats = await allPages('chats');
      list.removeAttribute('aria-busy');
      render();
      group.refresh();
    } catch (error) {
      fill(list, errorBox(error));
    }
  }

  function render() {
    if (!chats.length) {
      fill(list, emptyState(t('chat.empty')));
      return;
    }
    fill(list, h('ul', { class: 'chat-list' }, chats.map((chat) => h('li', { 'data-chat-id': chat.id },
      h('a', { href: `/chats/${chat.id}`, class: 'chat-link' },
        avatarImage(chat.peer ? chat.peer.avatar_url : null, 48),
        h('span', { class: 'chat-main' },
          h('strong', {}, chatName(chat)),
          h('span', { class: 'chat-preview' }, previewText(chat.last_message))),
        h('span', { class: 'chat-side' },
          chat.last_message ? h('small', {}, formatDate(chat.last_message.sent_at)) : null,
          chat.unread_count ? h('span', { class: 'unread', 'aria-label': t('chat.unread', { count: chat.unread_count }) }, String(chat.unread_count)) : null))))));
  }

  const unsubscribe = live.subscribe((message) => {
    if (['event', 'chat.removed', 'receipt', 'connected'].includes(message.type)) {
      clearTimeout(timer);
      timer = setTimeout(load, 150);
    }
  });

  const group = groupForm(() => chats);
  append(container, h('h1', {}, t('chat.title')), list, group.element);
  load();
  return () => {
    unsubscribe();
    clearTimeout(timer);
  };
}

/** A new group with people I already have private chats with. */
function groupForm(currentChats) {
  const people = h('fieldset', { class: 'checks' }, h('legend', {}, t('chat.group_members')));
  const form = h('form', { class: 'stack-form', novalidate: true },
    field({ label: t('chat.group_name'), name: 'name', required: true }),
    people,
    formAlert(),
    h('button', { type: 'submit' }, t('chat.group_create')));
  const details = h('details', { class: 'panel new-group' }, h('summary', {}, t('chat.new_group')), form);
  // drawn when opened and again when the list of chats arrives or changes
  function refresh() {
    if (!details.open) return;
    const chosen = new Set(new FormData(form).getAll('member_ids'));
    const peers = currentChats().filter((chat) => chat.type === 'private' && chat.peer).map((chat) => chat.peer);
    fill(people, h('legend', {}, t('chat.group_members')),
      peers.length
        ? peers.map((peer) => h('label', {}, h('input', { type: 'checkbox', name: 'member_ids', value: peer.user_id, checked: chosen.has(String(peer.user_id)) }), ' ', peer.username))
        : h('p', { class: 'muted' }, t('chat.group_no_people')));
  }
  details.addEventListener('toggle', refresh);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(form);
    const data = new FormData(form);
    try {
      const chat = await api('createChat', {
        body: { type: 'group', name: String(data.get('name') || '').trim(), member_ids: data.getAll('member_ids').map(Number) },
      });
      navigate(`/chats/${chat.id}`);
    } catch (error) {
      showError(form, error);
    }
  });
  return { element: details, refresh };
}

/** From a profile: the private chat with this member, made if needed. */
export async function openPrivateChat(userId) {
  const chat = await api('createChat', { body: { type: 'private', user_id: userId } });
  navigate(`/chats/${chat.id}`);
}
