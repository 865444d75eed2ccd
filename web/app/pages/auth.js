// Register, sign in, and the forgotten-password pair (ask for a link, set a new password).

import { h, fill, append } from '../dom.js';
import { t } from '../i18n.js';
import { api, signIn, register } from '../api.js';
import { navigate } from '../router.js';
import { field, formAlert, showError, clearErrors } from '../ui.js';

/** A form whose submit runs `action` and shows any problem where it belongs. */
export function actionForm(fields, submitLabel, action, extra = {}) {
  const submit = h('button', { type: 'submit' }, submitLabel);
  const form = h('form', { class: 'stack-form', novalidate: true, ...extra }, fields, formAlert(), submit);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(form);
    submit.disabled = true;
    submit.setAttribute('aria-busy', 'true');
    try {
      await action(Object.fromEntries(new FormData(form).entries()), form);
    } catch (error) {
      if (error && error.status !== undefined) showError(form, error);
      else throw error;
    } finally {
      submit.disabled = false;
      submit.removeAttribute('aria-busy');
    }
  });
  return form;
}

function afterSignIn(query) {
  const next = query.get('next');
  navigate(next && next.startsWith('/') && !next.startsWith('//') ? next : '/');
}

/** "Sign in with Google / Yandex" links, for the providers the server has enabled. */
function providerButtons() {
  const box = h('div', { class: 'providers' });
  api('oauthProviders')
    .then(({ providers }) => {
      const names = { google: t('auth.with_google'), yandex: t('auth.with_yandex') };
      fill(box, providers.map((provider) => h('a', {
        class: `button secondary provider-${provider}`,
        // a navigation, not a fetch: the provider's page takes over the tab
        href: `/api/v1/auth/oauth/${provider}/start?web=1`,
        'data-endpoint': 'oauthStart',
      }, names[provider] || provider)));
    })
    .catch(() => null);
  return box;
}

function oauthErrorText(code) {
  return {
    oauth_denied: t('auth.oauth_denied'),
    email_taken: t('auth.oauth_email_conflict'),
    account_disabled: t('error.account_disabled'),
  }[code] || t('auth.oauth_failed');
}

export function signInPage(container, { query }) {
  append(container, h('section', { class: 'narrow' },
    h('h1', {}, t('auth.sign_in_title')),
    query.get('expired') ? h('p', { class: 'notice', role: 'status' }, t('auth.session_ended')) : null,
    query.get('oauth_error') ? h('p', { class: 'error', role: 'alert' }, oauthErrorText(query.get('oauth_error'))) : null,
    actionForm([
      field({ label: t('auth.login'), name: 'login', autocomplete: 'username', required: true }),
      field({ label: t('auth.password'), name: 'password', type: 'password', autocomplete: 'current-password', required: true }),
    ], t('auth.sign_in'), async (values) => {
      await signIn(values.login, values.password);
      afterSignIn(query);
    }),
    providerButtons(),
    h('p', {}, h('a', { href: '/forgot' }, t('auth.forgot_link'))),
    h('p', {}, t('auth.no_account'), ' ', h('a', { href: '/register' }, t('nav.register')))));
}

export function registerPage(container, { query }) {
  append(container, h('section', { class: 'narrow' },
    h('h1', {}, t('auth.register_title')),
    actionForm([
      field({ label: t('auth.username'), name: 'username', autocomplete: 'username', required: true, hint: t('auth.username_hint') }),
      field({ label: t('auth.email'), name: 'email', type: 'email', autocomplete: 'email', required: true }),
      field({ label: t('auth.password'), name: 'password', type: 'password', autocomplete: 'new-password', required: true, hint: t('auth.password_hint') }),
    ], t('auth.register'), async (values) => {
      await register(values);
      afterSignIn(query);
    }),
    h('p', {}, t('auth.have_account'), ' ', h('a', { href: '/signin' }, t('nav.sign_in')))));
}

export function forgotPage(container) {
  const done = h('p', { role: 'status' });
  append(container, h('section', { class: 'narrow' },
    h('h1', {}, t('auth.forgot_title')),
    h('p', {}, t('auth.forgot_text')),
    actionForm([
      field({ label: t('auth.email'), name: 'email', type: 'email', autocomplete: 'email', required: true }),
    ], t('auth.forgot_send'), async (values) => {
      await api('forgotPassword', { body: { email: values.email } });
      done.textContent = t('auth.forgot_sent');
    }),
    done));
}

export function resetPage(container, { query }) {
  const token = query.get('token') || '';
  append(container, h('section', { class: 'narrow' },
    h('h1', {}, t('auth.reset_title')),
    actionForm([
      field({ label: t('auth.new_password'), name: 'new_password', type: 'password', autocomplete: 'new-password', required: true, hint: t('auth.password_hint') }),
    ], t('auth.reset_save'), async (values) => {
      await api('resetPassword', { body: { token, new_password: values.new_password } });
      navigate('/signin');
    })));
}
