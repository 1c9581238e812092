// The activity log: filters (category, level, source, time range, text), pages of 50
// newest first, and the filters in the address so a view can be shared and reloaded. On
// the first page, every live event fetches the entries newer than the newest shown and
// adds them at the top, briefly highlighted.
import { api, el, formatNumber, onEvent, timeEl } from '/static/app.js';

const PAGE = 50;
const RANGES = { '1h': 3600e3, '24h': 86400e3, '7d': 7 * 86400e3, '30d': 30 * 86400e3 };
const ALLOWED = { category: ['core', 'auxiliary'], level: ['info', 'success', 'warning', 'error'], range: Object.keys(RANGES) };
const FIELDS = ['category', 'level', 'source', 'range', 'q'];

const form = document.getElementById('log-filters');
const controls = Object.fromEntries(FIELDS.map((f) => [f, document.getElementById('f-' + f)]));
const rowsBox = document.getElementById('log-rows');
const scroller = document.getElementById('logs-scroll');
const empty = document.getElementById('logs-empty');
const statusBox = document.getElementById('logs-status');
const errorBox = document.getElementById('logs-error');
const root = document.getElementById('logs-root');
const newer = document.getElementById('newer');
const older = document.getElementById('older');

let filters = { category: '', level: '', source: '', range: '', q: '' };
let offset = 0;
let entries = [];      // the rows shown, newest first
let hasOlder = false;
let generation = 0;    // bumped by every full load; live answers for an older one are dropped
let loading = false;
let failed = false;     // the last load was refused: live events do not retry it

// ---- the address
function readUrl() {
  const params = new URLSearchParams(location.search);
  for (const field of FIELDS) {
    let value = (params.get(field) || '').trim();
    if (ALLOWED[field] && !ALLOWED[field].includes(value)) value = '';
    filters[field] = value;
  }
  const o = Number.parseInt(params.get('offset') || '0', 10);
  offset = Number.isFinite(o) && o > 0 ? o : 0;
}

function writeUrl() {
  const params = new URLSearchParams();
  for (const field of FIELDS) if (filters[field]) params.set(field, filters[field]);
  if (offset) params.set('offset', String(offset));
  const qs = params.toString();
  history.replaceState(null, '', location.pathname + (qs ? '?' + qs : ''));
}

function showFilters() {
  for (const field of FIELDS) {
    const control = controls[field];
    if (field === 'source' && filters.source && ![...control.options].some((o) => o.value === filters.source)) {
      control.append(el('option', { value: filters.source }, filters.source));
    }
    control.value = filters[field];
  }
}

function query(extra) {
  const params = new URLSearchParams();
  for (const field of ['category', 'level', 'source', 'q']) if (filters[field]) params.set(field, filters[field]);
  if (filters.range) params.set('since', new Date(Date.now() - RANGES[filters.range]).toISOString());
  for (const [key, value] of Object.entries(extra)) params.set(key, String(value));
  return '/api/logs?' + params;
}

// ---- rows
function row(entry, fresh) {
  return el('tr', { 'data-id': entry.id, 'data-level': entry.level, class: fresh ? 'fresh' : null },
    el('td', { class: 'log-time' }, timeEl(entry.timestamp, { seconds: true })),
    el('td', { class: 'log-level' }, el('span', { class: 'badge ' + entry.level }, entry.level)),
    el('td', { class: 'log-source' }, entry.source || el('span', { class: 'muted', title: 'Not about one source' }, '—')),
    el('td', { class: 'log-message' }, entry.message,
      entry.category === 'auxiliary' ? [' ', el('span', { class: 'badge' }, 'auxiliary')] : null));
}

function showCount(added) {
  if (!entries.length) {
    statusBox.textContent = offset ? 'No entries on this page.' : 'No entries.';
    return;
  }
  const first = formatNumber(offset + 1), last = formatNumber(offset + entries.length);
  statusBox.textContent = `Showing ${first}–${last}` + (added ? ` · ${formatNumber(added)} new ${added === 1 ? 'entry' : 'entries'}` : '');
}

function showPager() {
  newer.disabled = loading || offset === 0;
  older.disabled = loading || !hasOlder;
}

function draw() {
  rowsBox.replaceChildren(...entries.map((e) => row(e, false)));
  const none = entries.length === 0;
  scroller.hidden = none;
  empty.hidden = !none;
  showCount(0);
  showPager();
}

// ---- loading a page
async function load() {
  const mine = ++generation;
  loading = true;
  showPager();
  root.setAttribute('aria-busy', 'true');
  statusBox.textContent = 'Loading…';
  try {
    const answer = await api('GET', query({ limit: PAGE + 1, offset }));
    if (mine !== generation) return;
    hasOlder = answer.length > PAGE;
    entries = answer.slice(0, PAGE);
    errorBox.textContent = '';
    failed = false;
    loading = false;
    draw();
  } catch (err) {
    if (mine !== generation) return;
    loading = false;
    failed = true;
    entries = [];
    hasOlder = false;
    draw();
    statusBox.textContent = '';
    empty.hidden = true;
    errorBox.textContent = 'The activity log could not be loaded: ' + err.message;
  } finally {
    if (mine === generation) {
      loading = false;
      showPager();
      root.removeAttribute('aria-busy');
    }
  }
}

function apply() {
  const next = {};
  for (const field of FIELDS) next[field] = controls[field].value.trim();
  if (FIELDS.every((f) => next[f] === filters[f]) && offset === 0) return;
  filters = next;
  offset = 0;
  writeUrl();
  load();
}

// ---- live additions
let liveBusy = false, liveAgain = false;
async function fetchNewer() {
  if (offset !== 0 || loading || failed) return;
  if (!entries.length) { load(); return; }
  if (liveBusy) { liveAgain = true; return; }
  liveBusy = true;
  const mine = generation;
  try {
    const answer = await api('GET', query({ since: entries[0].timestamp, limit: 1000 }));
    if (mine !== generation || offset !== 0) return;
    const known = new Set(entries.map((e) => e.id));
    const fresh = answer.filter((e) => !known.has(e.id));
    if (!fresh.length) return;
    entries = [...fresh, ...entries];
    if (entries.length > PAGE) { entries = entries.slice(0, PAGE); hasOlder = true; }
    rowsBox.prepend(...fresh.map((e) => row(e, true)));
    while (rowsBox.children.length > PAGE) rowsBox.lastElementChild.remove();
    scroller.hidden = false;
    empty.hidden = true;
    showCount(fresh.length);
    showPager();
    setTimeout(() => rowsBox.querySelectorAll('tr.fresh').forEach((tr) => {
      if (fresh.some((e) => String(e.id) === tr.dataset.id)) tr.classList.remove('fresh');
    }), 4000);
  } catch (_) {
    // A failed live refresh is not worth an alert: the next event or a reload tries again.
  } finally {
    liveBusy = false;
    if (liveAgain) { liveAgain = false; fetchNewer(); }
  }
}

// Several events come in bursts (progress, completion, the dbt build after it), and a
// line can be written just after its event: fetch shortly after each, and once more
// when the burst is over.
let soon = null, settled = null;
onEvent(() => {
  clearTimeout(soon);
  clearTimeout(settled);
  soon = setTimeout(fetchNewer, 300);
  settled = setTimeout(fetchNewer, 2500);
});

// ---- controls
let typing = null;
controls.q.addEventListener('input', () => {
  clearTimeout(typing);
  typing = setTimeout(apply, 300);
});
for (const field of ['category', 'level', 'source', 'range']) controls[field].addEventListener('change', apply);
form.addEventListener('submit', (e) => { e.preventDefault(); clearTimeout(typing); apply(); });
document.getElementById('f-clear').addEventListener('click', () => {
  clearTimeout(typing);
  for (const field of FIELDS) controls[field].value = '';
  apply();
});

function page(to, button) {
  offset = Math.max(0, to);
  writeUrl();
  load().then(() => {
    const target = !button.disabled ? button : [newer, older].find((b) => !b.disabled);
    if (target) target.focus();
  });
}
newer.addEventListener('click', () => page(offset - PAGE, newer));
older.addEventListener('click', () => page(offset + PAGE, older));

async function loadSources() {
  try {
    const sources = await api('GET', '/api/sources');
    const select = controls.source;
    const names = sources.map((s) => s.name).sort();
    if (filters.source && !names.includes(filters.source)) names.push(filters.source);
    select.replaceChildren(el('option', { value: '' }, 'All sources'), ...names.map((n) => el('option', { value: n }, n)));
    select.value = filters.source;
  } catch (_) {
    // Without the list the select still offers "All sources" and the one in the address.
  }
}

readUrl();
showFilters();
loadSources();
load();
