// The overview: what is loaded and how fresh (live while syncs run), platform health and
// its top issues, and the latest activity as it happens.
import { api, can, el, formatNumber, onEvent, showError, timeEl } from '/static/app.js';
import { freshnessText, showSyncingCount, settling, statusBadge, syncProgress, trackSyncs } from '/static/source-status.js';

const sourceList = document.getElementById('source-list');
const syncingCount = document.getElementById('syncing-count');
const initialSync = document.getElementById('initial-sync');
const feed = document.getElementById('activity');
let sources = [];
let running = new Map();
/// Whether the deployment's first sync is going (it then owns the banner).
let firstSyncGoing = false;

function stat(label, value, href, note) {
  const body = [el('div', { class: 'muted' }, label), el('div', { class: 'stat' }, value), note ? el('div', { class: 'muted small' }, note) : null];
  return href ? el('a', { class: 'card stat-card link-card', href }, body) : el('div', { class: 'card stat-card' }, body);
}

async function loadSources() {
  if (!can('source.view')) { sourceList.replaceChildren(el('p', { class: 'muted' }, 'Your role does not include sources.')); return; }
  try {
    sources = await api('GET', '/api/sources');
    drawSources();
    if (settling(sources, running)) setTimeout(loadSources, 1000);
  } catch (err) {
    sourceList.replaceChildren(el('p', { class: 'error', role: 'alert' }, err.message));
  }
}

function drawSources() {
  showSyncingCount(syncingCount, running);
  const enabled = sources.filter((s) => s.enabled);
  const never = enabled.filter((s) => s.status === 'not_synced');
  // First load of a project: say how far it is, until every source has synced once (the
  // deployment's first sync, when one is going, says it better: see firstSync).
  if (firstSyncGoing) return drawSourceList();
  if (never.length && running.size) {
    initialSync.hidden = false;
    initialSync.textContent = `Loading your data: ${enabled.length - never.length} of ${enabled.length} sources synced so far.`;
  } else initialSync.hidden = true;
  drawSourceList();
}

// The first sync of a deployment: which source it is on, with skip and cancel for admins.
async function firstSync() {
  let progress;
  try {
    progress = await api('GET', '/api/initial-sync/status');
  } catch (_) { return; }
  firstSyncGoing = progress.phase === 'syncing' || progress.phase === 'building';
  if (!firstSyncGoing) { drawSources(); return; }
  const what = progress.phase === 'building'
    ? 'building the models'
    : `syncing ${progress.current_source_name || '…'} (${progress.current_source_index} of ${progress.total_sources})`;
  const done = progress.completed_sources.length;
  const failed = progress.failed_sources.length;
  const act = (path, label) => el('button', { type: 'button', class: 'small secondary', onclick: async (e) => {
    e.target.disabled = true;
    try { await api('POST', path); } catch (err) { showError('health', err); }
    firstSync();
  } }, label);
  initialSync.hidden = false;
  initialSync.replaceChildren(
    el('span', {}, `First sync: ${what}. ${done} loaded`, failed ? `, ${failed} failed` : '', '.'),
    ' ',
    can('platform.manage') && progress.phase === 'syncing' && !progress.skip_current_requested ? act('/api/initial-sync/skip-source', 'Skip this source') : null,
    ' ',
    can('platform.manage') && !progress.cancel_requested ? act('/api/initial-sync/cancel', 'Cancel') : null);
  setTimeout(firstSync, 1500);
}

function drawSourceList() {
  if (!sources.length) {
    sourceList.replaceChildren(el('p', { class: 'muted' }, 'No sources yet: add one to .dango/sources.yml.'));
    return;
  }
  sourceList.replaceChildren(el('ul', { class: 'plain source-summary' }, sources.map((s) => {
    const live = running.get(s.name);
    return el('li', { 'data-source': s.name },
      el('span', { class: 'strong' }, s.name),
      statusBadge(live ? 'syncing' : s.status),
      el('span', { class: 'muted small' }, live ? '' : freshnessText(s.freshness)),
      el('span', { class: 'num small' }, formatNumber(s.row_count) + ' rows'),
      live ? syncProgress(s.name, live) : null);
  })));
}

async function loadHealth() {
  const stats = document.getElementById('stats');
  const box = document.getElementById('health');
  if (!can('health.view')) { document.getElementById('health-link').hidden = true; box.replaceChildren(el('p', { class: 'muted' }, 'Your role does not include platform health.')); return; }
  try {
    const health = await api('GET', '/api/health/platform');
    const models = can('dbt.view') ? (await api('GET', '/api/dbt/models')).models.length : null;
    const disabled = health.total_sources - health.enabled_sources;
    stats.replaceChildren(...[
      stat('Sources', formatNumber(health.total_sources), can('source.view') ? '/sources' : null, disabled ? `${disabled} disabled` : null),
      models === null ? null : stat('Models', formatNumber(models), '/models'),
      stat('Tables', formatNumber(health.database.tables), can('governance.view') ? '/catalog' : null),
      stat('Warehouse', health.database.size_mb + ' MB'),
      stat('Free disk', health.disk.free_gb + ' GB'),
    ].filter(Boolean));
    const issues = [...health.critical_issues.map((t) => ['critical', t]), ...health.warnings.map((t) => ['warning', t])];
    box.replaceChildren(el('p', {}, statusBadge(health.status), ' ',
      health.status === 'healthy' ? 'Everything is working.' : `${issues.length} issue${issues.length === 1 ? '' : 's'} need attention.`));
    if (issues.length) box.append(el('ul', { class: 'plain issues' }, issues.slice(0, 5).map(([kind, text]) => el('li', {}, el('span', { class: 'badge ' + kind }, kind), ' ', text))));
  } catch (err) {
    showError('health', err);
  }
}

let newest = 0;
async function loadActivity() {
  if (!can('logs.view')) { document.getElementById('logs-link').hidden = true; feed.replaceChildren(el('li', { class: 'muted' }, 'Your role does not include the activity log.')); return; }
  try {
    const entries = await api('GET', '/api/logs?limit=12');
    if (!newest) feed.replaceChildren();
    const fresh = entries.filter((e) => e.id > newest).reverse();
    for (const e of fresh) feed.prepend(entry(e, Boolean(newest)));
    while (feed.children.length > 12) feed.lastChild.remove();
    if (entries.length) newest = Math.max(newest, entries[0].id);
    if (!feed.children.length) feed.append(el('li', { class: 'muted' }, 'Nothing has happened yet.'));
  } catch (err) {
    feed.replaceChildren(el('li', { class: 'error', role: 'alert' }, err.message));
  }
}

function entry(e, isNew) {
  return el('li', { class: isNew ? 'new' : null },
    el('span', { class: 'badge ' + e.level }, e.level),
    el('span', { class: 'message' }, e.source ? el('span', { class: 'strong' }, e.source + ': ') : null, e.message),
    el('span', { class: 'muted small' }, timeEl(e.timestamp)));
}

(async () => {
  const me = await api('GET', '/api/auth/me');
  if (me.auth_enabled && !me.authenticated) { location.href = '/login?next=/'; return; }
  await Promise.all([loadSources(), loadHealth(), loadActivity(), firstSync()]);
  running = trackSyncs(sources, drawSources, () => { loadSources(); loadHealth(); });
  drawSources();
  let pending = null;
  onEvent(() => { clearTimeout(pending); pending = setTimeout(loadActivity, 300); });
})().catch((err) => showError('health', err));
