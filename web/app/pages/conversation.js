// One chat: history that loads as one scrolls up, live messages (edits and deletions
// too), typing, read and delivered ticks, and a composer that sends text and files with
// progress and previews.

import { h, fill, append, localUrl } from '../dom.js';
import { t, formatDate } from '../i18n.js';
import { api, upload, session, privateFileUrl } from '../api.js';
import * as live from '../live.js';
import { errorBox, errorText, loading } from '../ui.js';
import { chatName, requireMember } from './chats.js';
import { messageActions } from './message-actions.js';

const PAGE = 30;

function sizeText(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** A random id for idempotent sends (crypto.randomUUID needs a secure context). */
function randomId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
}

function tick(status) {
  const label = { sent: t('chat.status_sent'), delivered: t('chat.status_delivered'), read: t('chat.status_read') }[status] || '';
  return h('span', { class: `tick tick-${status}`, title: label },
    h('span', { 'aria-hidden': 'true' }, status === 'sent' ? '✓' : '✓✓'),
    h('span', { class: 'visually-hidden' }, label));
}

/** Opens (or saves) an attachment: its bytes need the token, so they come as a blob. */
async function openAttachment(event, attachment) {
  event.preventDefault();
  try {
    const url = await privateFileUrl(localUrl(attachment.url));
    const link = h('a', { href: url, download: attachment.kind === 'image' ? null : attachment.name, target: '_blank', rel: 'noopener' });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  } catch (error) {
    event.target.title = errorText(error);
  }
}

export function attachmentView(attachment) {
  if (attachment.kind === 'image' && attachment.thumbnail_url) {
    const image = h('img', { alt: attachment.name, width: 160, height: 160 });
    privateFileUrl(localUrl(attachment.thumbnail_url))
      .then((url) => { image.src = url; })
      .catch(() => { image.alt = `${attachment.name} (${t('chat.image_unavailable')})`; });
    return h('a', { href: localUrl(attachment.url), class: 'attachment-image', onclick: (event) => openAttachment(event, attachment) }, image);
  }
  return h('a', { href: localUrl(attachment.url), class: 'attachment-file', onclick: (event) => openAttachment(event, attachment) },
    `${attachment.name} (${sizeText(attachment.size)})`);
}

export async function conversationPage(container, { params }) {
  const chatId = Number(params.id);
  if (!requireMember(location.pathname)) return undefined;
  live.start();
  append(container, loading());
  let chat;
  try {
    chat = await api('chat', { params: { id: chatId } });
  } catch (error) {
    fill(container, h('h1', {}, t('chat.missing')), errorBox(error));
    return undefined;
  }
  const me = session.user.user_id;
  const names = new Map(chat.peer ? [[chat.peer.user_id, chat.peer.username]] : []);
  names.set(me, session.user.username);
  const messages = new Map();
  let oldest = null;
  let hasOlder = true;
  let loadingOlder = false;
  let readSent = 0;
  let typingTimer = null;
  let statusTimer = null;
  let lastTypingSent = 0;
  let editingSeq = null;

  const list = h('ol', { class: 'messages' });
  const sentinel = h('li', { class: 'history-edge', 'aria-hidden': 'true' });
  list.append(sentinel);
  const scroller = h('div', { class: 'message-scroller', role: 'log', 'aria-label': t('chat.history'), tabindex: '0' }, list);
  const typingLine = h('p', { class: 'typing', 'aria-live': 'polite' });
  const connection = h('p', { class: 'connection', role: 'status' });

  if (chat.type === 'group') {
    api('participants', { params: { id: chatId } })
      .then((people) => people.forEach((person) => names.set(person.user_id, person.username)))
      .catch(() => null);
  }

  function nearBottom() {
    return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
  }

  function scrollToBottom() {
    scroller.scrollTop = scroller.scrollHeight;
  }

  function messageItem(message) {
    const mine = message.sender_id === me;
    return h('li', { class: mine ? 'message mine' : 'message', 'data-seq': message.seq },
      chat.type === 'group' && !mine ? h('span', { class: 'sender' }, names.get(message.sender_id) || `#${message.sender_id}`) : null,
      message.deleted
        ? h('p', { class: 'deleted' }, t('chat.deleted_message'))
        : [message.text ? h('p', { class: 'text' }, message.text) : null,
          message.attachments && message.attachments.length ? h('div', { class: 'attachments' }, message.attachments.map(attachmentView)) : null],
      h('span', { class: 'meta' },
        h('time', { datetime: message.sent_at }, formatDate(message.sent_at)),
        message.edited_at ? ` · ${t('chat.edited')}` : '',
        mine && !message.deleted ? tick(message.status) : null),
      messageActions({
        message,
        chat,
        me,
        show: (changed, seq) => place(changed || messages.get(seq).message),
        editing: (seq) => { editingSeq = seq; },
        focusAfterDelete: () => scroller.focus(),
      }));
  }

  /** Puts a message in its place by seq and returns its item; an update replaces the old item. */
  function place(message) {
    const existing = messages.get(message.seq);
    if (existing && editingSeq === message.seq && !message.deleted) {
      // being edited here: drawn again when the editor closes
      messages.set(message.seq, { message, item: existing.item });
      return existing.item;
    }
    if (existing && editingSeq === message.seq) editingSeq = null;
    const item = messageItem(message);
    messages.set(message.seq, { message, item });
    if (existing) {
      // the keyboard's place survives a redraw (a live edit, a receipt)
      const focused = existing.item.contains(document.activeElement) ? document.activeElement.dataset.action : null;
      existing.item.replaceWith(item);
      const again = focused && item.querySelector(`[data-action="${focused}"]`);
      if (again) again.focus();
      return item;
    }
    const after = [...list.querySelectorAll('li.message')].find((other) => Number(other.dataset.seq) > message.seq);
    if (after) after.before(item);
    else list.append(item);
    if (oldest === null || message.seq < oldest) oldest = message.seq;
    return item;
  }

  async function loadOlder() {
    if (loadingOlder || !hasOlder) return;
    loadingOlder = true;
    const before = scroller.scrollHeight;
    try {
      const page = await api('messages', { params: { id: chatId }, query: { limit: PAGE, before: oldest ?? undefined } });
      page.items.forEach(place);
      hasOlder = page.next !== null && page.next !== undefined;
      if (!hasOlder) sentinel.textContent = '';
      scroller.scrollTop += scroller.scrollHeight - before;
    } catch (error) {
      fill(connection, errorText(error));
    } finally {
      loadingOlder = false;
    }
  }

  function markRead() {
    const newest = Math.max(0, ...messages.keys());
    if (newest <= readSent || document.visibilityState !== 'visible') return;
    readSent = newest;
    if (!live.send({ type: 'read', chat_id: chatId, seq: newest })) {
      api('readChat', { params: { id: chatId }, body: { seq: newest } }).catch(() => null);
    }
  }

  /** Ticks follow the others' watermarks: re-read my messages not yet read by all. */
  function refreshStatuses() {
    clearTimeout(statusTimer);
    statusTimer = setTimeout(async () => {
      const unread = [...messages.values()].filter(({ message }) => message.sender_id === me && message.status !== 'read');
      if (!unread.length) return;
      const from = Math.min(...unread.map(({ message }) => message.seq));
      try {
        const page = await api('messages', { params: { id: chatId }, query: { after: from - 1, limit: 100 } });
        page.items.filter((message) => messages.has(message.seq)).forEach(place);
      } catch {
        // the next receipt tries again
      }
    }, 200);
  }

  function showTyping(userId) {
    typingLine.textContent = t('chat.typing', { name: names.get(userId) || `#${userId}` });
    clearTimeout(typingTimer);
    typingTimer = setTimeout(() => { typingLine.textContent = ''; }, 3000);
  }

  const unsubscribe = live.subscribe((event) => {
    if (event.type === 'connected') {
      connection.textContent = '';
      refreshStatuses();
    } else if (event.type === 'disconnected') {
      connection.textContent = t('chat.reconnecting');
    } else if (event.chat_id !== chatId) {
      // another chat's news
    } else if (event.type === 'event' && event.message) {
      const stick = nearBottom();
      place(event.message);
      if (event.kind === 'message.created' && event.message.sender_id !== me) typingLine.textContent = '';
      if (stick) scrollToBottom();
      markRead();
    } else if (event.type === 'typing' && event.user_id !== me) {
      showTyping(event.user_id);
    } else if (event.type === 'receipt' && event.user_id !== me) {
      refreshStatuses();
    } else if (event.type === 'resync_required') {
      refreshStatuses();
    }
  });

  const composer = composerForm(chatId, (message) => {
    place(message);
    scrollToBottom();
  }, () => {
    if (Date.now() - lastTypingSent > 2000) {
      lastTypingSent = Date.now();
      live.send({ type: 'typing', chat_id: chatId });
    }
  });

  fill(container,
    h('div', { class: 'chat-head' },
      h('p', { class: 'crumbs' }, h('a', { href: '/chats' }, t('chat.title'))),
      h('h1', {}, chatName(chat)),
      h('p', { class: 'chat-tabs' },
        h('a', { href: `/chats/${chatId}/media` }, t('chat.media')),
        chat.type === 'group' ? h('a', { href: `/chats/${chatId}/members` }, t('chat.members')) : null,
        chat.peer ? h('a', { href: `/users/${chat.peer.user_id}` }, t('chat.profile')) : null)),
    connection,
    scroller,
    typingLine,
    composer);

  live.knowSeq(chatId, chat.last_seq);
  await loadOlder();
  scrollToBottom();
  markRead();
  const observer = new IntersectionObserver((entries) => {
    if (entries.some((entry) => entry.isIntersecting)) loadOlder();
  }, { root: scroller });
  observer.observe(sentinel);
  const onVisible = () => markRead();
  document.addEventListener('visibilitychange', onVisible);
  return () => {
    unsubscribe();
    observer.disconnect();
    document.removeEventListener('visibilitychange', onVisible);
    clearTimeout(typingTimer);
    clearTimeout(statusTimer);
  };
}

function composerForm(chatId, onSent, onTyping) {
  const text = h('textarea', { id: 'message-text', name: 'text', rows: 2, maxlength: 4000, placeholder: t('chat.write_placeholder') });
  const files = h('input', { id: 'message-files', type: 'file', multiple: true, class: 'visually-hidden' });
  const previews = h('ul', { class: 'previews', 'aria-label': t('chat.files_to_send') });
  const errorLine = h('p', { class: 'form-error', role: 'alert' });
  const sendButton = h('button', { type: 'submit' }, t('chat.send'));
  let chosen = [];
  let pendingClientId = null;

  function renderPreviews() {
    fill(previews, chosen.map((entry, index) => h('li', {},
      entry.file.type.startsWith('image/') ? h('img', { src: entry.preview, alt: '', width: 64, height: 64 }) : h('span', { class: 'file-icon', 'aria-hidden': 'true' }),
      h('span', { class: 'preview-name' }, entry.file.name),
      entry.bar,
      h('button', { type: 'button', class: 'secondary small', 'aria-label': t('chat.remove_file', { name: entry.file.name }), onclick: () => {
        URL.revokeObjectURL(entry.preview);
        chosen.splice(index, 1);
        renderPreviews();
      } }, '✕'))));
  }

  files.addEventListener('change', () => {
    for (const file of files.files) {
      const bar = h('progress', { max: 1, value: 0, 'aria-label': t('chat.upload_of', { name: file.name }) });
      chosen.push({ file, preview: URL.createObjectURL(file), bar, uid: null });
    }
    files.value = '';
    renderPreviews();
  });
  text.addEventListener('input', onTyping);
  text.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  const form = h('form', { class: 'composer', novalidate: true },
    h('label', { for: 'message-text', class: 'visually-hidden' }, t('chat.message')),
    text,
    h('div', { class: 'composer-actions' },
      files,
      h('label', { for: 'message-files', class: 'button secondary attach' }, t('chat.attach')),
      sendButton),
    previews,
    errorLine);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const body = text.value.trim();
    if (!body && !chosen.length) return;
    errorLine.textContent = '';
    sendButton.disabled = true;
    try {
      for (const entry of chosen) {
        if (entry.uid) continue;
        const stored = await upload('uploadFile', { file: entry.file, onProgress: (fraction) => { entry.bar.value = fraction; } });
        entry.bar.value = 1;
        entry.uid = stored.uid;
      }
      // a retry after a lost answer sends the same client_id: the server keeps one message
      pendingClientId = pendingClientId || randomId();
      const message = await api('sendMessage', {
        params: { id: chatId },
        body: { text: body, attachments: chosen.map((entry) => entry.uid), client_id: pendingClientId },
      });
      pendingClientId = null;
      chosen.forEach((entry) => URL.revokeObjectURL(entry.preview));
      chosen = [];
      renderPreviews();
      text.value = '';
      onSent(message);
    } catch (error) {
      errorLine.textContent = errorText(error);
    } finally {
      sendButton.disabled = false;
      text.focus();
    }
  });
  return form;
}
