// Admins: members by name or email and role; change a role, deactivate or reactivate.

import { h, fill, append } from '../dom.js';
import { t, formatDate } from '../i18n.js';
import { api, session } from '../api.js';
import { replaceQuery } from '../router.js';
import { errorBox, errorText, emptyState, loading, selectField, confirmDialog } from '../ui.js';

const ROLES = ['user', 'moderator', 'admin'];

function roleName(role) {
  return { user: t('role.user'), moderator: t('role.moderator'), admin: t('role.admin') }[role] || role;
}

export function adminUsersPage(container, { query }) {
  if (!session.user || session.user.role !== 'admin') {
    append(container, h('h1', {}, t('admin.title')), errorBox({ code: session.user ? 'forbidden' : 'missing_token' }));
    return;
  }
  const state = new URLSearchParams();
  for (const key of ['q', 'role']) if (query.get(key)) state.set(key, query.get(key));
  const results = h('div', { 'aria-busy': 'true' }, loading());
  const status = h('p', { role: 'status', class: 'status-line' });
  const search = h('input', { id: 'admin-search', type: 'search', name: 'q', value: state.get('q') || '', autocomplete: 'off' });
  let cursors = [];
  let timer = null;
  let requestNumber = 0;

  async function load(cursor) {
    const number = ++requestNumber;
    results.setAttribute('aria-busy', 'true');
    try {
      const page = await api('adminUsers', { query: { ...Object.fromEntries(state.entries()), limit: 25, cursor } });
      if (number !== requestNumber) return;
      render(page, cursor);
    } catch (error) {
      if (number === requestNumber) fill(results, errorBox(error));
    } finally {
      if (number === requestNumber) results.removeAttribute('aria-busy');
    }
  }

  function render(page, cursor) {
    if (!page.items.length) {
      fill(results, emptyState(t('admin.nobody')));
      return;
    }
    fill(results,
      h('div', { class: 'table-scroll' }, h('table', { class: 'users' },
        h('caption', { class: 'visually-hidden' }, t('admin.title')),
        h('thead', {}, h('tr', {},
          h('th', { scope: 'col' }, t('auth.username')),
          h('th', { scope: 'col' }, t('auth.email')),
          h('th', { scope: 'col' }, t('admin.role')),
          h('th', { scope: 'col' }, t('admin.state')))),
        h('tbody', {}, page.items.map(userRow)))),
      h('nav', { class: 'pager', 'aria-label': t('catalog.pages') },
        cursor ? h('button', { type: 'button', class: 'secondary', onclick: () => load(cursors.pop() || undefined) }, t('catalog.first_page')) : null,
        page.next_cursor ? h('button', { type: 'button', onclick: () => { cursors.push(cursor); load(page.next_cursor); } }, t('catalog.next_page')) : null));
  }

  function userRow(user) {
    const rowStatus = h('span', { class: 'row-status', role: 'status' });
    const roleSelect = h('select', { 'aria-label': t('admin.role_of', { name: user.username }) },
      ROLES.map((role) => h('option', { value: role, selected: role === user.role }, roleName(role))));
    roleSelect.addEventListener('change', async () => {
      const wanted = roleSelect.value;
      try {
        const updated = await api('adminUpdateUser', { params: { id: user.user_id }, body: { role: wanted } });
        user.role = updated.role;
        rowStatus.textContent = t('admin.role_changed', { role: roleName(updated.role) });
      } catch (error) {
        roleSelect.value = user.role;
        rowStatus.textContent = errorText(error);
      }
    });
    const activeButton = h('button', { type: 'button', class: user.is_active ? 'danger' : 'secondary' },
      user.is_active ? t('admin.deactivate') : t('admin.activate'));
    activeButton.addEventListener('click', async () => {
      if (user.is_active && !(await confirmDialog(t('admin.deactivate_confirm', { name: user.username }), t('admin.deactivate')))) return;
      try {
        const updated = await api('adminUpdateUser', { params: { id: user.user_id }, body: { is_active: !user.is_active } });
        user.is_active = updated.is_active;
        activeButton.textContent = user.is_active ? t('admin.deactivate') : t('admin.activate');
        activeButton.className = user.is_active ? 'danger' : 'secondary';
        rowStatus.textContent = user.is_active ? t('admin.activated') : t('admin.deactivated');
      } catch (error) {
        rowStatus.textContent = errorText(error);
      }
    });
    return h('tr', { 'data-user': user.username },
      h('td', {}, h('a', { href: `/users/${user.user_id}` }, user.username), h('br'), h('small', { class: 'muted' }, formatDate(user.created_at, false))),
      h('td', {}, user.email),
      h('td', {}, roleSelect),
      h('td', {}, activeButton, ' ', rowStatus));
  }

  function update(changes) {
    for (const [key, value] of Object.entries(changes)) {
      if (value) state.set(key, value);
      else state.delete(key);
    }
    replaceQuery(state);
    cursors = [];
    load();
  }

  search.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => update({ q: search.value.trim() }), 200);
  });
  const roleFilter = selectField({
    label: t('admin.role_filter'),
    name: 'role',
    value: state.get('role') || '',
    options: [{ value: '', label: t('admin.all_roles') }, ...ROLES.map((role) => ({ value: role, label: roleName(role) }))],
  });
  roleFilter.addEventListener('change', (event) => update({ role: event.target.value }));

  append(container,
    h('h1', {}, t('admin.title')),
    h('form', { class: 'admin-filters', role: 'search', onsubmit: (event) => event.preventDefault() },
      h('div', { class: 'field' }, h('label', { for: 'admin-search' }, t('admin.search')), search),
      roleFilter),
    status,
    results);
  load();
  return () => clearTimeout(timer);
}
