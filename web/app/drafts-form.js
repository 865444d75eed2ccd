// The fields of watch and mechanism drafts: labels, how a value is shown, and the forms.

import { h } from './dom.js';
import { t } from './i18n.js';
import { field, selectField } from './ui.js';
import { nameOf, options, mechanismLabel } from './references.js';

export function pathKind(kind) {
  return kind === 'mechanism' ? 'mechanisms' : 'watches';
}

export function fieldLabel(name) {
  return {
    folder: t('field.folder'),
    code: t('field.code'),
    aliases: t('field.aliases'),
    brand_id: t('field.brand'),
    factory_id: t('field.factory'),
    gender_id: t('field.gender'),
    case_material_id: t('field.case_material'),
    mechanism_id: t('field.mechanism'),
    start_release: t('field.start_release'),
    end_release: t('field.end_release'),
    integrated_bracelet: t('field.integrated_bracelet'),
    name: t('field.name'),
    stones: t('field.stones'),
    mechanism_type_id: t('field.mechanism_type'),
    function_ids: t('field.functions'),
  }[name] || name;
}

export const WATCH_FIELDS = ['folder', 'code', 'aliases', 'brand_id', 'factory_id', 'gender_id', 'case_material_id', 'mechanism_id', 'start_release', 'end_release', 'integrated_bracelet'];
export const MECHANISM_FIELDS = ['name', 'stones', 'mechanism_type_id', 'factory_id', 'function_ids', 'start_release', 'end_release'];

const REFERENCE_OF = {
  brand_id: 'brands',
  factory_id: 'factories',
  gender_id: 'genders',
  case_material_id: 'case-materials',
  mechanism_type_id: 'mechanism-types',
};

/** A value as words: names for ids, lists joined, yes/no. */
export function showValue(name, value, references, mechanisms) {
  if (value === null || value === undefined || (Array.isArray(value) && !value.length)) return '—';
  if (REFERENCE_OF[name]) return nameOf(references[REFERENCE_OF[name]], value);
  if (name === 'mechanism_id') {
    const mechanism = mechanisms.find((item) => item.id === value);
    return mechanism ? mechanismLabel(mechanism) : `#${value}`;
  }
  if (name === 'function_ids') return value.map((id) => nameOf(references.functions, id)).join(', ');
  if (name === 'aliases') return value.join(', ');
  if (typeof value === 'boolean') return value ? t('common.yes') : t('common.no');
  return String(value);
}

export function draftTitle(draft) {
  const values = draft.values || {};
  if (draft.kind === 'mechanism') return values.name || t('drafts.untitled');
  return (values.aliases && values.aliases[0]) || values.folder || t('drafts.untitled');
}

export function statusLabel(status) {
  return { draft: t('status.draft'), submitted: t('status.submitted'), approved: t('status.approved'), rejected: t('status.rejected') }[status] || status;
}

function referenceSelect(name, value, references) {
  return selectField({ label: fieldLabel(name), name, value: value ?? '', options: options(references[REFERENCE_OF[name]]) });
}

function numberField(name, value, attrs = {}) {
  return field({ label: fieldLabel(name), name, type: 'number', value: value ?? '', attrs: { inputmode: 'numeric', ...attrs } });
}

export function watchFields(values, references, mechanisms) {
  return [
    field({ label: fieldLabel('folder'), name: 'folder', value: values.folder || '', hint: t('drafts.folder_hint') }),
    field({ label: fieldLabel('code'), name: 'code', value: values.code || '' }),
    field({ label: fieldLabel('aliases'), name: 'aliases', type: 'textarea', value: (values.aliases || []).join('\n'), hint: t('drafts.aliases_hint') }),
    h('div', { class: 'form-grid' },
      referenceSelect('brand_id', values.brand_id, references),
      referenceSelect('factory_id', values.factory_id, references),
      referenceSelect('gender_id', values.gender_id, references),
      referenceSelect('case_material_id', values.case_material_id, references),
      selectField({ label: fieldLabel('mechanism_id'), name: 'mechanism_id', value: values.mechanism_id ?? '', options: options(mechanisms, mechanismLabel) }),
      numberField('start_release', values.start_release, { min: 1800, max: 2100 }),
      numberField('end_release', values.end_release, { min: 1800, max: 2100 })),
    checkbox('integrated_bracelet', Boolean(values.integrated_bracelet)),
  ];
}

export function mechanismFields(values, references) {
  const chosen = new Set(values.function_ids || []);
  return [
    field({ label: fieldLabel('name'), name: 'name', value: values.name || '' }),
    h('div', { class: 'form-grid' },
      numberField('stones', values.stones, { min: 0, max: 200 }),
      referenceSelect('mechanism_type_id', values.mechanism_type_id, references),
      referenceSelect('factory_id', values.factory_id, references),
      numberField('start_release', values.start_release, { min: 1800, max: 2100 }),
      numberField('end_release', values.end_release, { min: 1800, max: 2100 })),
    h('fieldset', { class: 'checks' },
      h('legend', {}, fieldLabel('function_ids')),
      references.functions.map((item) => h('label', {},
        h('input', { type: 'checkbox', name: 'function_ids', value: item.id, checked: chosen.has(item.id) }), ' ', item.name)),
      h('p', { class: 'field-error', 'data-error-for': 'function_ids' })),
  ];
}

function checkbox(name, checked) {
  const id = `check-${name}`;
  return h('div', { class: 'field check' },
    h('input', { id, type: 'checkbox', name, value: 'true', checked }),
    h('label', { for: id }, fieldLabel(name)),
    h('p', { class: 'field-error', 'data-error-for': name }));
}

function orNull(text) {
  const trimmed = (text || '').trim();
  return trimmed === '' ? null : trimmed;
}

function numberOrNull(text) {
  const trimmed = (text || '').trim();
  return trimmed === '' ? null : Number(trimmed);
}

/** The body of a PATCH or POST from a draft form: every field, blanks as null. */
export function readForm(kind, form) {
  const data = new FormData(form);
  const id = (name) => numberOrNull(data.get(name));
  if (kind === 'mechanism') {
    return {
      name: orNull(data.get('name')),
      stones: id('stones'),
      mechanism_type_id: id('mechanism_type_id'),
      factory_id: id('factory_id'),
      function_ids: data.getAll('function_ids').map(Number),
      start_release: id('start_release'),
      end_release: id('end_release'),
    };
  }
  return {
    folder: orNull(data.get('folder')),
    code: orNull(data.get('code')),
    aliases: (data.get('aliases') || '').split('\n').map((alias) => alias.trim()).filter(Boolean),
    brand_id: id('brand_id'),
    factory_id: id('factory_id'),
    gender_id: id('gender_id'),
    case_material_id: id('case_material_id'),
    mechanism_id: id('mechanism_id'),
    start_release: id('start_release'),
    end_release: id('end_release'),
    integrated_bracelet: data.get('integrated_bracelet') === 'true',
  };
}
