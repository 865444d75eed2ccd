// Photos of a watch by side: one editor per side with upload progress, for a moderator's
// live watch and for a member's draft, and the thumbnail of a photo (a draft's photos
// are private, so their bytes come with the token as a blob: URL).

import { h, fill, localUrl } from './dom.js';
import { t } from './i18n.js';
import { api, upload, privateFileUrl } from './api.js';
import { errorText, confirmDialog, progressBar } from './ui.js';
import { sideName } from './pages/watch.js';

export const SIDES = ['main', 'left', 'right', 'bottom'];

/** A live watch's photos (`{main: {…}, left: null, …}`) as a list by side. */
export function imagesOf(watch) {
  return SIDES.filter((side) => watch.images && watch.images[side]).map((side) => ({ side, ...watch.images[side] }));
}

/** A list of photos (`[{side, …}]`) as an object by side. */
export function bySide(images) {
  return Object.fromEntries((images || []).map((image) => [image.side, image]));
}

/** The 256 px thumbnail of a photo, shown at `size`. */
export function photoThumb(image, alt, size, { isPrivate = false } = {}) {
  const attrs = { alt, width: size, height: size, class: 'photo-thumb' };
  const source = localUrl(image.url, '256x256');
  if (!isPrivate) return h('img', { src: source, ...attrs });
  const img = h('img', attrs);
  privateFileUrl(source)
    .then((url) => { img.src = url; })
    .catch(() => { img.alt = `${alt} (${t('chat.image_unavailable')})`; });
  return img;
}

/**
 * A section with an editor per side. `endpoints` names the PUT and DELETE calls and
 * `params` their ids (the side is added); `readOnly` shows the photos only.
 */
export function photosSection({ title, images, endpoints, params, isPrivate = false, readOnly = false, hint = null }) {
  const photos = bySide(images);
  return h('section', { class: 'panel' }, h('h2', {}, title),
    hint ? h('p', { class: 'muted' }, hint) : null,
    h('ul', { class: 'side-editors' }, SIDES.map((side) => sideEditor({ side, image: photos[side] || null, endpoints, params, isPrivate, readOnly }))));
}

function sideEditor({ side, image: initial, endpoints, params, isPrivate, readOnly }) {
  let image = initial;
  const preview = h('div', { class: 'side-preview' });
  const status = h('p', { role: 'status', class: 'status-line' });
  function draw() {
    fill(preview, image
      ? photoThumb(image, sideName(side), 128, { isPrivate })
      : h('div', { class: 'no-photo', role: 'img', 'aria-label': t('editor.no_photo') }));
  }
  draw();
  if (readOnly) return h('li', { class: 'side-editor' }, h('h3', {}, sideName(side)), preview);

  const progress = progressBar(t('editor.photo_progress', { side: sideName(side) }));
  progress.element.hidden = true;
  const inputId = `photo-${side}`;
  const input = h('input', { id: inputId, type: 'file', accept: 'image/jpeg,image/png,image/webp' });
  const remove = h('button', { type: 'button', class: 'danger small' }, t('editor.photo_delete'));
  const redraw = () => {
    draw();
    remove.hidden = !image;
  };
  input.addEventListener('change', async () => {
    const file = input.files[0];
    if (!file) return;
    progress.element.hidden = false;
    progress.set(0);
    status.textContent = '';
    try {
      image = await upload(endpoints.put, { params: { ...params, side }, file, raw: true, onProgress: progress.set });
      progress.set(1);
      status.textContent = t('editor.photo_saved');
      redraw();
    } catch (error) {
      status.textContent = errorText(error);
    } finally {
      input.value = '';
    }
  });
  remove.addEventListener('click', async () => {
    if (!(await confirmDialog(t('editor.photo_delete_confirm', { side: sideName(side) }), t('common.delete')))) return;
    try {
      await api(endpoints.remove, { params: { ...params, side } });
      image = null;
      status.textContent = t('editor.photo_deleted');
      redraw();
      input.focus();
    } catch (error) {
      status.textContent = errorText(error);
    }
  });
  redraw();
  return h('li', { class: 'side-editor' },
    h('h3', {}, sideName(side)), preview,
    h('label', { for: inputId }, t('editor.photo_upload')), input,
    progress.element, remove, status);
}
