// Every text of the app comes from one catalogue per language (../i18n/{ru,en}.json).

const LANGUAGES = ['ru', 'en'];
const STORAGE_KEY = 'vitrine.language';
let language = 'ru';
let catalogue = {};

export function languages() {
  return LANGUAGES;
}

export function currentLanguage() {
  return language;
}

/** Loads the saved language (Russian by default). */
export async function loadLanguage(wanted) {
  const saved = wanted || safeStorageGet() || 'ru';
  language = LANGUAGES.includes(saved) ? saved : 'ru';
  const response = await fetch(new URL(`../i18n/${language}.json`, import.meta.url));
  catalogue = await response.json();
  document.documentElement.lang = language;
  if (wanted) safeStorageSet(language);
}

/** The text of `key`, with `{name}` placeholders filled from `values`. */
export function t(key, values) {
  const text = catalogue[key] ?? key;
  if (!values) return text;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole));
}

/** Formats a date or time in the current language. */
export function formatDate(value, withTime = true) {
  if (!value) return '';
  const options = withTime
    ? { dateStyle: 'medium', timeStyle: 'short' }
    : { dateStyle: 'medium' };
  return new Intl.DateTimeFormat(language, options).format(new Date(value));
}

function safeStorageGet() {
  try {
    return localStorage.getItem(STORAGE_KEY);
  } catch {
    return null;
  }
}

function safeStorageSet(value) {
  try {
    localStorage.setItem(STORAGE_KEY, value);
  } catch {
    // private mode: the choice lasts for this page only
  }
}
