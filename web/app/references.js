// The catalog's reference lists (brands, factories, …) and mechanisms, loaded once a page.

import { allPages } from './api.js';
import { t } from './i18n.js';

export const REFERENCE_KINDS = ['brands', 'factories', 'genders', 'case-materials', 'mechanism-types', 'functions'];

let referencesPromise = null;
let mechanismsPromise = null;

/** {brands: [{id, name}], factories: […], …}; retried after a failure. */
export function loadReferences() {
  if (!referencesPromise) {
    referencesPromise = Promise.all(REFERENCE_KINDS.map((kind) => allPages('references', { params: { reference: kind } })))
      .then((lists) => Object.fromEntries(REFERENCE_KINDS.map((kind, index) => [kind, lists[index]])))
      .catch((error) => {
        referencesPromise = null;
        throw error;
      });
  }
  return referencesPromise;
}

export function loadMechanisms() {
  if (!mechanismsPromise) {
    mechanismsPromise = allPages('mechanisms').catch((error) => {
      mechanismsPromise = null;
      throw error;
    });
  }
  return mechanismsPromise;
}

/** After a moderator's change the lists are read again. */
export function forgetReferences() {
  referencesPromise = null;
  mechanismsPromise = null;
}

export function nameOf(list, id) {
  if (id === null || id === undefined) return null;
  const found = (list || []).find((item) => item.id === id);
  return found ? found.name : `#${id}`;
}

export function mechanismLabel(mechanism) {
  const type = mechanism.mechanism_type ? `, ${mechanism.mechanism_type.name}` : '';
  return `${mechanism.name}${type}${mechanism.stones !== null && mechanism.stones !== undefined ? `, ${t('mechanism.stones_short', { count: mechanism.stones })}` : ''}`;
}

/** Options for a select: "—" first, then the list. */
export function options(list, label = (item) => item.name) {
  return [{ value: '', label: '—' }, ...list.map((item) => ({ value: item.id, label: label(item) }))];
}
