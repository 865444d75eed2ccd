// Building the page from elements (never from HTML strings, so that no text is markup).

/** h('a', {href: '/x', class: 'c', onclick: fn}, 'text', child, [more]) */
export function h(tag, attrs, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      element.addEventListener(name.slice(2), value);
    } else if (name === 'value' || name === 'checked' || name === 'selected') {
      element[name] = value;
    } else {
      element.setAttribute(name, value === true ? '' : String(value));
    }
  }
  append(element, ...children);
  return element;
}

export function append(element, ...children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(element, ...child);
    else element.append(child instanceof Node ? child : String(child));
  }
}

/** Replaces the children of `element`. */
export function fill(element, ...children) {
  element.replaceChildren();
  append(element, ...children);
  return element;
}

let uniqueCounter = 0;
/** An id unique in the page, for label/input pairs. */
export function uid(prefix) {
  uniqueCounter += 1;
  return `${prefix}-${uniqueCounter}`;
}

/** A path of the API's absolute URL, so images load from the page's own origin. */
export function localUrl(url, thumb) {
  if (!url) return null;
  const parsed = new URL(url, location.origin);
  if (thumb) parsed.searchParams.set('thumb', thumb);
  return parsed.pathname + parsed.search;
}
