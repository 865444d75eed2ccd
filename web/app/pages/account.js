// My account: details, avatars, sessions, password, deleting the account.

import { h, fill, append } from '../dom.js';
import { t, formatDate } from '../i18n.js';
import { api, upload, session, updateSessionUser, dropSession, signOut } from '../api.js';
import { navigate } from '../router.js';
import { field, errorBox, errorText, progressBar, confirmDialog, avatarImage, loading } from '../ui.js';
import { actionForm } from './auth.js';

export function accountPage(container) {
  if (!session.user) {
    navigate(`/signin?next=${encodeURIComponent('/account')}`, { replace: true });
    return;
  }
  const user = session.user;
  append(container, 
    h('h1', {}, t('account.title')),
    h('p', {}, h('a', { href: `/users/${user.user_id}` }, t('account.public_profile'))),
    detailsSection(user),
    avatarsSection(user),
    sessionsSection(),
    passwordSection(),
    deleteSection());
}

function section(title, ...content) {
  return h('section', { class: 'panel' }, h('h2', {}, title), content);
}

/** `null` clears an optional field; an unchanged form sends the same values again. */
function optional(value) {
  const trimmed = (value || '').trim();
  return trimmed === '' ? null : trimmed;
}

function detailsSection(user) {
  const saved = h('p', { role: 'status', class: 'status-line' });
  return section(t('account.details'),
    actionForm([
      field({ label: t('auth.username'), name: 'username', value: user.username, autocomplete: 'username', required: true }),
      field({ label: t('account.description'), name: 'description', type: 'textarea', value: user.description || '' }),
      field({ label: t('account.phone'), name: 'phone_number', type: 'tel', value: user.phone_number || '', autocomplete: 'tel', hint: t('account.phone_hint') }),
      field({ label: t('account.avito'), name: 'avito_url', type: 'url', value: user.avito_url || '' }),
      field({ label: t('account.meshok'), name: 'meshok_url', type: 'url', value: user.meshok_url || '' }),
    ], t('common.save'), async (values) => {
      saved.textContent = '';
      const updated = await api('updateMe', {
        body: {
          username: values.username.trim(),
          description: optional(values.description),
          phone_number: optional(values.phone_number),
          avito_url: optional(values.avito_url),
          meshok_url: optional(values.meshok_url),
        },
      });
      updateSessionUser(updated);
      saved.textContent = t('common.saved');
    }),
    saved);
}

function avatarsSection(user) {
  const list = h('ul', { class: 'avatars', 'aria-label': t('account.avatars') });
  const status = h('p', { role: 'status', class: 'status-line' });
  const progress = progressBar(t('account.upload_progress'));
  progress.element.hidden = true;

  async function refreshList() {
    try {
      const avatars = await api('userAvatars', { params: { id: user.user_id } });
      const me = await api('me');
      updateSessionUser(me);
      fill(list, avatars.length ? avatars.map(avatarItem) : h('li', {}, t('account.no_avatars')));
    } catch (error) {
      fill(list, h('li', {}, errorBox(error)));
    }
  }

  function avatarItem(avatar) {
    return h('li', { class: avatar.is_active ? 'avatar-item active' : 'avatar-item', 'data-avatar-id': avatar.avatar_id },
      avatarImage(avatar.url, 96, avatar.is_random ? t('account.avatar_random') : t('account.avatar_uploaded')),
      avatar.is_active
        ? h('span', { class: 'badge' }, t('account.avatar_active'))
        : h('button', { type: 'button', onclick: () => act('activateAvatar', avatar) }, t('account.avatar_use')),
      h('button', { type: 'button', class: 'danger', onclick: () => remove(avatar) }, t('common.delete')));
  }

  async function act(name, avatar) {
    try {
      await api(name, { params: { id: avatar.avatar_id } });
      status.textContent = t('common.saved');
      await refreshList();
    } catch (error) {
      status.textContent = errorText(error);
    }
  }

  async function remove(avatar) {
    if (await confirmDialog(t('account.avatar_delete_confirm'), t('common.delete'))) await act('deleteAvatar', avatar);
  }

  const fileInput = h('input', { id: 'avatar-file', type: 'file', name: 'file', accept: 'image/jpeg,image/png,image/gif,image/webp' });
  fileInput.addEventListener('change', async () => {
    const file = fileInput.files[0];
    if (!file) return;
    progress.element.hidden = false;
    progress.set(0);
    status.textContent = t('account.uploading');
    try {
      await upload('uploadAvatar', { file, onProgress: progress.set });
      progress.set(1);
      status.textContent = t('account.uploaded');
      await refreshList();
    } catch (error) {
      status.textContent = errorText(error);
    } finally {
      fileInput.value = '';
    }
  });

  refreshList();
  return section(t('account.avatars'),
    h('div', { class: 'field' }, h('label', { for: 'avatar-file' }, t('account.avatar_upload')), fileInput),
    progress.element,
    h('p', {}, h('button', { type: 'button', onclick: async () => {
      try {
        await api('randomAvatar');
        await refreshList();
      } catch (error) {
        status.textContent = errorText(error);
      }
    } }, t('account.avatar_make_random'))),
    status,
    list);
}

function sessionsSection() {
  const list = h('ul', { class: 'sessions' }, h('li', {}, loading()));
  async function load() {
    try {
      const sessions = await api('sessions');
      fill(list, sessions.map((item) => h('li', { 'data-session-id': item.id },
        h('div', {},
          h('strong', {}, item.user_agent || t('account.session_unknown_device')),
          item.current ? h('span', { class: 'badge' }, t('account.session_current')) : null,
          h('br'),
          h('small', {}, t('account.session_seen', { date: formatDate(item.last_seen_at) }), item.ip ? ` · ${item.ip}` : '')),
        item.current ? null : h('button', { type: 'button', class: 'danger', onclick: () => revoke(item.id) }, t('account.session_revoke')))));
    } catch (error) {
      fill(list, h('li', {}, errorBox(error)));
    }
  }
  async function revoke(id) {
    try {
      await api('revokeSession', { params: { id } });
    } catch (error) {
      fill(list, h('li', {}, errorBox(error)));
      return;
    }
    load();
  }
  load();
  return section(t('account.sessions'), h('p', { class: 'muted' }, t('account.sessions_text')), list);
}

function passwordSection() {
  const done = h('p', { role: 'status', class: 'status-line' });
  return section(t('account.password'),
    actionForm([
      field({ label: t('account.current_password'), name: 'current_password', type: 'password', autocomplete: 'current-password', required: true }),
      field({ label: t('auth.new_password'), name: 'new_password', type: 'password', autocomplete: 'new-password', required: true, hint: t('auth.password_hint') }),
    ], t('account.password_change'), async (values, form) => {
      await api('changePassword', { body: values });
      form.reset();
      done.textContent = t('account.password_changed');
    }),
    done);
}

function deleteSection() {
  const status = h('p', { role: 'status', class: 'status-line' });
  return section(t('account.delete'),
    h('p', {}, t('account.delete_text')),
    h('button', { type: 'button', class: 'danger', onclick: async () => {
      if (!(await confirmDialog(t('account.delete_confirm'), t('account.delete_button')))) return;
      try {
        await api('deleteMe');
        dropSession();
        await signOut().catch(() => null);
        navigate('/');
      } catch (error) {
        status.textContent = errorText(error);
      }
    } }, t('account.delete_button')),
    status);
}
