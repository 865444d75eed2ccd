// The API client. Every call the app makes is listed in ENDPOINTS; a test of the server
// checks each (method, path) against /openapi.json, so the app and the API cannot drift.
// The access token lives in this module's memory only; the refresh token is an HttpOnly
// cookie that scripts never see (the API's cookie mode, header X-Refresh-Cookie: 1).

export const ENDPOINTS = {
  register: ['POST', '/auth/register'],
  login: ['POST', '/auth/login'],
  refresh: ['POST', '/auth/refresh'],
  logout: ['POST', '/auth/logout'],
  sessions: ['GET', '/auth/sessions'],
  revokeSession: ['DELETE', '/auth/sessions/{id}'],
  forgotPassword: ['POST', '/auth/password/forgot'],
  oauthProviders: ['GET', '/auth/oauth/providers'],
  oauthStart: ['GET', '/auth/oauth/{provider}/start'],
  resetPassword: ['POST', '/auth/password/reset'],
  me: ['GET', '/users/me'],
  updateMe: ['PATCH', '/users/me'],
  deleteMe: ['DELETE', '/users/me'],
  changePassword: ['PUT', '/users/me/password'],
  user: ['GET', '/users/{id}'],
  userAvatars: ['GET', '/users/{id}/avatars'],
  uploadAvatar: ['POST', '/users/me/avatars'],
  randomAvatar: ['POST', '/users/me/avatars/random'],
  activateAvatar: ['PUT', '/users/me/avatars/{id}/active'],
  deleteAvatar: ['DELETE', '/users/me/avatars/{id}'],
  collection: ['GET', '/users/{id}/collection'],
  addToCollection: ['PUT', '/users/me/collection/{watch_id}'],
  removeFromCollection: ['DELETE', '/users/me/collection/{watch_id}'],
  watches: ['GET', '/watches'],
  watch: ['GET', '/watches/{id}'],
  references: ['GET', '/{reference}'],
  mechanisms: ['GET', '/mechanisms'],
  createReference: ['POST', '/{reference}'],
  renameReference: ['PATCH', '/{reference}/{id}'],
  deleteReference: ['DELETE', '/{reference}/{id}'],
  createWatch: ['POST', '/watches'],
  updateWatch: ['PATCH', '/watches/{id}'],
  deleteWatch: ['DELETE', '/watches/{id}'],
  putWatchPhoto: ['PUT', '/watches/{id}/images/{side}'],
  deleteWatchPhoto: ['DELETE', '/watches/{id}/images/{side}'],
  myDrafts: ['GET', '/drafts'],
  draft: ['GET', '/drafts/{kind}/{id}'],
  createWatchDraft: ['POST', '/drafts/watches'],
  createMechanismDraft: ['POST', '/drafts/mechanisms'],
  updateDraft: ['PATCH', '/drafts/{kind}/{id}'],
  deleteDraft: ['DELETE', '/drafts/{kind}/{id}'],
  submitDraft: ['POST', '/drafts/{kind}/{id}/submit'],
  putDraftPhoto: ['PUT', '/drafts/watches/{id}/images/{side}'],
  deleteDraftPhoto: ['DELETE', '/drafts/watches/{id}/images/{side}'],
  moderationQueue: ['GET', '/moderation/drafts'],
  moderationDraft: ['GET', '/moderation/drafts/{kind}/{id}'],
  approveDraft: ['POST', '/moderation/drafts/{kind}/{id}/approve'],
  rejectDraft: ['POST', '/moderation/drafts/{kind}/{id}/reject'],
  uploadFile: ['POST', '/files'],
  chats: ['GET', '/chats'],
  createChat: ['POST', '/chats'],
  chat: ['GET', '/chats/{id}'],
  renameChat: ['PATCH', '/chats/{id}'],
  deleteChat: ['DELETE', '/chats/{id}'],
  messages: ['GET', '/chats/{id}/messages'],
  sendMessage: ['POST', '/chats/{id}/messages'],
  editMessage: ['PATCH', '/chats/{id}/messages/{seq}'],
  deleteMessage: ['DELETE', '/chats/{id}/messages/{seq}'],
  readChat: ['POST', '/chats/{id}/read'],
  chatMedia: ['GET', '/chats/{id}/media'],
  participants: ['GET', '/chats/{id}/participants'],
  addParticipant: ['POST', '/chats/{id}/participants'],
  removeParticipant: ['DELETE', '/chats/{id}/participants/{user_id}'],
  updateParticipant: ['PATCH', '/chats/{id}/participants/{user_id}'],
  adminUsers: ['GET', '/admin/users'],
  adminUpdateUser: ['PATCH', '/admin/users/{id}'],
};

const PREFIX = '/api/v1';
const COOKIE_MODE = { 'X-Refresh-Cookie': '1' };

/** A problem+json answer (or a failed connection, status 0). */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || 'error');
    this.status = status;
    this.code = problem.code || 'network_error';
    this.detail = problem.detail || '';
    this.fieldErrors = problem.errors || [];
  }
}

let accessToken = null;
let refreshing = null;
const sessionListeners = new Set();
export const session = { user: null };

export function onSessionChange(listener) {
  sessionListeners.add(listener);
}

function setSession(token, user) {
  accessToken = token;
  session.user = user;
  sessionListeners.forEach((listener) => listener(session.user));
}

export function currentToken() {
  return accessToken;
}

function url(name, params, query) {
  const [, path] = ENDPOINTS[name];
  const filled = path.replace(/\{(\w+)\}/g, (_, key) => encodeURIComponent(params[key]));
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== '') search.set(key, value);
  }
  const text = search.toString();
  return PREFIX + filled + (text ? `?${text}` : '');
}

async function send(name, { params = {}, query, body, headers = {} }) {
  const [method] = ENDPOINTS[name];
  const allHeaders = { Accept: 'application/json', ...headers };
  if (accessToken) allHeaders.Authorization = `Bearer ${accessToken}`;
  let payload;
  if (body !== undefined) {
    allHeaders['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  try {
    return await fetch(url(name, params, query), { method, headers: allHeaders, body: payload });
  } catch {
    throw new ApiError(0, { code: 'network_error' });
  }
}

async function parse(response) {
  if (response.status === 204) return null;
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

/** Calls one endpoint; a 401 with an expired access token refreshes it once and retries. */
export async function api(name, options = {}) {
  let response = await send(name, options);
  if (response.status === 401 && accessToken && !name.startsWith('log')) {
    if (await refreshAccess()) response = await send(name, options);
    else window.dispatchEvent(new CustomEvent('vitrine:signed-out'));
  }
  return parse(response);
}

/** A new access token from the refresh cookie; false (and signed out) when there is none. */
export function refreshAccess() {
  if (!refreshing) {
    refreshing = (async () => {
      try {
        const response = await fetch(url('refresh'), {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', ...COOKIE_MODE },
          body: '{}',
        });
        if (!response.ok) {
          setSession(null, null);
          return false;
        }
        const tokens = await response.json();
        accessToken = tokens.access_token;
        return true;
      } catch {
        return false;
      } finally {
        refreshing = null;
      }
    })();
  }
  return refreshing;
}

/** At start: a session from the refresh cookie, if it is still valid. */
export async function restoreSession() {
  if (!(await refreshAccess())) return null;
  try {
    setSession(accessToken, await api('me'));
  } catch {
    setSession(null, null);
  }
  return session.user;
}

export async function signIn(login, password) {
  const response = await send('login', { body: { login, password }, headers: COOKIE_MODE });
  const answer = await parse(response);
  setSession(answer.access_token, answer.user);
  return answer.user;
}

export async function register(fields) {
  const response = await send('register', { body: fields, headers: COOKIE_MODE });
  const answer = await parse(response);
  setSession(answer.access_token, answer.user);
  return answer.user;
}

export async function signOut() {
  try {
    await parse(await send('logout', { headers: COOKIE_MODE }));
  } finally {
    setSession(null, null);
  }
}

/** After a change of one's own account (profile, avatar). */
export function updateSessionUser(user) {
  setSession(accessToken, user);
}

/** Forgets the session without asking the server (the account is gone). */
export function dropSession() {
  setSession(null, null);
}

/** An upload of one file (multipart, or `raw` as the body) with progress (0..1) as it goes. */
export function upload(name, { params = {}, file, field = 'file', raw = false, onProgress }) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open(ENDPOINTS[name][0], url(name, params));
    if (accessToken) request.setRequestHeader('Authorization', `Bearer ${accessToken}`);
    request.setRequestHeader('Accept', 'application/json');
    request.upload.addEventListener('progress', (event) => {
      if (event.lengthComputable && onProgress) onProgress(event.loaded / event.total);
    });
    request.addEventListener('load', () => {
      let data = {};
      try {
        data = JSON.parse(request.responseText || '{}');
      } catch {
        // an empty or non-JSON answer
      }
      if (request.status >= 200 && request.status < 300) resolve(data);
      else reject(new ApiError(request.status, data));
    });
    request.addEventListener('error', () => reject(new ApiError(0, { code: 'network_error' })));
    if (raw) {
      // the body is the file itself
      request.setRequestHeader('Content-Type', file.type || 'application/octet-stream');
      request.send(file);
      return;
    }
    const form = new FormData();
    form.append(field, file);
    request.send(form);
  });
}

/** A private file (a chat's attachment, a draft's photo) as a blob: URL: <img> cannot send the token. */
export async function privateFileUrl(path) {
  const get = () => fetch(path, { headers: accessToken ? { Authorization: `Bearer ${accessToken}` } : {} });
  let response = await get();
  if (response.status === 401 && (await refreshAccess())) response = await get();
  if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => ({})));
  return URL.createObjectURL(await response.blob());
}

/** Every page of a cursor-paginated list. */
export async function allPages(name, options = {}) {
  const items = [];
  let cursor;
  do {
    const page = await api(name, { ...options, query: { ...options.query, limit: 100, cursor } });
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor);
  return items;
}
