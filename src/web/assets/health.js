// The health page: one banner with the platform's overall status, then cards for the
// warehouse, the disk, the syncs the activity log recorded in the last 24 hours, the
// last dbt run's failures and the services, and the list of current issues. It checks
// again every 30 seconds (while the tab is visible), after syncs and dbt runs, and on
// "Refresh".
import { api, can, el, formatNumber, onEvent, showError, timeEl } from '/static/app.js';

const REFRESH_MS = 30000;
const DAY_MS = 24 * 60 * 60 * 1000;
const refreshButton = document.getElementById('refresh');
const updated = document.getElementById('updated');
const banner = document.getElementById('health-banner');
const grid = document.getElementById('health-root');

const BANNER = {
  healthy: ['✓', 'Healthy', 'Every check passes.'],
  warning: ['!', 'Warning', 'Something needs attention; see the issues below.'],
  critical: ['✕', 'Critical', 'Something is failing; see the issues below.'],
};

// The badge class for a state word the API uses (the badge always shows the word too).
const BADGE = {
  healthy: 'healthy', running: 'healthy', new: '', large: 'warning', warning: 'warning', busy: 'warning',
  critical: 'critical', error: 'error', unknown: '', not_generated: '', not_configured: '',
};
function badge(state, text) {
  return el('span', { class: 'badge ' + (BADGE[state] ?? '') }, text || state.replace(/_/g, ' '));
}

function fact(term, ...value) { return el('div', {}, el('dt', {}, term), el('dd', {}, ...value)); }

let running = false;
async function refresh() {
  if (running) return;
  running = true;
  refreshButton.disabled = true;
  grid.setAttribute('aria-busy', 'true');
  const since = new Date(Date.now() - DAY_MS).toISOString();
  try {
    // The three answers are independent; a missing one only blanks its own card.
    const [health, status, syncs] = await Promise.allSettled([
      api('GET', '/api/health/platform'),
      api('GET', '/api/status'),
      syncCounts(since),
    ]);
    if (health.status === 'rejected') throw health.reason;
    const h = health.value;
    drawBanner(h);
    drawDatabase(h.database);
    drawDisk(h.disk);
    drawSyncs(h, syncs, since);
    drawDbt(h.dbt_failures);
    drawServices(status);
    drawIssues(h);
    updated.replaceChildren('Updated ', timeEl(h.timestamp));
    showError('health-error', null);
  } catch (err) {
    showError('health-error', new Error('The health check could not be loaded: ' + err.message));
  } finally {
    running = false;
    refreshButton.disabled = false;
    grid.removeAttribute('aria-busy');
  }
}

/// Entries in the activity log since `since`: each source's sync writes one "Sync
/// completed" (success) or "Sync failed" (error) line.
async function syncCounts(since) {
  const count = async (level, text) => {
    const query = new URLSearchParams({ since, level, q: text, limit: '1000' });
    const rows = await api('GET', '/api/logs?' + query);
    return { count: rows.filter((r) => r.message.startsWith(text)).length, capped: rows.length >= 1000 };
  };
  const [completed, failed] = await Promise.all([count('success', 'Sync completed'), count('error', 'Sync failed')]);
  return { completed, failed };
}

function drawBanner(h) {
  const [icon, word, detail] = BANNER[h.status] || ['?', h.status, ''];
  const issues = h.critical_issues.length + h.warnings.length;
  const text = issues && h.status !== 'healthy'
    ? `${word}: ${issues} ${issues === 1 ? 'issue' : 'issues'}. ${detail}`
    : `${word}: ${detail}`;
  // Only touch the live region when what it says changes, so a refresh is not re-announced.
  if (banner.dataset.text === text) return;
  banner.dataset.text = text;
  banner.className = 'health-banner ' + h.status;
  banner.replaceChildren(el('span', { class: 'health-icon', 'aria-hidden': 'true' }, icon), el('span', { class: 'health-text' }, text));
}

function size(db) {
  if (db.size_mb >= 1024) return `${db.size_gb.toFixed(2)} GB`;
  return `${db.size_mb.toFixed(db.size_mb < 10 ? 2 : 1)} MB`;
}

function drawDatabase(db) {
  document.getElementById('db-body').replaceChildren(
    el('p', { class: 'health-stat' }, el('span', { class: 'stat', id: 'db-tables' }, formatNumber(db.tables)),
      ` ${db.tables === 1 ? 'table' : 'tables'} `, badge(db.status, db.status === 'new' ? 'no data yet' : db.status)),
    el('dl', { class: 'facts' },
      fact('Size', size(db)),
      fact('Raw', formatNumber(db.raw_tables)),
      fact('Staging', formatNumber(db.staging_tables)),
      fact('Intermediate', formatNumber(db.intermediate_tables)),
      fact('Marts', formatNumber(db.marts_tables))));
}

function drawDisk(disk) {
  const body = document.getElementById('disk-body');
  if (disk.status === 'unknown') {
    body.replaceChildren(el('p', {}, badge('unknown'), ' '), el('p', { class: 'muted' }, 'The free space on this disk could not be read.'));
    return;
  }
  const pct = Math.max(0, Math.min(100, disk.used_pct));
  body.replaceChildren(
    el('p', { class: 'health-stat' }, el('span', { class: 'stat' }, `${Math.round(pct)}%`), ' used ', badge(disk.status)),
    el('meter', { class: 'usage', min: '0', max: '100', low: '80', high: '90', optimum: '0', value: pct.toFixed(1), 'aria-label': 'Disk space used' },
      `${pct.toFixed(1)}%`),
    el('dl', { class: 'facts' },
      fact('Used', `${disk.used_gb.toFixed(1)} GB`),
      fact('Free', `${disk.free_gb.toFixed(1)} GB`),
      fact('Total', `${disk.total_gb.toFixed(1)} GB`)));
}

function drawSyncs(h, syncs, since) {
  const body = document.getElementById('sync-body');
  const parts = [];
  if (syncs.status === 'fulfilled') {
    const { completed, failed } = syncs.value;
    const shown = (c) => formatNumber(c.count) + (c.capped ? '+' : '');
    parts.push(
      el('dl', { class: 'facts' },
        fact('Completed', el('span', { class: 'stat' }, shown(completed))),
        fact('Failed', el('span', { class: 'stat' + (failed.count ? ' health-failed' : '') }, shown(failed)))),
      el('p', { class: 'muted small' }, 'Counted from the “Sync completed” and “Sync failed” lines of the activity log since ', timeEl(since), '.',
        can('logs.view') ? [' ', el('a', { href: '/logs?range=24h&q=sync' }, 'See them in the activity log')] : null));
  } else {
    parts.push(el('p', { class: 'muted' }, 'The activity log could not be read: ' + syncs.reason.message));
  }
  parts.push(el('p', {}, `${formatNumber(h.enabled_sources)} of ${formatNumber(h.total_sources)} ${h.total_sources === 1 ? 'source' : 'sources'} enabled.`));
  if (h.sync_failures.length) {
    parts.push(el('h3', { class: 'health-sub' }, 'Latest sync failed'),
      el('ul', { class: 'plain' }, h.sync_failures.map((f) => el('li', {}, el('strong', {}, f.source), ' ', el('span', { class: 'muted small health-wrap' }, f.last_error)))));
  } else {
    parts.push(el('p', { class: 'muted small' }, 'No source’s latest sync failed in the last 24 hours.'));
  }
  body.replaceChildren(...parts);
}

function drawDbt(failures) {
  const body = document.getElementById('dbt-body');
  const link = can('dbt.view') ? el('p', { class: 'small' }, el('a', { href: '/models' }, 'Open the models')) : null;
  if (!failures.length) {
    body.replaceChildren(el('p', {}, badge('healthy', 'no failures')), el('p', { class: 'muted' }, 'No model failed in the last dbt run.'), link);
    return;
  }
  body.replaceChildren(...failures.map((f) => el('div', { class: 'health-run' },
    el('p', {}, badge('critical', `${formatNumber(f.failed_models)} failed`), ' in the run of ', f.run_time ? timeEl(f.run_time) : el('span', { class: 'muted' }, 'an unknown time')),
    el('ul', { class: 'plain' }, f.models.map((m) => el('li', { class: 'mono small health-wrap' }, m))),
    f.failed_models > f.models.length ? el('p', { class: 'muted small' }, `and ${formatNumber(f.failed_models - f.models.length)} more`) : null)), link);
}

const SERVICES = [
  ['api', 'API server', { running: 'running' }],
  ['duckdb', 'Warehouse (DuckDB)', { healthy: 'healthy', busy: 'busy: an external dbt run holds it' }],
  ['dbt_docs', 'dbt docs', { healthy: 'available', not_generated: 'not generated yet' }],
  ['metabase', 'Metabase', { not_configured: 'not configured' }],
];

function drawServices(status) {
  const body = document.getElementById('services-body');
  if (status.status === 'rejected') {
    body.replaceChildren(el('p', { class: 'muted' }, 'The service status could not be read: ' + status.reason.message));
    return;
  }
  const s = status.value;
  body.replaceChildren(
    el('ul', { class: 'plain health-services' }, SERVICES.map(([key, label, words]) => {
      const state = s.services[key] || 'unknown';
      return el('li', {}, el('span', {}, label), badge(state, words[state] || state.replace(/_/g, ' ')));
    })),
    el('p', { class: 'muted small' }, `Dango ${s.dango_version}, up for ${s.uptime}.`));
}

function drawIssues(h) {
  const items = [
    ...h.critical_issues.map((text) => el('li', {}, badge('critical'), ' ', el('span', { class: 'health-wrap' }, text))),
    ...h.warnings.map((text) => el('li', {}, badge('warning'), ' ', el('span', { class: 'health-wrap' }, text))),
    ...h.sync_failures.map((f) => el('li', {}, badge('error', 'sync failed'), ' ', el('strong', {}, f.source), ': ',
      el('span', { class: 'health-wrap' }, f.last_error))),
  ];
  document.getElementById('issues-body').replaceChildren(items.length
    ? el('ul', { class: 'plain health-issues' }, items)
    : el('p', { class: 'muted' }, 'No issues in the last 24 hours.'));
}

refreshButton.addEventListener('click', refresh);
setInterval(() => { if (!document.hidden) refresh(); }, REFRESH_MS);
document.addEventListener('visibilitychange', () => { if (!document.hidden) refresh(); });

// A finished sync or dbt run changes what the page shows: check again shortly after.
let soon = null;
onEvent((event) => {
  if (!['sync_completed', 'sync_failed', 'dbt_run_completed', 'dbt_run_failed', 'dbt_test_failed', 'csv_uploaded', 'csv_deleted'].includes(event.type)) return;
  clearTimeout(soon);
  soon = setTimeout(refresh, 1000);
});

refresh();
