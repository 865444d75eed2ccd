// Members' proposals: the list with status and the moderator's message, and the form that
// writes a new watch or mechanism, or an edit of a live watch, with photos by side, and
// sends it to moderation.

import { h, fill, append } from '../dom.js';
import { t, formatDate } from '../i18n.js';
import { api, allPages, session } from '../api.js';
import { navigate } from '../router.js';
import { errorBox, emptyState, formAlert, showError, clearErrors, loading, confirmDialog, errorText } from '../ui.js';
import { loadReferences, loadMechanisms } from '../references.js';
import { pathKind, draftTitle, statusLabel, watchFields, mechanismFields, readForm } from '../drafts-form.js';
import { photosSection } from '../photos.js';

function requireMember(path) {
  if (session.user) return true;
  navigate(`/signin?next=${encodeURIComponent(path)}`, { replace: true });
  return false;
}

export async function draftsPage(container) {
  if (!requireMember('/drafts')) return;
  append(container, 
    h('h1', {}, t('drafts.title')),
    h('p', { class: 'actions' },
      h('a', { href: '/drafts/new/watch', class: 'button' }, t('drafts.new_watch')),
      h('a', { href: '/drafts/new/mechanism', class: 'button secondary' }, t('drafts.new_mechanism'))));
  const list = h('div', { 'aria-busy': 'true' }, loading());
  append(container, list);
  try {
    const drafts = await allPages('myDrafts');
    list.removeAttribute('aria-busy');
    if (!drafts.length) {
      fill(list, emptyState(t('drafts.empty')));
      return;
    }
    fill(list, h('ul', { class: 'draft-list' }, drafts.map((draft) => h('li', { class: `draft status-${draft.status}` },
      h('div', {},
        h('a', { href: `/drafts/${draft.kind}/${draft.id}` }, draftTitle(draft)),
        ' ',
        h('span', { class: 'badge' }, statusLabel(draft.status)),
        h('br'),
        h('small', { class: 'muted' },
          draft.kind === 'mechanism' ? t('drafts.kind_mechanism') : t('drafts.kind_watch'),
          ' · ', draft.target_id ? t('drafts.edit_of', { id: draft.target_id }) : t('drafts.new_record'),
          ' · ', formatDate(draft.updated_at))),
      draft.message
        ? h('p', { class: 'moderator-message' }, h('strong', {}, t('drafts.moderator_said')), ' ', draft.message)
        : null))));
  } catch (error) {
    fill(list, errorBox(error));
  }
}

/** /drafts/new/watch, /drafts/new/mechanism, /watches/:id/propose: a draft is made on the first save. */
export async function newDraftPage(container, { params }) {
  const kind = params.kind === 'mechanism' ? 'mechanism' : 'watch';
  if (!requireMember(location.pathname)) return;
  await draftForm(container, { kind, draft: null });
}

export async function proposeEditPage(container, { params }) {
  if (!requireMember(location.pathname)) return;
  append(container, loading());
  try {
    // the new proposal starts as the live watch
    const draft = await api('createWatchDraft', { body: { target_id: Number(params.id) } });
    navigate(`/drafts/watch/${draft.id}`, { replace: true });
  } catch (error) {
    fill(container, h('h1', {}, t('drafts.propose_edit')), errorBox(error));
  }
}

export async function draftPage(container, { params }) {
  if (!requireMember(location.pathname)) return;
  const kind = params.kind === 'mechanism' ? 'mechanism' : 'watch';
  append(container, loading());
  let draft;
  try {
    draft = await api('draft', { params: { kind: pathKind(kind), id: params.id } });
  } catch (error) {
    fill(container, h('h1', {}, t('drafts.missing')), errorBox(error));
    return;
  }
  container.replaceChildren();
  await draftForm(container, { kind, draft });
}

async function draftForm(container, { kind, draft }) {
  let references;
  let mechanisms;
  try {
    [references, mechanisms] = await Promise.all([loadReferences(), kind === 'watch' ? loadMechanisms() : []]);
  } catch (error) {
    fill(container, errorBox(error));
    return;
  }
  let current = draft;
  const values = draft ? draft.values : { aliases: [], function_ids: [] };
  const heading = draft
    ? draftTitle(draft)
    : (kind === 'mechanism' ? t('drafts.new_mechanism') : t('drafts.new_watch'));
  const status = h('p', { role: 'status', class: 'status-line' });
  const saveButton = h('button', { type: 'submit', name: 'action', value: 'save', class: 'secondary' }, t('drafts.save'));
  const submitButton = h('button', { type: 'submit', name: 'action', value: 'submit' }, t('drafts.submit'));
  const form = h('form', { class: 'stack-form wide', novalidate: true },
    kind === 'mechanism' ? mechanismFields(values, references) : watchFields(values, references, mechanisms),
    formAlert(),
    h('div', { class: 'actions' }, saveButton, submitButton));

  // a watch draft's photos by side, once the draft exists (the first save makes it)
  const photos = h('div', { class: 'draft-photos' });
  function showPhotos() {
    if (kind !== 'watch') return;
    if (!current) {
      fill(photos, h('p', { class: 'muted' }, t('drafts.photos_after_save')));
      return;
    }
    const editable = current.status === 'draft' || current.status === 'rejected';
    fill(photos, photosSection({
      title: t('drafts.photos'),
      images: current.images,
      endpoints: { put: 'putDraftPhoto', remove: 'deleteDraftPhoto' },
      params: { id: current.id },
      isPrivate: true,
      readOnly: !editable,
      hint: editable ? t('drafts.photos_hint') : null,
    }));
  }
  showPhotos();

  async function save() {
    const body = readForm(kind, form);
    if (current) {
      current = await api('updateDraft', { params: { kind: pathKind(kind), id: current.id }, body });
    } else {
      current = await api(kind === 'mechanism' ? 'createMechanismDraft' : 'createWatchDraft', { body });
      history.replaceState(null, '', `/drafts/${kind}/${current.id}`);
      showPhotos();
    }
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const action = event.submitter ? event.submitter.value : 'save';
    clearErrors(form);
    status.textContent = '';
    saveButton.disabled = true;
    submitButton.disabled = true;
    try {
      await save();
      if (action === 'submit') {
        current = await api('submitDraft', { params: { kind: pathKind(kind), id: current.id } });
        navigate('/drafts');
        return;
      }
      status.textContent = t('drafts.saved');
    } catch (error) {
      showError(form, error);
    } finally {
      saveButton.disabled = false;
      submitButton.disabled = false;
    }
  });

  append(container, 
    h('p', { class: 'crumbs' }, h('a', { href: '/drafts' }, t('drafts.title'))),
    h('h1', {}, heading),
    draft ? h('p', {}, h('span', { class: 'badge' }, statusLabel(draft.status)),
      draft.target_id ? [' ', h('a', { href: `/watches/${draft.target_id}` }, t('drafts.edit_of', { id: draft.target_id }))] : null) : null,
    draft && draft.message
      ? h('div', { class: 'moderator-message', role: 'note' }, h('strong', {}, t('drafts.moderator_said')), ' ', draft.message)
      : null,
    draft && draft.status === 'submitted' ? h('p', { class: 'muted' }, t('drafts.waiting')) : null,
    form,
    status,
    photos,
    draft ? h('p', {}, h('button', { type: 'button', class: 'danger', onclick: async () => {
      if (!(await confirmDialog(t('drafts.delete_confirm'), t('common.delete')))) return;
      try {
        await api('deleteDraft', { params: { kind: pathKind(kind), id: current.id } });
        navigate('/drafts');
      } catch (error) {
        status.textContent = errorText(error);
      }
    } }, t('drafts.delete'))) : null);
}
