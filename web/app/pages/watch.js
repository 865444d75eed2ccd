// A watch: photos by side with thumbnails and a full-size view, the mechanism and its
// functions, aliases and references; members add it to or remove it from their collection.

import { h, fill, localUrl, append } from '../dom.js';
import { t } from '../i18n.js';
import { api, allPages, session } from '../api.js';
import { errorBox, errorText, years, watchTitle, loading } from '../ui.js';
import { isModerator } from './editor.js';

const SIDES = ['main', 'left', 'right', 'bottom'];

export function sideName(side) {
  return { main: t('side.main'), left: t('side.left'), right: t('side.right'), bottom: t('side.bottom') }[side];
}

export async function watchPage(container, { params }) {
  append(container, loading());
  let watch;
  try {
    watch = await api('watch', { params: { id: params.id } });
  } catch (error) {
    fill(container, h('h1', {}, t('watch.title_missing')), errorBox(error), h('a', { href: '/' }, t('notfound.home')));
    return;
  }
  const title = watchTitle(watch);
  fill(container, h('article', { class: 'watch' },
    h('p', { class: 'crumbs' }, h('a', { href: '/' }, t('nav.catalog'))),
    h('h1', {}, title),
    h('div', { class: 'watch-layout' },
      gallery(watch, title),
      h('div', { class: 'watch-facts' },
        collectionControl(watch),
        facts(watch),
        mechanism(watch.mechanism),
        aliases(watch.aliases)))));
}

function gallery(watch, title) {
  const sides = SIDES.filter((side) => watch.images && watch.images[side]);
  if (!sides.length) return h('div', { class: 'gallery' }, h('div', { class: 'no-photo big', role: 'img', 'aria-label': t('watch.no_photos') }));
  const imageUrl = (side) => {
    const image = watch.images[side];
    return typeof image === 'string' ? image : image.url;
  };
  const big = h('img', { class: 'gallery-main', width: 512, height: 512, alt: '' });
  const fullLink = h('a', { class: 'full-size', onclick: (event) => {
    event.preventDefault();
    showFullSize(fullLink.getAttribute('href'), big.alt);
  } }, t('watch.full_size'));
  const thumbs = h('ul', { class: 'thumbs', 'aria-label': t('watch.photos') });
  function show(side) {
    big.src = localUrl(imageUrl(side), '512x512');
    big.alt = `${title}: ${sideName(side)}`;
    fullLink.href = localUrl(imageUrl(side));
    thumbs.querySelectorAll('button').forEach((button) => button.setAttribute('aria-pressed', String(button.dataset.side === side)));
  }
  for (const side of sides) {
    thumbs.append(h('li', {}, h('button', { type: 'button', class: 'thumb', 'data-side': side, onclick: () => show(side) },
      h('img', { src: localUrl(imageUrl(side), '128x128'), alt: '', width: 64, height: 64 }),
      h('span', {}, sideName(side)))));
  }
  show(sides[0]);
  return h('div', { class: 'gallery' }, big, fullLink, thumbs);
}

function row(label, value) {
  return [h('dt', {}, label), h('dd', {}, value === null || value === undefined || value === '' ? '—' : value)];
}

function facts(watch) {
  const name = (reference) => (reference ? reference.name : null);
  return h('dl', { class: 'facts' },
    row(t('watch.brand'), name(watch.brand)),
    row(t('watch.factory'), name(watch.factory)),
    row(t('watch.years'), years(watch.start_release, watch.end_release)),
    row(t('watch.gender'), name(watch.gender)),
    row(t('watch.case_material'), name(watch.case_material)),
    row(t('watch.bracelet'), watch.integrated_bracelet ? t('common.yes') : t('common.no')),
    row(t('watch.code'), watch.code),
    row(t('watch.folder'), watch.folder));
}

function mechanism(item) {
  if (!item) return h('section', {}, h('h2', {}, t('watch.mechanism')), h('p', {}, t('watch.mechanism_unknown')));
  return h('section', {},
    h('h2', {}, t('watch.mechanism')),
    h('dl', { class: 'facts' },
      row(t('mechanism.name'), item.name),
      row(t('mechanism.type'), item.mechanism_type ? item.mechanism_type.name : null),
      row(t('mechanism.stones'), item.stones),
      row(t('mechanism.factory'), item.factory ? item.factory.name : null),
      row(t('mechanism.functions'), item.functions && item.functions.length ? item.functions.map((fn) => fn.name).join(', ') : t('mechanism.no_functions'))));
}

function aliases(list) {
  return h('section', {},
    h('h2', {}, t('watch.aliases')),
    list && list.length ? h('ul', { class: 'tags' }, list.map((alias) => h('li', {}, alias))) : h('p', {}, '—'));
}

function collectionControl(watch) {
  const box = h('div', { class: 'collection-control' });
  if (!session.user) {
    fill(box, h('p', {}, h('a', { href: '/signin' }, t('watch.sign_in_to_collect'))));
    return box;
  }
  const status = h('p', { role: 'status', class: 'status-line' });
  let inCollection = false;
  const button = h('button', { type: 'button', disabled: true }, t('common.loading'));
  function draw() {
    button.disabled = false;
    button.textContent = inCollection ? t('watch.remove_from_collection') : t('watch.add_to_collection');
    button.setAttribute('aria-pressed', String(inCollection));
  }
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      await api(inCollection ? 'removeFromCollection' : 'addToCollection', { params: { watch_id: watch.id } });
      inCollection = !inCollection;
      status.textContent = inCollection ? t('watch.added') : t('watch.removed');
    } catch (error) {
      status.textContent = errorText(error);
    }
    draw();
  });
  allPages('collection', { params: { id: session.user.user_id } })
    .then((items) => {
      inCollection = items.some((item) => item.watch_id === watch.id);
      draw();
    })
    .catch((error) => {
      status.textContent = errorText(error);
      draw();
    });
  return fill(box, h('div', { class: 'actions' }, button,
    h('a', { href: `/watches/${watch.id}/propose`, class: 'button secondary' }, t('watch.propose_edit')),
    isModerator() ? h('a', { href: `/watches/${watch.id}/edit`, class: 'button secondary' }, t('watch.edit')) : null), status);
}

/** The photo at full size in a modal view; Escape or the button closes it. */
function showFullSize(url, alt) {
  const dialog = h('dialog', { class: 'full-view', 'aria-label': alt },
    h('button', { type: 'button', class: 'close', onclick: () => dialog.close() }, t('common.close')),
    h('img', { src: url, alt }));
  dialog.addEventListener('close', () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
}
