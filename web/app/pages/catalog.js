// The catalog: search as one types, filters, sort and pages, all held in the URL.

import { h, fill, append } from '../dom.js';
import { t } from '../i18n.js';
import { api, allPages } from '../api.js';
import { replaceQuery } from '../router.js';
import { selectField, watchCard, emptyState, errorBox, loading } from '../ui.js';

const PAGE_SIZE = 24;
const FILTERS = [
  { name: 'brand_id', reference: 'brands', label: () => t('filter.brand') },
  { name: 'factory_id', reference: 'factories', label: () => t('filter.factory') },
  { name: 'gender_id', reference: 'genders', label: () => t('filter.gender') },
  { name: 'case_material_id', reference: 'case-materials', label: () => t('filter.case_material') },
  { name: 'mechanism_type_id', reference: 'mechanism-types', label: () => t('filter.mechanism_type') },
];
const QUERY_KEYS = ['q', ...FILTERS.map((filter) => filter.name), 'year_from', 'year_to', 'integrated_bracelet', 'sort', 'cursor'];

let referencesPromise = null;
let prefetched = null;

function listQuery(state) {
  return { ...Object.fromEntries(state.entries()), limit: PAGE_SIZE };
}

function pickQuery(query) {
  const state = new URLSearchParams();
  for (const key of QUERY_KEYS) if (query.get(key)) state.set(key, query.get(key));
  return state;
}

/** Starts the first page's request while the app is still starting. */
export function prefetchCatalog(query) {
  const state = pickQuery(query);
  prefetched = { key: state.toString(), page: api('watches', { query: listQuery(state) }) };
  prefetched.page.catch(() => null);
  loadReferences().catch(() => null);
}

function takePrefetched(state) {
  const found = prefetched && prefetched.key === state.toString() ? prefetched.page : null;
  prefetched = null;
  return found;
}
function loadReferences() {
  if (!referencesPromise) {
    referencesPromise = Promise.all(FILTERS.map((filter) => allPages('references', { params: { reference: filter.reference } })))
      .catch((error) => {
        referencesPromise = null;
        throw error;
      });
  }
  return referencesPromise;
}

function sortOptions() {
  return [
    { value: '', label: t('sort.added') },
    { value: '-id', label: t('sort.newest') },
    { value: 'start_release', label: t('sort.year_asc') },
    { value: '-start_release', label: t('sort.year_desc') },
    { value: 'folder', label: t('sort.folder') },
  ];
}

export function catalogPage(container, { query }) {
  const state = pickQuery(query);

  const results = h('div', { class: 'results', 'aria-busy': 'true' }, loading());
  const status = h('p', { class: 'visually-hidden', role: 'status', 'aria-live': 'polite' });
  const filters = h('div', { class: 'filters-body' });
  const searchInput = h('input', {
    id: 'catalog-search', type: 'search', name: 'q', value: state.get('q') || '',
    placeholder: t('catalog.search_placeholder'), autocomplete: 'off', enterkeyhint: 'search',
  });
  let typingTimer = null;
  let requestNumber = 0;

  function update(changes, { push = false } = {}) {
    for (const [key, value] of Object.entries(changes)) {
      if (value === '' || value === null || value === undefined) state.delete(key);
      else state.set(key, value);
    }
    if (!('cursor' in changes)) state.delete('cursor');
    if (push) history.pushState(null, '', location.pathname + (state.toString() ? `?${state}` : ''));
    else replaceQuery(state);
    load();
  }

  async function load() {
    const number = ++requestNumber;
    results.setAttribute('aria-busy', 'true');
    try {
      const page = await (takePrefetched(state) || api('watches', { query: listQuery(state) }));
      if (number !== requestNumber) return;
      renderResults(page);
    } catch (error) {
      if (number !== requestNumber) return;
      fill(results, errorBox(error));
    } finally {
      if (number === requestNumber) results.removeAttribute('aria-busy');
    }
  }

  function renderResults(page) {
    const filtered = [...state.keys()].some((key) => key !== 'sort' && key !== 'cursor');
    if (!page.items.length) {
      fill(results, emptyState(
        filtered ? t('catalog.nothing_found') : t('catalog.empty'),
        filtered ? h('button', { type: 'button', onclick: resetAll }, t('catalog.reset')) : null));
      status.textContent = t('catalog.nothing_found');
      return;
    }
    status.textContent = t('catalog.shown', { count: page.items.length });
    if (!performance.getEntriesByName('vitrine:first-results').length) performance.mark('vitrine:first-results');
    const next = new URLSearchParams(state);
    if (page.next_cursor) next.set('cursor', page.next_cursor);
    const first = new URLSearchParams(state);
    first.delete('cursor');
    fill(results,
      h('ul', { class: 'grid', 'aria-label': t('catalog.results') }, page.items.map(watchCard)),
      h('nav', { class: 'pager', 'aria-label': t('catalog.pages') },
        state.get('cursor') ? h('a', { href: `/?${first}` }, t('catalog.first_page')) : null,
        page.next_cursor ? h('a', { href: `/?${next}`, rel: 'next', class: 'button' }, t('catalog.next_page')) : null));
  }

  function resetAll() {
    for (const key of [...state.keys()]) state.delete(key);
    searchInput.value = '';
    renderFilters();
    update({}, { push: true });
  }

  async function renderFilters() {
    let lists;
    try {
      lists = await loadReferences();
    } catch (error) {
      fill(filters, errorBox(error));
      return;
    }
    const selects = FILTERS.map((filter, index) => selectField({
      label: filter.label(),
      name: filter.name,
      value: state.get(filter.name) || '',
      options: [{ value: '', label: t('filter.any') }, ...lists[index].map((item) => ({ value: item.id, label: item.name }))],
    }));
    const yearFrom = h('input', { id: 'year-from', name: 'year_from', type: 'number', inputmode: 'numeric', min: 1900, max: 2100, value: state.get('year_from') || '' });
    const yearTo = h('input', { id: 'year-to', name: 'year_to', type: 'number', inputmode: 'numeric', min: 1900, max: 2100, value: state.get('year_to') || '' });
    fill(filters,
      selects,
      h('fieldset', { class: 'years' },
        h('legend', {}, t('filter.years')),
        h('label', { for: 'year-from' }, t('filter.year_from')), yearFrom,
        h('label', { for: 'year-to' }, t('filter.year_to')), yearTo),
      selectField({
        label: t('filter.bracelet'),
        name: 'integrated_bracelet',
        value: state.get('integrated_bracelet') || '',
        options: [{ value: '', label: t('filter.any') }, { value: 'true', label: t('common.yes') }, { value: 'false', label: t('common.no') }],
      }),
      selectField({ label: t('sort.label'), name: 'sort', value: state.get('sort') || '', options: sortOptions() }));
  }

  const form = h('form', {
    class: 'catalog-search', role: 'search',
    onsubmit: (event) => {
      event.preventDefault();
      clearTimeout(typingTimer);
      update({ q: searchInput.value.trim() }, { push: true });
    },
  },
  h('label', { for: 'catalog-search', class: 'search-label' }, t('catalog.search_label')),
  h('div', { class: 'search-row' }, searchInput, h('button', { type: 'submit' }, t('catalog.search_button'))),
  h('details', { class: 'filters', open: matchMedia('(min-width: 900px)').matches || null },
    h('summary', {}, t('catalog.filters')), filters));

  searchInput.addEventListener('input', () => {
    clearTimeout(typingTimer);
    typingTimer = setTimeout(() => update({ q: searchInput.value.trim() }), 180);
  });
  filters.addEventListener('change', (event) => {
    const { name, value } = event.target;
    if (name) update({ [name]: value }, { push: true });
  });

  append(container, h('h1', {}, t('catalog.title')), form, status, results);
  load();
  renderFilters();
  return () => clearTimeout(typingTimer);
}
