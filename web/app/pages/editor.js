// Moderators edit the catalog directly: watches (fields, photos by side, deletion) and
// the reference lists, confirming each deletion and saying in words what still uses a row.

import { h, fill, append } from '../dom.js';
import { t } from '../i18n.js';
import { api, session } from '../api.js';
import { navigate } from '../router.js';
import { errorBox, errorText, loading, formAlert, showError, clearErrors, confirmDialog, emptyState } from '../ui.js';
import { loadReferences, loadMechanisms, forgetReferences } from '../references.js';
import { watchFields, readForm } from '../drafts-form.js';
import { photosSection, imagesOf } from '../photos.js';

const KINDS = ['brands', 'factories', 'genders', 'case-materials', 'mechanism-types', 'functions'];

export function isModerator() {
  return Boolean(session.user && (session.user.role === 'moderator' || session.user.role === 'admin'));
}

function kindName(kind) {
  return {
    brands: t('references.brands'),
    factories: t('references.factories'),
    genders: t('references.genders'),
    'case-materials': t('references.case_materials'),
    'mechanism-types': t('references.mechanism_types'),
    functions: t('references.functions'),
  }[kind];
}

/** The form's values from a watch's detail. */
function valuesOf(watch) {
  const id = (reference) => (reference ? reference.id : null);
  return {
    folder: watch.folder,
    code: watch.code,
    aliases: watch.aliases,
    brand_id: id(watch.brand),
    factory_id: id(watch.factory),
    gender_id: id(watch.gender),
    case_material_id: id(watch.case_material),
    mechanism_id: id(watch.mechanism),
    start_release: watch.start_release,
    end_release: watch.end_release,
    integrated_bracelet: watch.integrated_bracelet,
  };
}

export async function watchEditorPage(container, { params }) {
  if (!isModerator()) {
    append(container, h('h1', {}, t('editor.title')), errorBox({ code: session.user ? 'forbidden' : 'missing_token' }));
    return;
  }
  append(container, loading());
  let watch = null;
  let references;
  let mechanisms;
  try {
    [watch, references, mechanisms] = await Promise.all([
      params.id ? api('watch', { params: { id: params.id } }) : null,
      loadReferences(),
      loadMechanisms(),
    ]);
  } catch (error) {
    fill(container, h('h1', {}, t('editor.title')), errorBox(error));
    return;
  }
  const saveButton = h('button', { type: 'submit' }, t('common.save'));
  const form = h('form', { class: 'stack-form wide', novalidate: true },
    watchFields(watch ? valuesOf(watch) : { aliases: [] }, references, mechanisms), formAlert(), saveButton);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(form);
    saveButton.disabled = true;
    try {
      const body = readForm('watch', form);
      const saved = watch
        ? await api('updateWatch', { params: { id: watch.id }, body })
        : await api('createWatch', { body });
      navigate(`/watches/${saved.id}`);
    } catch (error) {
      showError(form, error);
    } finally {
      saveButton.disabled = false;
    }
  });
  fill(container,
    watch ? h('p', { class: 'crumbs' }, h('a', { href: `/watches/${watch.id}` }, watch.aliases[0] || watch.folder)) : null,
    h('h1', {}, watch ? t('editor.edit_watch') : t('editor.new_watch')),
    form,
    watch ? photosSection({ title: t('editor.photos'), images: imagesOf(watch), endpoints: { put: 'putWatchPhoto', remove: 'deleteWatchPhoto' }, params: { id: watch.id } }) : null,
    watch ? deleteWatchSection(watch) : null);
}

function deleteWatchSection(watch) {
  const status = h('p', { role: 'alert', class: 'form-error' });
  return h('section', { class: 'panel' }, h('h2', {}, t('editor.delete_watch')),
    h('p', {}, t('editor.delete_watch_text')),
    h('button', { type: 'button', class: 'danger', onclick: async () => {
      if (!(await confirmDialog(t('editor.delete_watch_confirm', { name: watch.aliases[0] || watch.folder }), t('common.delete')))) return;
      try {
        await api('deleteWatch', { params: { id: watch.id } });
        navigate('/');
      } catch (error) {
        status.textContent = errorText(error);
      }
    } }, t('editor.delete_watch')),
    status);
}

export async function referencesPage(container, { query }) {
  if (!isModerator()) {
    append(container, h('h1', {}, t('references.title')), errorBox({ code: session.user ? 'forbidden' : 'missing_token' }));
    return;
  }
  const kind = KINDS.includes(query.get('kind')) ? query.get('kind') : 'brands';
  const list = h('ul', { class: 'reference-list' }, h('li', {}, loading()));
  const status = h('p', { role: 'status', class: 'status-line' });

  async function load() {
    forgetReferences();
    try {
      const items = (await loadReferences())[kind];
      fill(list, items.length ? items.map(row) : h('li', {}, emptyState(t('references.empty'))));
    } catch (error) {
      fill(list, h('li', {}, errorBox(error)));
    }
  }

  function row(item) {
    const inputId = `reference-${item.id}`;
    const line = h('p', { class: 'row-error', role: 'alert' });
    const form = h('form', { class: 'inline-form reference-row', 'data-reference': item.name },
      h('label', { for: inputId, class: 'visually-hidden' }, t('references.name_of', { name: item.name })),
      h('input', { id: inputId, name: 'name', value: item.name, required: true }),
      h('button', { type: 'submit', class: 'secondary small' }, t('common.save')),
      h('button', { type: 'button', class: 'danger small', onclick: async () => {
        if (!(await confirmDialog(t('references.delete_confirm', { name: item.name }), t('common.delete')))) return;
        try {
          await api('deleteReference', { params: { reference: kind, id: item.id } });
          status.textContent = t('references.deleted', { name: item.name });
          load();
        } catch (error) {
          line.textContent = errorText(error);
        }
      } }, t('common.delete')),
      line);
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      try {
        await api('renameReference', { params: { reference: kind, id: item.id }, body: { name: String(new FormData(form).get('name')).trim() } });
        status.textContent = t('common.saved');
        load();
      } catch (error) {
        line.textContent = error.fieldErrors && error.fieldErrors.length ? error.fieldErrors[0].message : errorText(error);
      }
    });
    return h('li', {}, form);
  }

  const addId = 'reference-new';
  const addForm = h('form', { class: 'inline-form', novalidate: true },
    h('div', { class: 'field' }, h('label', { for: addId }, t('references.add_label')), h('input', { id: addId, name: 'name', required: true }),
      h('p', { class: 'field-error', 'data-error-for': 'name' })),
    h('button', { type: 'submit' }, t('references.add')), formAlert());
  addForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(addForm);
    try {
      await api('createReference', { params: { reference: kind }, body: { name: String(new FormData(addForm).get('name')).trim() } });
      addForm.reset();
      status.textContent = t('common.saved');
      load();
    } catch (error) {
      showError(addForm, error);
    }
  });

  append(container,
    h('h1', {}, t('references.title')),
    h('nav', { class: 'tabs', 'aria-label': t('references.kinds') },
      KINDS.map((item) => h('a', { href: `/references?kind=${item}`, 'aria-current': item === kind ? 'page' : null }, kindName(item)))),
    h('h2', {}, kindName(kind)),
    addForm, status, list,
    h('p', {}, h('a', { href: '/watches/new', class: 'button secondary' }, t('editor.new_watch'))));
  load();
}
