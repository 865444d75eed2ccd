// A member's public profile: avatar, description, marketplace links and collection.

import { h, fill, append } from '../dom.js';
import { t, formatDate } from '../i18n.js';
import { api, allPages, session } from '../api.js';
import { errorBox, errorText, emptyState, watchCard, avatarImage, loading } from '../ui.js';
import { openPrivateChat } from './chats.js';

export async function profilePage(container, { params }) {
  append(container, loading());
  let user;
  try {
    user = await api('user', { params: { id: params.id } });
  } catch (error) {
    fill(container, h('h1', {}, t('profile.missing')), errorBox(error));
    return;
  }
  const mine = session.user && session.user.user_id === user.user_id;
  const collection = h('div', { 'aria-busy': 'true' }, loading());
  fill(container,
    h('section', { class: 'profile-head' },
      avatarImage(user.avatar_url, 96, t('profile.avatar_of', { name: user.username })),
      h('div', {},
        h('h1', {}, user.username),
        h('p', { class: 'muted' },
          t('profile.member_since', { date: formatDate(user.created_at, false) }),
          user.online ? ` · ${t('profile.online')}` : (user.last_seen ? ` · ${t('profile.last_seen', { date: formatDate(user.last_seen) })}` : '')),
        user.description ? h('p', { class: 'description' }, user.description) : null,
        h('p', { class: 'links' },
          /^https?:\/\//.test(user.avito_url || '') ? h('a', { href: user.avito_url, rel: 'nofollow noopener', target: '_blank' }, 'Avito') : null,
          /^https?:\/\//.test(user.meshok_url || '') ? h('a', { href: user.meshok_url, rel: 'nofollow noopener', target: '_blank' }, 'Meshok') : null),
        mine ? h('a', { href: '/account', class: 'button' }, t('profile.edit')) : null,
        session.user && !mine ? writeButton(user) : null)),
    h('section', {}, h('h2', {}, mine ? t('profile.my_collection') : t('profile.collection')), collection));
  try {
    const items = await allPages('collection', { params: { id: user.user_id } });
    collection.removeAttribute('aria-busy');
    if (!items.length) {
      fill(collection, emptyState(mine ? t('profile.collection_empty_mine') : t('profile.collection_empty'),
        mine ? h('a', { href: '/', class: 'button' }, t('profile.browse')) : null));
      return;
    }
    fill(collection, h('ul', { class: 'grid' }, items.map((item) => watchCard({ ...item, id: item.watch_id }))));
  } catch (error) {
    fill(collection, errorBox(error));
  }
}

function writeButton(user) {
  const status = h('span', { role: 'status', class: 'status-line' });
  const button = h('button', { type: 'button', onclick: async () => {
    button.disabled = true;
    try {
      await openPrivateChat(user.user_id);
    } catch (error) {
      status.textContent = errorText(error);
      button.disabled = false;
    }
  } }, t('profile.write'));
  return h('p', {}, button, ' ', status);
}
