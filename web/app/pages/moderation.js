// Moderators: the queue of submitted drafts and the review of one, with each change beside
// the live value (photos too), then approve or reject with a message for the author.

import { h, fill, append } from '../dom.js';
import { t, formatDate } from '../i18n.js';
import { api, allPages, session } from '../api.js';
import { navigate } from '../router.js';
import { errorBox, emptyState, loading, field, formAlert, showError, clearErrors } from '../ui.js';
import { loadReferences, loadMechanisms, forgetReferences } from '../references.js';
import { pathKind, draftTitle, fieldLabel, showValue, WATCH_FIELDS, MECHANISM_FIELDS } from '../drafts-form.js';
import { SIDES, bySide, photoThumb } from '../photos.js';
import { sideName } from './watch.js';

function isModerator() {
  return session.user && (session.user.role === 'moderator' || session.user.role === 'admin');
}

function refuse(container) {
  append(container, h('h1', {}, t('moderation.title')), errorBox({ code: session.user ? 'forbidden' : 'missing_token' }));
}

export async function moderationPage(container) {
  if (!isModerator()) {
    refuse(container);
    return;
  }
  append(container, h('h1', {}, t('moderation.title')));
  const list = h('div', { 'aria-busy': 'true' }, loading());
  append(container, list);
  try {
    const drafts = await allPages('moderationQueue');
    list.removeAttribute('aria-busy');
    if (!drafts.length) {
      fill(list, emptyState(t('moderation.empty')));
      return;
    }
    fill(list, h('ul', { class: 'draft-list' }, drafts.map((draft) => h('li', {},
      h('a', { href: `/moderation/${draft.kind}/${draft.id}` }, draftTitle(draft)),
      h('br'),
      h('small', { class: 'muted' },
        draft.kind === 'mechanism' ? t('drafts.kind_mechanism') : t('drafts.kind_watch'),
        ' · ', draft.target_id ? t('drafts.edit_of', { id: draft.target_id }) : t('drafts.new_record'),
        ' · ', h('a', { href: `/users/${draft.author_id}` }, t('moderation.author')),
        ' · ', formatDate(draft.submitted_at || draft.updated_at))))));
  } catch (error) {
    fill(list, errorBox(error));
  }
}

/** The draft's photos beside the live ones, side by side; a side the draft has replaces the live one. */
function photoDiff(review, isEdit) {
  const proposed = bySide(review.images);
  const live = bySide(review.live_images);
  const sides = SIDES.filter((side) => proposed[side] || live[side]);
  if (!sides.length) return h('p', { class: 'muted' }, t('moderation.no_photos'));
  const rows = sides.map((side) => {
    const changed = isEdit && Boolean(proposed[side]);
    return h('tr', { class: changed ? 'changed' : null },
      h('th', { scope: 'row' }, sideName(side), changed ? h('span', { class: 'visually-hidden' }, ` (${t('moderation.changed')})`) : null),
      isEdit ? h('td', { class: 'live' }, live[side] ? photoThumb(live[side], `${sideName(side)} — ${t('moderation.live')}`, 128) : '—') : null,
      h('td', { class: 'proposed' }, proposed[side]
        ? photoThumb(proposed[side], `${sideName(side)} — ${t('moderation.proposed')}`, 128, { isPrivate: true })
        : t('moderation.photo_kept')));
  });
  return h('div', { class: 'table-scroll' },
    h('table', { class: 'photo-diff' },
      h('caption', { class: 'visually-hidden' }, t('moderation.photos_caption')),
      h('thead', {}, h('tr', {},
        h('th', { scope: 'col' }, t('moderation.side')),
        isEdit ? h('th', { scope: 'col' }, t('moderation.live')) : null,
        h('th', { scope: 'col' }, t('moderation.proposed')))),
      h('tbody', {}, rows)));
}

export async function reviewPage(container, { params }) {
  if (!isModerator()) {
    refuse(container);
    return;
  }
  const kind = params.kind === 'mechanism' ? 'mechanism' : 'watch';
  append(container, loading());
  let review;
  let references;
  let mechanisms;
  try {
    [review, references, mechanisms] = await Promise.all([
      api('moderationDraft', { params: { kind: pathKind(kind), id: params.id } }),
      loadReferences(),
      kind === 'watch' ? loadMechanisms() : [],
    ]);
  } catch (error) {
    fill(container, h('h1', {}, t('moderation.review')), errorBox(error));
    return;
  }
  const show = (name, value) => showValue(name, value, references, mechanisms);
  const names = kind === 'mechanism' ? MECHANISM_FIELDS : WATCH_FIELDS;
  const changed = new Set((review.changes || []).map((change) => change.field));
  const isEdit = Boolean(review.target_id);
  const rows = names.map((name) => {
    const proposed = review.values[name];
    const live = review.live ? review.live[name] : undefined;
    const differs = isEdit && changed.has(name);
    return h('tr', { class: differs ? 'changed' : null },
      h('th', { scope: 'row' }, fieldLabel(name), differs ? h('span', { class: 'visually-hidden' }, ` (${t('moderation.changed')})`) : null),
      isEdit ? h('td', { class: 'live' }, show(name, live)) : null,
      h('td', { class: differs ? 'proposed changed-value' : 'proposed' }, show(name, proposed)));
  });
  const status = h('p', { role: 'status', class: 'status-line' });
  const approve = h('button', { type: 'button' }, t('moderation.approve'));
  approve.addEventListener('click', async () => {
    approve.disabled = true;
    try {
      const result = await api('approveDraft', { params: { kind: pathKind(kind), id: review.id } });
      forgetReferences();
      navigate(kind === 'watch' ? `/watches/${result.record_id}` : '/moderation');
    } catch (error) {
      fill(status, errorBox(error));
      approve.disabled = false;
    }
  });
  const rejectForm = h('form', { class: 'stack-form', novalidate: true },
    field({ label: t('moderation.reject_message'), name: 'message', type: 'textarea', required: true, hint: t('moderation.reject_hint') }),
    formAlert(),
    h('button', { type: 'submit', class: 'danger' }, t('moderation.reject')));
  rejectForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(rejectForm);
    try {
      await api('rejectDraft', { params: { kind: pathKind(kind), id: review.id }, body: { message: new FormData(rejectForm).get('message') } });
      navigate('/moderation');
    } catch (error) {
      showError(rejectForm, error);
    }
  });

  fill(container,
    h('p', { class: 'crumbs' }, h('a', { href: '/moderation' }, t('moderation.title'))),
    h('h1', {}, draftTitle(review)),
    h('p', {},
      isEdit ? [t('moderation.edit_of'), ' ', h('a', { href: kind === 'watch' ? `/watches/${review.target_id}` : '#' }, `#${review.target_id}`)] : t('moderation.new_record'),
      ' · ', h('a', { href: `/users/${review.author_id}` }, t('moderation.author'))),
    isEdit && !changed.size ? h('p', { class: 'muted' }, t('moderation.no_changes')) : null,
    h('div', { class: 'table-scroll' },
      h('table', { class: 'diff' },
        h('caption', { class: 'visually-hidden' }, t('moderation.diff_caption')),
        h('thead', {}, h('tr', {},
          h('th', { scope: 'col' }, t('moderation.field')),
          isEdit ? h('th', { scope: 'col' }, t('moderation.live')) : null,
          h('th', { scope: 'col' }, t('moderation.proposed')))),
        h('tbody', {}, rows))),
    kind === 'watch' ? [h('h2', {}, t('moderation.photos')), photoDiff(review, isEdit)] : null,
    h('section', { class: 'panel' }, h('h2', {}, t('moderation.decision')), h('p', {}, approve), status, rejectForm));
}
