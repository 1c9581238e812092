// What every page shares: API calls with the CSRF header, building elements (text is
// always a text node: nothing from a user or a file is parsed as HTML), dates in the
// viewer's time zone, toasts, and the live-updates socket behind the indicator in the
// navigation bar.

export async function api(method, path, body, extraHeaders) {
  const options = { method, headers: { 'X-Requested-With': 'dango-ui', ...(extraHeaders || {}) }, credentials: 'same-origin' };
  if (body !== undefined) {
    options.headers['Content-Type'] = 'application/json';
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  if (response.status === 401 && !path.startsWith('/api/auth/')) {
    location.href = '/login?next=' + encodeURIComponent(location.pathname + location.search);
  }
  let data = null;
  try { data = await response.json(); } catch (_) { /* empty body */ }
  if (!response.ok) throw apiError(response, data);
  return data;
}

/// An Error carrying the API's status, `detail` and structured body.
export function apiError(response, data) {
  const detail = (data && data.detail) || response.statusText || 'Request failed';
  const issues = data && Array.isArray(data.issues) ? '\n' + data.issues.join('\n') : '';
  const error = new Error(detail + issues);
  error.status = response.status;
  error.data = data;
  // Seconds until trying again can succeed (a lockout or a rate limit), if the server said.
  const wait = Number((response.headers && response.headers.get('Retry-After')) || (data && data.remaining_seconds));
  if (wait > 0) error.retryAfter = wait;
  return error;
}

export function el(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

const SVG_NS = 'http://www.w3.org/2000/svg';

export function svg(tag, attrs, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

function build(node, attrs, children) {
  setAttributes(node, attrs);
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/// A WAI-ARIA tab list: click or arrow keys select a tab (roving tabindex); `onSelect`
/// gets the chosen tab.
export function tabList(tabs, onSelect) {
  const select = (tab) => {
    for (const t of tabs) {
      const on = t === tab;
      t.setAttribute('aria-selected', String(on));
      t.tabIndex = on ? 0 : -1;
    }
    onSelect(tab);
  };
  tabs.forEach((tab, i) => {
    tab.addEventListener('click', () => select(tab));
    tab.addEventListener('keydown', (e) => {
      const step = e.key === 'ArrowRight' ? 1 : e.key === 'ArrowLeft' ? -1 : 0;
      if (!step) return;
      const next = tabs[(i + step + tabs.length) % tabs.length];
      next.focus();
      select(next);
    });
  });
}

function setAttributes(node, attrs) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') node.setAttribute('class', value);
    else if (key.startsWith('on') && typeof value === 'function') node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? '' : String(value));
  }
}

/// A box that scrolls sideways when its content is wider (a table on a phone), reachable
/// and named for the keyboard.
export function scrollBox(label, child) {
  return el('div', { class: 'scroll-x', tabindex: '0', role: 'region', 'aria-label': label }, child);
}

export function showError(id, err) {
  const box = document.getElementById(id);
  if (box) box.textContent = err ? (err.message || String(err)) : '';
}

export function nextPath() {
  const next = new URLSearchParams(location.search).get('next');
  return next && next.startsWith('/') && !next.startsWith('//') && !next.startsWith('/\\') ? next : '/';
}

const numberFormat = new Intl.NumberFormat();
export function formatNumber(n) { return n === null || n === undefined ? '—' : numberFormat.format(n); }

/// A <time> in the viewer's zone, with the UTC instant in its title; `seconds` shows
/// them too (logs, where many lines share a minute).
export function timeEl(iso, { seconds = false } = {}) {
  if (!iso) return el('span', { class: 'muted' }, 'never');
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return el('span', {}, iso);
  return el('time', { datetime: date.toISOString(), title: date.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC') },
    date.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: seconds ? 'medium' : 'short' }));
}

export function toast(message, kind = 'info') {
  const box = document.getElementById('toasts');
  if (!box) return;
  const item = el('div', { class: 'toast ' + kind, role: kind === 'error' ? 'alert' : 'status' }, message);
  box.append(item);
  setTimeout(() => item.remove(), 6000);
}

// Live platform events: one socket per page, re-opened with backoff; pages subscribe.
const listeners = new Set();
export function onEvent(listener) { listeners.add(listener); return () => listeners.delete(listener); }

const TOASTED = {
  sync_completed: (e) => [`${e.source}: sync completed (${formatNumber(e.rows)} rows)`, 'ok'],
  sync_failed: (e) => [`${e.source}: sync failed — ${e.error}`, 'error'],
  dbt_run_failed: (e) => [`${e.model}: build failed — ${e.error}`, 'error'],
  dbt_test_failed: (e) => [`${e.model}: test failed — ${e.error}`, 'error'],
  csv_uploaded: (e) => [`${e.source}: ${e.file} uploaded`, 'info'],
  script_finished: (e) => [`${e.script}: ${e.status === 'success' ? 'finished' : e.message}`, e.status === 'success' ? 'ok' : 'error'],
};

function setLive(state, label) {
  const live = document.getElementById('live');
  if (!live) return;
  live.dataset.state = state;
  live.title = label;
  const text = document.getElementById('live-label');
  if (text) text.textContent = label;
}

function connect(attempt = 0) {
  if (!document.getElementById('live')) return;
  const socket = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws');
  socket.addEventListener('open', () => setLive('open', 'Live updates: connected'));
  socket.addEventListener('message', (message) => {
    let event;
    try { event = JSON.parse(message.data); } catch (_) { return; }
    const toasted = TOASTED[event.type];
    if (toasted) toast(...toasted(event));
    for (const listener of listeners) {
      try { listener(event); } catch (err) { console.error(err); }
    }
  });
  socket.addEventListener('close', () => {
    setLive('closed', 'Live updates: disconnected, reconnecting…');
    setTimeout(() => connect(attempt + 1), Math.min(30000, 1000 * 2 ** attempt));
  });
}

function setUpLayout() {
  const signOut = document.getElementById('sign-out');
  if (signOut) {
    signOut.addEventListener('click', async () => {
      try { await api('POST', '/api/auth/logout'); } catch (_) { /* signed out already */ }
      location.href = '/login';
    });
  }
  connect();
}

setUpLayout();

/// Whether the signed-in user holds `permission` (the layout lists them on <body>);
/// pages leave out controls for the others, and the API refuses them anyway.
export function can(permission) {
  return (document.body.dataset.perms || '').split(' ').includes(permission);
}
