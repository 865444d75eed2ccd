// A chat's media tab, and a group's members: add, remove, roles, rename, leave, delete.

import { h, fill, append, localUrl } from '../dom.js';
import { t, formatDate } from '../i18n.js';
import { api, allPages, session } from '../api.js';
import { navigate } from '../router.js';
import { errorBox, errorText, emptyState, loading, field, formAlert, showError, clearErrors, confirmDialog, selectField } from '../ui.js';
import { chatName, requireMember } from './chats.js';
import { attachmentView } from './conversation.js';

function head(chat, current) {
  return [
    h('p', { class: 'crumbs' }, h('a', { href: '/chats' }, t('chat.title')), ' / ', h('a', { href: `/chats/${chat.id}` }, chatName(chat))),
    h('h1', {}, current),
  ];
}

export async function mediaPage(container, { params }) {
  if (!requireMember(location.pathname)) return;
  append(container, loading());
  let chat;
  try {
    chat = await api('chat', { params: { id: params.id } });
  } catch (error) {
    fill(container, h('h1', {}, t('chat.missing')), errorBox(error));
    return;
  }
  const grid = h('ul', { class: 'media-grid' });
  const more = h('button', { type: 'button', class: 'secondary', hidden: true }, t('chat.more'));
  let before;
  async function load() {
    try {
      const page = await api('chatMedia', { params: { id: chat.id }, query: { limit: 40, before } });
      page.items.forEach((item) => grid.append(h('li', {}, attachmentView(item.attachment), h('small', {}, formatDate(item.sent_at)))));
      before = page.next ?? undefined;
      more.hidden = before === undefined;
      if (!grid.children.length) grid.replaceWith(emptyState(t('chat.media_empty')));
    } catch (error) {
      grid.replaceWith(errorBox(error));
    }
  }
  more.addEventListener('click', load);
  fill(container, head(chat, t('chat.media')), grid, more);
  await load();
}

export async function membersPage(container, { params }) {
  if (!requireMember(location.pathname)) return;
  append(container, loading());
  let chat;
  let people;
  let contacts;
  try {
    [chat, people, contacts] = await Promise.all([
      api('chat', { params: { id: params.id } }),
      api('participants', { params: { id: params.id } }),
      allPages('chats'),
    ]);
  } catch (error) {
    fill(container, h('h1', {}, t('chat.missing')), errorBox(error));
    return;
  }
  const me = session.user.user_id;
  const canManage = chat.role === 'owner' || chat.role === 'admin';
  const status = h('p', { role: 'status', class: 'status-line' });
  const reload = () => navigate(location.pathname, { replace: true });

  async function act(promise, after = reload) {
    try {
      await promise;
      after();
    } catch (error) {
      status.textContent = errorText(error);
    }
  }

  const roleName = (role) => ({ owner: t('chat.role_owner'), admin: t('chat.role_admin'), member: t('chat.role_member') }[role] || role);
  const list = h('ul', { class: 'members' }, people.map((person) => h('li', {},
    h('a', { href: `/users/${person.user_id}` }, person.username), ' ',
    h('span', { class: 'badge' }, roleName(person.role)),
    chat.role === 'owner' && person.user_id !== me && person.role !== 'owner'
      ? h('button', { type: 'button', class: 'secondary small', onclick: () => act(api('updateParticipant', {
        params: { id: chat.id, user_id: person.user_id }, body: { role: person.role === 'admin' ? 'member' : 'admin' },
      })) }, person.role === 'admin' ? t('chat.make_member') : t('chat.make_admin'))
      : null,
    canManage && person.user_id !== me && person.role !== 'owner' && (chat.role === 'owner' || person.role === 'member')
      ? h('button', { type: 'button', class: 'danger small', onclick: async () => {
        if (await confirmDialog(t('chat.remove_confirm', { name: person.username }), t('chat.remove'))) {
          act(api('removeParticipant', { params: { id: chat.id, user_id: person.user_id } }));
        }
      } }, t('chat.remove'))
      : null)));

  const inside = new Set(people.map((person) => person.user_id));
  const candidates = contacts.filter((item) => item.type === 'private' && item.peer && !inside.has(item.peer.user_id)).map((item) => item.peer);
  const addForm = canManage && candidates.length ? h('form', { class: 'inline-form', onsubmit: (event) => {
    event.preventDefault();
    const userId = Number(new FormData(event.target).get('user_id'));
    act(api('addParticipant', { params: { id: chat.id }, body: { user_id: userId } }));
  } },
  selectField({ label: t('chat.add_member'), name: 'user_id', options: candidates.map((peer) => ({ value: peer.user_id, label: peer.username })) }),
  h('button', { type: 'submit' }, t('chat.add'))) : null;

  const renameForm = chat.role === 'owner' ? h('form', { class: 'stack-form', novalidate: true },
    field({ label: t('chat.group_name'), name: 'name', value: chat.name || '' }), formAlert(),
    h('button', { type: 'submit' }, t('common.save'))) : null;
  if (renameForm) {
    renameForm.addEventListener('submit', async (event) => {
      event.preventDefault();
      clearErrors(renameForm);
      try {
        await api('renameChat', { params: { id: chat.id }, body: { name: String(new FormData(renameForm).get('name')).trim() } });
        reload();
      } catch (error) {
        showError(renameForm, error);
      }
    });
  }

  fill(container, head(chat, t('chat.members')), status, list, addForm,
    renameForm ? h('section', { class: 'panel' }, h('h2', {}, t('chat.rename')), renameForm) : null,
    h('section', { class: 'panel' }, h('h2', {}, t('chat.leave_title')),
      h('p', { class: 'actions' },
        h('button', { type: 'button', class: 'danger', onclick: async () => {
          if (await confirmDialog(t('chat.leave_confirm'), t('chat.leave'))) {
            act(api('removeParticipant', { params: { id: chat.id, user_id: me } }), () => navigate('/chats'));
          }
        } }, t('chat.leave')),
        chat.role === 'owner' ? h('button', { type: 'button', class: 'danger', onclick: async () => {
          if (await confirmDialog(t('chat.delete_confirm'), t('common.delete'))) {
            act(api('deleteChat', { params: { id: chat.id } }), () => navigate('/chats'));
          }
        } }, t('chat.delete')) : null)));
}
