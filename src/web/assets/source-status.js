// What the overview and the sources page share about a source: its status badge, how
// fresh it is, and the syncs running now as the live events tell them.
import { el, onEvent } from '/static/app.js';

const STATUS_LABEL = {
  synced: 'Synced', syncing: 'Syncing', failed: 'Failed', not_synced: 'Not synced', empty: 'Empty',
  partial: 'Partial', stale: 'Stale',
};

/// The badge for `status` (`syncing` while a sync of the source runs).
export function statusBadge(status, title) {
  return el('span', { class: 'badge ' + status, title }, STATUS_LABEL[status] || status);
}

/// "2.5 h ago", "3 days ago", or why there is no age.
export function freshnessText(freshness) {
  if (!freshness || freshness.status === 'never_synced') return 'Never synced';
  if (freshness.status === 'failed') return 'Last sync failed';
  const hours = freshness.hours_since_sync;
  if (hours === null || hours === undefined) return '—';
  if (hours < 1) return Math.max(1, Math.round(hours * 60)) + ' min ago';
  if (hours < 48) return (Math.round(hours * 10) / 10) + ' h ago';
  return Math.round(hours / 24) + ' days ago';
}

export function syncModeText(source) {
  if (source.sync_mode === 'full_refresh') return 'Full refresh';
  return source.lookback_days ? `Incremental (${source.lookback_days}d lookback)` : 'Incremental';
}

/// The syncs running now, by source name: { progress (0–1 or null), file }. `changed`
/// runs after every change; `settled(source, event)` when a sync ends.
export function trackSyncs(sources, changed, settled) {
  const running = new Map();
  for (const s of sources) if (s.status === 'syncing' || s.active_run_id) running.set(s.name, { progress: null, file: null });
  onEvent((event) => {
    if (event.type.startsWith('sync_')) lastEvent.set(event.source, performance.now());
    if (event.type === 'sync_started') running.set(event.source, { progress: null, file: null });
    else if (event.type === 'sync_progress') running.set(event.source, { progress: event.progress, file: event.file || null });
    else if (event.type === 'sync_completed' || event.type === 'sync_failed') {
      running.delete(event.source);
      if (settled) settled(event.source, event);
    } else return;
    changed(running);
  });
  return running;
}

const lastEvent = new Map();

/// Whether a listing should be asked for again soon: the server still reports a sync
/// whose last event already arrived (its run goes on to build the models downstream).
export function settling(sources, running) {
  return sources.some((s) => s.status === 'syncing' && !running.has(s.name));
}

/// Shows `name` as syncing after this page asked for a sync at `askedAt`
/// (`performance.now()`), unless its events already arrived meanwhile: a quick sync can
/// finish before the answer to the request does.
export function markStarted(running, name, askedAt) {
  if ((lastEvent.get(name) || 0) < askedAt && !running.has(name)) running.set(name, { progress: null, file: null });
}

/// Shows how many syncs run now in `badge` (hidden when none).
export function showSyncingCount(badge, running) {
  badge.hidden = running.size === 0;
  badge.textContent = running.size === 1 ? 'Syncing 1 source' : `Syncing ${running.size} sources`;
}

/// A progress bar for a running sync (indeterminate until the first progress event).
export function syncProgress(name, state) {
  const bar = el('progress', { max: '1', 'aria-label': `Sync of ${name}` });
  if (state && state.progress !== null && state.progress !== undefined) bar.value = state.progress;
  return el('div', { class: 'sync-progress' }, bar,
    state && state.file ? el('span', { class: 'muted small clamp' }, state.file) : null);
}
