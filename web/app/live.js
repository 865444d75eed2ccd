// The live socket (/api/v1/ws): one per signed-in page, resumed from the last sequence
// number of every chat after any disconnect, so nothing is missed and nothing repeats.

import { currentToken, refreshAccess, onSessionChange } from './api.js';

const listeners = new Set();
const lastSeq = new Map();
let socket = null;
let wanted = false;
let retryDelay = 500;
let retryTimer = null;
let online = false;

/** Receives every server message, events deduplicated; returns an unsubscribe. */
export function subscribe(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function isOnline() {
  return online;
}

/** The position a chat's history was loaded to: events after it come live. */
export function knowSeq(chatId, seq) {
  if (!lastSeq.has(chatId) || lastSeq.get(chatId) < seq) lastSeq.set(chatId, seq);
}

export function send(message) {
  if (socket && socket.readyState === WebSocket.OPEN && online) {
    socket.send(JSON.stringify(message));
    return true;
  }
  return false;
}

export function start() {
  wanted = true;
  if (!socket) connect();
}

export function stop() {
  wanted = false;
  clearTimeout(retryTimer);
  if (socket) socket.close(1000);
  socket = null;
  lastSeq.clear();
  setOnline(false);
}

onSessionChange((user) => {
  if (!user) stop();
});

function emit(message) {
  listeners.forEach((listener) => listener(message));
}

function setOnline(value) {
  if (online === value) return;
  online = value;
  emit({ type: value ? 'connected' : 'disconnected' });
}

function connect() {
  const token = currentToken();
  if (!token) return;
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const ws = new WebSocket(`${scheme}://${location.host}/api/v1/ws`);
  socket = ws;
  ws.addEventListener('open', () => {
    ws.send(JSON.stringify({ type: 'auth', token, resume: Object.fromEntries(lastSeq) }));
  });
  ws.addEventListener('message', (frame) => {
    let message;
    try {
      message = JSON.parse(frame.data);
    } catch {
      return;
    }
    if (message.type === 'ready') {
      retryDelay = 500;
      setOnline(true);
      return;
    }
    if (message.type === 'event') {
      const known = lastSeq.get(message.chat_id);
      if (known !== undefined && message.seq <= known) return; // seen already
      lastSeq.set(message.chat_id, message.seq);
      send({ type: 'ack', chat_id: message.chat_id, seq: message.seq });
    }
    if (message.type === 'resync_required') lastSeq.set(message.chat_id, message.last_seq);
    emit(message);
  });
  ws.addEventListener('close', async (event) => {
    if (socket === ws) socket = null;
    setOnline(false);
    if (!wanted) return;
    // an expired token or a revoked session: a refresh tells which
    if ([4001, 4401, 4403].includes(event.code) && !(await refreshAccess())) {
      wanted = false;
      return;
    }
    clearTimeout(retryTimer);
    retryTimer = setTimeout(() => {
      if (wanted && !socket) connect();
    }, retryDelay);
    retryDelay = Math.min(retryDelay * 2, 5000);
  });
}

/** For tests and for the page going back online: reconnect now. */
window.addEventListener('online', () => {
  if (wanted && !socket) connect();
});
