// Changing a message in a conversation: its sender edits or deletes it, a group's owner
// and admins delete anyone's. The others see the change live from the chat's events.
// Everything is a button or a form field, so it all works from the keyboard: Enter saves
// an edit, Escape cancels it, and the focus comes back to the message.

import { h } from '../dom.js';
import { t } from '../i18n.js';
import { api } from '../api.js';
import { confirmDialog, errorText } from '../ui.js';

export function mayEdit(message, me) {
  return !message.deleted && message.sender_id === me && Boolean(message.text);
}

export function mayDelete(message, me, chat) {
  if (message.deleted) return false;
  return message.sender_id === me || (chat.type === 'group' && (chat.role === 'owner' || chat.role === 'admin'));
}

/** A message as the others will see it once deleted, shown before the event comes back. */
function deletedCopy(message) {
  return { ...message, deleted: true, text: '', attachments: [] };
}

/**
 * The buttons of one message, or null when the member may do nothing with it.
 * `show(message, seq)` redraws message `seq` (as `message`, or as last received when
 * null) and returns its new item; `editing(seq)` tells
 * the conversation which message is being edited (null when none), so that a live
 * update does not throw the member's typing away.
 */
export function messageActions({ message, chat, me, show, editing, focusAfterDelete }) {
  const canEdit = mayEdit(message, me);
  const canDelete = mayDelete(message, me, chat);
  if (!canEdit && !canDelete) return null;
  const errorLine = h('span', { class: 'message-error', role: 'alert' });
  const buttons = h('span', { class: 'message-actions' });

  if (canEdit) {
    buttons.append(h('button', { type: 'button', class: 'link-button', 'data-action': 'edit', 'aria-label': t('chat.edit_message_label'), onclick: (event) => openEditor(event.currentTarget.closest('li.message')) }, t('chat.edit_message')));
  }
  if (canDelete) {
    buttons.append(h('button', { type: 'button', class: 'link-button danger-text', 'data-action': 'delete', 'aria-label': t('chat.delete_message_label'), onclick: remove }, t('chat.delete_message')));
  }

  function focusAction(item, action) {
    const button = item && item.querySelector(`button[data-action="${action}"]`);
    if (button) button.focus();
  }

  function openEditor(item) {
    const textElement = item.querySelector('.text');
    if (!textElement) return;
    const field = h('textarea', { class: 'edit-text', rows: 2, maxlength: 4000, 'aria-label': t('chat.edit_text') });
    field.value = message.text;
    const save = h('button', { type: 'submit', class: 'small' }, t('common.save'));
    const cancel = h('button', { type: 'button', class: 'secondary small' }, t('common.cancel'));
    const form = h('form', { class: 'edit-message', novalidate: true }, field, h('span', { class: 'actions' }, save, cancel));
    textElement.replaceWith(form);
    buttons.hidden = true;
    errorLine.textContent = '';
    editing(message.seq);
    field.focus();
    field.setSelectionRange(field.value.length, field.value.length);

    const close = (updated) => {
      editing(null);
      focusAction(show(updated, message.seq), 'edit');
    };
    cancel.addEventListener('click', () => close(null));
    field.addEventListener('keydown', (event) => {
      if (event.key === 'Escape') {
        event.preventDefault();
        close(null);
      } else if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        form.requestSubmit();
      }
    });
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const text = field.value.trim();
      if (!text) {
        errorLine.textContent = t('chat.edit_empty');
        return;
      }
      if (text === message.text) {
        close(null);
        return;
      }
      save.disabled = true;
      try {
        close(await api('editMessage', { params: { id: chat.id, seq: message.seq }, body: { text } }));
      } catch (error) {
        errorLine.textContent = errorText(error);
        save.disabled = false;
      }
    });
  }

  async function remove() {
    if (!(await confirmDialog(t('chat.delete_message_confirm'), t('common.delete')))) return;
    try {
      await api('deleteMessage', { params: { id: chat.id, seq: message.seq } });
      show(deletedCopy(message), message.seq);
      focusAfterDelete();
    } catch (error) {
      errorLine.textContent = errorText(error);
    }
  }

  return h('span', { class: 'message-tools' }, buttons, errorLine);
}
