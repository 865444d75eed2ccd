// History-based routing: the URL says which page and which query, so links can be shared
// and the back button works.

const routes = [];
let container;
let cleanup = null;
let firstRender = true;
let notFoundPage = null;
const renderHooks = [];

/** Called after each page is drawn (the header marks the current page). */
export function afterEachRender(hook) {
  renderHooks.push(hook);
}

/** route('/watches/:id', render): render(container, {params, query}) may return a cleanup. */
export function route(pattern, render) {
  const keys = [];
  const source = pattern.replace(/:(\w+)/g, (_, key) => {
    keys.push(key);
    return '([^/]+)';
  });
  routes.push({ regex: new RegExp(`^${source}/?$`), keys, render });
}

export function notFound(render) {
  notFoundPage = render;
}

export function navigate(path, { replace = false } = {}) {
  if (replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  return render();
}

/** Changes the query of the current page without a new history entry or a new render. */
export function replaceQuery(query) {
  const text = query.toString();
  history.replaceState(null, '', location.pathname + (text ? `?${text}` : ''));
}

export function start(element) {
  container = element;
  document.addEventListener('click', (event) => {
    const link = event.target.closest('a[href]');
    if (!link || event.defaultPrevented || event.button !== 0) return;
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    if (link.target || link.hasAttribute('download')) return;
    const target = new URL(link.href);
    if (target.origin !== location.origin || target.pathname.startsWith('/api/')) return;
    if (target.hash && target.pathname === location.pathname && target.search === location.search) return;
    event.preventDefault();
    navigate(target.pathname + target.search);
  });
  window.addEventListener('popstate', () => render());
  return render();
}

export async function render() {
  if (cleanup) cleanup();
  cleanup = null;
  const query = new URLSearchParams(location.search);
  for (const { regex, keys, render: page } of routes) {
    const match = regex.exec(location.pathname);
    if (!match) continue;
    const params = Object.fromEntries(keys.map((key, index) => [key, decodeURIComponent(match[index + 1])]));
    container.replaceChildren();
    cleanup = (await page(container, { params, query })) || null;
    afterRender();
    return;
  }
  container.replaceChildren();
  if (notFoundPage) notFoundPage(container);
  afterRender();
}

/** Moves focus to the new page's heading, so keyboard and screen-reader users follow. */
function afterRender() {
  renderHooks.forEach((hook) => hook());
  const heading = container.querySelector('h1');
  if (heading) {
    document.title = `${heading.textContent} · vitrine`;
    // not on the first page of a visit: there the browser's own start is expected
    if (!firstRender && (document.activeElement === document.body || !container.contains(document.activeElement))) {
      heading.setAttribute('tabindex', '-1');
      heading.focus({ preventScroll: true });
    }
  }
  firstRender = false;
}
