// Pieces every page uses: fields with their error line, problem messages in words,
// watch cards, empty states, progress bars and confirmations.

import { h, uid, localUrl, fill } from './dom.js';
import { t } from './i18n.js';

/** Texts for the API's problem codes; any other code shows the API's own detail. */
const ERROR_KEYS = {
  network_error: 'error.network',
  invalid_credentials: 'error.invalid_credentials',
  username_taken: 'error.username_taken',
  email_taken: 'error.email_taken',
  account_disabled: 'error.account_disabled',
  too_many_requests: 'error.too_many_requests',
  rate_limited: 'error.too_many_requests',
  missing_token: 'error.signed_out',
  invalid_token: 'error.signed_out',
  forbidden: 'error.forbidden',
  validation_failed: 'error.validation_failed',
  payload_too_large: 'error.payload_too_large',
  unsupported_media_type: 'error.unsupported_media_type',
  watch_not_found: 'error.not_found',
  user_not_found: 'error.not_found',
  not_found: 'error.not_found',
  wrong_password: 'error.wrong_password',
  invalid_reset_token: 'error.invalid_reset_token',
  reference_in_use: 'error.in_use',
  mechanism_in_use: 'error.in_use',
};

export function errorText(error) {
  const key = ERROR_KEYS[error && error.code];
  if (key) return t(key, { detail: error.detail || '' });
  return (error && error.detail) || t('error.unknown');
}

/** A labelled input with a line under it for the field's error. */
export function field({ label, name, type = 'text', value = '', required = false, autocomplete, hint, attrs = {} }) {
  const id = uid(name);
  const errorId = `${id}-error`;
  const hintId = hint ? `${id}-hint` : null;
  const input = type === 'textarea'
    ? h('textarea', { id, name, required, 'aria-describedby': [hintId, errorId].filter(Boolean).join(' '), ...attrs }, value)
    : h('input', { id, name, type, value, required, autocomplete, 'aria-describedby': [hintId, errorId].filter(Boolean).join(' '), ...attrs });
  return h('div', { class: 'field' },
    h('label', { for: id }, label),
    input,
    hint ? h('small', { id: hintId, class: 'hint' }, hint) : null,
    h('p', { id: errorId, class: 'field-error', 'data-error-for': name }));
}

/** A labelled select of {value, label} options. */
export function selectField({ label, name, options, value = '' }) {
  const id = uid(name);
  return h('div', { class: 'field' },
    h('label', { for: id }, label),
    h('select', { id, name },
      options.map((option) => h('option', { value: option.value, selected: String(option.value) === String(value) }, option.label))));
}

/** Shows a problem: each field's message under its field, the rest in the form's alert. */
export function showError(form, error) {
  clearErrors(form);
  const rest = [];
  for (const fieldError of error.fieldErrors || []) {
    const line = form.querySelector(`[data-error-for="${CSS.escape(fieldError.field)}"]`);
    if (line) {
      line.textContent = fieldError.message;
      const input = form.querySelector(`[name="${CSS.escape(fieldError.field)}"]`);
      if (input) input.setAttribute('aria-invalid', 'true');
    } else {
      rest.push(`${fieldError.field}: ${fieldError.message}`);
    }
  }
  const alert = form.querySelector('.form-error');
  if (alert) {
    const shown = error.fieldErrors && error.fieldErrors.length && !rest.length ? '' : errorText(error);
    fill(alert, [shown, ...rest].filter(Boolean).join(' · '));
  }
  const firstInvalid = form.querySelector('[aria-invalid="true"]');
  if (firstInvalid) firstInvalid.focus();
}

export function clearErrors(form) {
  form.querySelectorAll('.field-error').forEach((line) => { line.textContent = ''; });
  form.querySelectorAll('[aria-invalid]').forEach((input) => input.removeAttribute('aria-invalid'));
  const alert = form.querySelector('.form-error');
  if (alert) alert.textContent = '';
}

export function formAlert() {
  return h('p', { class: 'form-error', role: 'alert' });
}

/** An alert standing in for a page or a part of it that could not load. */
export function errorBox(error) {
  return h('p', { class: 'error', role: 'alert' }, errorText(error));
}

export function emptyState(text, action) {
  return h('div', { class: 'empty' }, h('p', {}, text), action || null);
}

export function loading() {
  return h('p', { class: 'loading', role: 'status' }, t('common.loading'));
}

/** The years a watch was made, e.g. "1975–1990". */
export function years(start, end) {
  if (start && end && start !== end) return `${start}–${end}`;
  return start || end ? String(start || end) : t('watch.years_unknown');
}

/** The title of a watch: its first alias, else its code or folder. */
export function watchTitle(watch) {
  return watch.title || (watch.aliases && watch.aliases[0]) || watch.code || watch.folder;
}

export function watchCard(watch) {
  const image = localUrl(watch.main_image_url, '256x256');
  return h('li', { class: 'card' },
    h('a', { href: `/watches/${watch.id}`, class: 'card-link' },
      image
        ? h('img', { src: image, alt: '', width: 256, height: 256, loading: 'lazy', decoding: 'async' })
        : h('div', { class: 'no-photo', 'aria-hidden': 'true' }),
      h('span', { class: 'card-title' }, watchTitle(watch))),
    h('p', { class: 'card-meta' },
      watch.brand ? watch.brand.name : t('watch.brand_unknown'), ' · ', years(watch.start_release, watch.end_release)));
}

export function progressBar(label) {
  const bar = h('progress', { max: 1, value: 0, 'aria-label': label });
  return { element: bar, set: (fraction) => { bar.value = fraction; } };
}

/** A modal question; resolves true when confirmed. */
export function confirmDialog(question, confirmLabel) {
  return new Promise((resolve) => {
    const dialog = h('dialog', { class: 'confirm', 'aria-labelledby': 'confirm-text' },
      h('p', { id: 'confirm-text' }, question),
      h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'danger', value: 'yes', onclick: () => dialog.close('yes') }, confirmLabel || t('common.confirm')),
        // a slip of the Enter key keeps things as they are
        h('button', { type: 'button', value: 'no', autofocus: true, onclick: () => dialog.close('no') }, t('common.cancel'))));
    dialog.addEventListener('close', () => {
      dialog.remove();
      resolve(dialog.returnValue === 'yes');
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

export function avatarImage(url, size, alt = '') {
  const source = localUrl(url, size >= 128 ? '256x256' : '128x128');
  return source
    ? h('img', { class: 'avatar', src: source, alt, width: size, height: size })
    : h('span', { class: 'avatar avatar-empty', 'aria-hidden': alt ? null : 'true', role: alt ? 'img' : null, 'aria-label': alt || null });
}
