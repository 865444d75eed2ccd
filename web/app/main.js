// Starts the app: language, session, header, then the page the URL names.

import { h, fill, append } from './dom.js';
import { t, loadLanguage, currentLanguage } from './i18n.js';
import { session, onSessionChange, restoreSession, signOut } from './api.js';
import { route, notFound, start, navigate, render, afterEachRender } from './router.js';
import { catalogPage, prefetchCatalog } from './pages/catalog.js';
import { watchPage } from './pages/watch.js';
import { profilePage } from './pages/profile.js';
import { signInPage, registerPage, forgotPage, resetPage } from './pages/auth.js';
import { accountPage } from './pages/account.js';
import { draftsPage, newDraftPage, draftPage, proposeEditPage } from './pages/drafts.js';
import { moderationPage, reviewPage } from './pages/moderation.js';
import { adminUsersPage } from './pages/admin.js';
import { chatsPage } from './pages/chats.js';
import { conversationPage } from './pages/conversation.js';
import { mediaPage, membersPage } from './pages/chat-extra.js';
import { watchEditorPage, referencesPage } from './pages/editor.js';
import { emptyState } from './ui.js';

const header = document.getElementById('top');
const footer = document.getElementById('foot');

function navLink(href, label) {
  const current = location.pathname === href || (href !== '/' && location.pathname.startsWith(`${href}/`));
  return h('li', {}, h('a', { href, 'aria-current': current ? 'page' : null }, label));
}

function renderHeader() {
  const user = session.user;
  const role = user ? user.role : null;
  fill(header,
    h('nav', { 'aria-label': t('nav.label') },
      h('a', { href: '/', class: 'logo' }, 'vitrine'),
      h('ul', { class: 'nav-links' },
        navLink('/', t('nav.catalog')),
        user ? navLink(`/users/${user.user_id}`, t('nav.collection')) : null,
        user ? navLink('/chats', t('nav.chats')) : null,
        user ? navLink('/drafts', t('nav.drafts')) : null,
        role === 'moderator' || role === 'admin' ? navLink('/moderation', t('nav.moderation')) : null,
        role === 'moderator' || role === 'admin' ? navLink('/references', t('nav.references')) : null,
        role === 'admin' ? navLink('/admin/users', t('nav.users')) : null),
      h('div', { class: 'nav-end' },
        h('button', {
          type: 'button',
          class: 'language',
          lang: currentLanguage() === 'ru' ? 'en' : 'ru',
          'aria-label': t('nav.language_switch'),
          onclick: switchLanguage,
        }, currentLanguage() === 'ru' ? 'EN' : 'RU'),
        user
          ? [h('a', { href: '/account', class: 'account-link' }, user.username),
            h('button', { type: 'button', onclick: onSignOut }, t('nav.sign_out'))]
          : [h('a', { href: '/signin' }, t('nav.sign_in')),
            h('a', { href: '/register', class: 'button' }, t('nav.register'))])));
  document.getElementById('skip-link').textContent = t('nav.skip');
  fill(footer, t('footer.text'));
}

async function onSignOut() {
  await signOut().catch(() => null);
  navigate('/');
}

async function switchLanguage() {
  await loadLanguage(currentLanguage() === 'ru' ? 'en' : 'ru');
  renderHeader();
  await render();
}

route('/', catalogPage);
route('/watches/new', watchEditorPage);
route('/watches/:id', watchPage);
route('/watches/:id/edit', watchEditorPage);
route('/references', referencesPage);
route('/users/:id', profilePage);
route('/signin', signInPage);
route('/register', registerPage);
route('/forgot', forgotPage);
route('/reset-password', resetPage);
route('/account', accountPage);
route('/watches/:id/propose', proposeEditPage);
route('/drafts', draftsPage);
route('/drafts/new/:kind', newDraftPage);
route('/drafts/:kind/:id', draftPage);
route('/moderation', moderationPage);
route('/moderation/:kind/:id', reviewPage);
route('/admin/users', adminUsersPage);
route('/chats', chatsPage);
route('/chats/:id', conversationPage);
route('/chats/:id/media', mediaPage);
route('/chats/:id/members', membersPage);
notFound((container) => append(container, 
  h('h1', {}, t('notfound.title')),
  emptyState(t('notfound.text'), h('a', { href: '/' }, t('notfound.home')))));

async function boot() {
  if (location.pathname === '/') prefetchCatalog(new URLSearchParams(location.search));
  await Promise.all([loadLanguage(), restoreSession()]);
  onSessionChange(() => renderHeader());
  renderHeader();
  afterEachRender(renderHeader);
  // the session ended elsewhere (revoked, expired): sign in again, then come back
  window.addEventListener('vitrine:signed-out', () => {
    if (location.pathname === '/signin') return;
    const here = location.pathname + location.search;
    navigate(`/signin?expired=1&next=${encodeURIComponent(here)}`, { replace: true });
  });
  await start(document.getElementById('main'));
}

boot();
