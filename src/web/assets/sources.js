// The sources page: every source with its status, freshness and rows, live while a sync
// runs; Sync now, Full refresh and a date-range sync; a details dialog (stats, last error,
// masked configuration, sync history); and for file sources their files, with delete
// and a drag-and-drop upload that shows its progress.
import { api, apiError, can, el, formatNumber, scrollBox, timeEl, toast } from '/static/app.js';
import { freshnessText, showSyncingCount, markStarted, settling, statusBadge, syncModeText, syncProgress, trackSyncs } from '/static/source-status.js';

const box = document.getElementById('sources');
const errorBox = document.getElementById('sources-error');
const filter = document.getElementById('source-filter');
const syncingCount = document.getElementById('syncing-count');
const dialog = document.getElementById('source-dialog');
const dialogTitle = document.getElementById('dialog-title');
const dialogBody = document.getElementById('dialog-body');
const FILE_TYPES = new Set(['csv', 'local_files']);

let sources = [];
let running = new Map();
/// What the dialog shows now: { kind: 'details' | 'files' | 'range', name }.
let shown = null;

async function load() {
  try {
    sources = await api('GET', '/api/sources');
    errorBox.textContent = '';
    draw();
    if (settling(sources, running)) setTimeout(load, 1000);
  } catch (err) {
    errorBox.textContent = 'The sources could not be loaded: ' + err.message;
  }
}

function draw() {
  showSyncingCount(syncingCount, running);
  const wanted = filter.value.trim().toLowerCase();
  const visible = sources.filter((s) => !wanted || s.name.toLowerCase().includes(wanted) || (s.description || '').toLowerCase().includes(wanted));
  if (!sources.length) {
    box.replaceChildren(el('p', { class: 'muted pad' }, 'No sources yet. Add one to .dango/sources.yml (or run `dango source add`) and it appears here.'));
    return;
  }
  if (!visible.length) {
    box.replaceChildren(el('p', { class: 'muted pad' }, 'No source matches the filter.'));
    return;
  }
  box.replaceChildren(el('table', { class: 'list stack' },
    el('thead', {}, el('tr', {}, ['Source', 'Type', 'Status', 'Last sync', 'Rows', 'Freshness', 'Schedule', 'Mode', 'Actions']
      .map((h) => el('th', { scope: 'col', class: h === 'Rows' ? 'num' : null }, h)))),
    el('tbody', {}, visible.map(row))));
}

function row(source) {
  const live = running.get(source.name);
  const status = live || source.status === 'syncing' ? 'syncing' : source.status;
  return el('tr', { 'data-source': source.name },
    el('td', { class: 'lead' },
      el('button', { type: 'button', class: 'link strong', onclick: () => openDetails(source.name) }, source.name),
      source.description ? el('div', { class: 'muted small clamp' }, source.description) : null,
      source.needs_attention ? el('div', { class: 'small warn-text' }, source.attention_reason || 'Needs attention') : null),
    el('td', { 'data-label': 'Type' }, el('span', { class: 'mono small' }, source.type)),
    el('td', { 'data-label': 'Status' }, el('div', {}, statusBadge(status), live ? syncProgress(source.name, live) : null)),
    el('td', { 'data-label': 'Last sync' }, el('div', {}, timeEl(source.last_sync),
      source.last_sync_duration_seconds !== null && source.last_sync_duration_seconds !== undefined
        ? el('div', { class: 'muted small' }, duration(source.last_sync_duration_seconds)) : null)),
    el('td', { class: 'num', 'data-label': 'Rows' }, formatNumber(source.row_count)),
    el('td', { 'data-label': 'Freshness' }, freshnessText(source.freshness)),
    el('td', { 'data-label': 'Schedule' }, source.schedule_display || el('span', { class: 'muted' }, 'Manual')),
    el('td', { 'data-label': 'Mode' }, syncModeText(source)),
    el('td', { class: 'actions' }, actions(source, Boolean(live))));
}

function actions(source, busy) {
  const buttons = [];
  if (can('source.sync')) {
    buttons.push(el('button', { type: 'button', class: 'small', disabled: busy || !source.enabled, onclick: () => sync(source.name, {}) }, 'Sync now'));
    buttons.push(el('button', {
      type: 'button', class: 'small secondary', disabled: busy || !source.enabled,
      onclick: () => {
        if (confirm(`Reload all of ${source.name} from scratch? Its tables are replaced by what the source has now.`)) sync(source.name, { full_refresh: true });
      },
    }, 'Full refresh'));
    if (source.supports_date_range) buttons.push(el('button', { type: 'button', class: 'small secondary', disabled: busy, onclick: () => openRange(source.name) }, 'Date range…'));
  }
  if (FILE_TYPES.has(source.type)) buttons.push(el('button', { type: 'button', class: 'small secondary', onclick: () => openFiles(source.name) }, 'Files'));
  return el('div', { class: 'row-actions' }, buttons);
}

function duration(seconds) {
  if (seconds < 1) return Math.round(seconds * 1000) + ' ms';
  if (seconds < 120) return (Math.round(seconds * 10) / 10) + ' s';
  return Math.round(seconds / 60) + ' min';
}

async function sync(name, body) {
  const askedAt = performance.now();
  try {
    await api('POST', `/api/sources/${encodeURIComponent(name)}/sync`, body);
    markStarted(running, name, askedAt);
    toast(`${name}: sync started`, 'info');
    draw();
  } catch (err) {
    toast(`${name}: ${err.message}`, 'error');
  }
}

// ---- the dialog: details, files, date range

function openDialog(kind, name, title) {
  shown = { kind, name };
  dialogTitle.textContent = title;
  dialogBody.replaceChildren(el('p', { class: 'muted' }, 'Loading…'));
  if (!dialog.open) dialog.showModal();
}

document.getElementById('dialog-close').addEventListener('click', () => dialog.close());
dialog.addEventListener('close', () => { shown = null; });

async function openDetails(name) {
  openDialog('details', name, name);
  try {
    const d = await api('GET', `/api/sources/${encodeURIComponent(name)}/details`);
    const last = d.history[0];
    dialogBody.replaceChildren(el('div', {},
      el('dl', { class: 'facts' },
        fact('Type', d.type), fact('Status', statusBadge(running.has(name) ? 'syncing' : d.status)),
        fact('Rows', formatNumber(d.row_count)), fact('Last sync', timeEl(d.freshness.last_sync_time)),
        fact('Freshness', freshnessText(d.freshness)), fact('Mode', syncModeText(d)),
        fact('Enabled', d.enabled ? 'Yes' : 'No')),
      last && last.status === 'failed' && last.error_message
        ? el('div', { class: 'alert error-box', role: 'alert' }, el('strong', {}, 'Last sync failed: '), last.error_message) : null,
      d.tables && d.tables.length ? el('section', {}, el('h3', {}, 'Tables'),
        el('ul', { class: 'plain' }, d.tables.map((t) => el('li', {}, el('span', { class: 'mono' }, `${t.schema}.${t.name}`), ' ', el('span', { class: 'muted' }, formatNumber(t.row_count) + ' rows'))))) : null,
      el('h3', {}, 'Configuration'),
      el('pre', { class: 'sql', tabindex: '0', 'aria-label': `Configuration of ${name}` }, JSON.stringify(d.config, null, 2)),
      el('h3', {}, 'Sync history'),
      historyTable(d.history)));
  } catch (err) {
    dialogBody.replaceChildren(el('p', { class: 'error', role: 'alert' }, err.message));
  }
}

function fact(label, value) {
  return [el('div', {}, el('dt', {}, label), el('dd', {}, value))];
}

function historyTable(history) {
  if (!history.length) return el('p', { class: 'muted' }, 'No syncs yet.');
  return scrollBox('Sync history', el('table', { class: 'list' },
    el('thead', {}, el('tr', {}, ['When', 'Status', 'Duration', 'Rows loaded', 'Rows in total', 'Kind'].map((h) => el('th', { scope: 'col' }, h)))),
    el('tbody', {}, history.map((h) => el('tr', {},
      el('td', {}, timeEl(h.timestamp)),
      el('td', {}, el('span', { class: 'badge ' + h.status, title: h.error_message || null }, h.status),
        h.error_message ? el('div', { class: 'small error' }, h.error_message) : null),
      el('td', {}, h.duration_seconds === null || h.duration_seconds === undefined ? '—' : duration(h.duration_seconds)),
      el('td', { class: 'num' }, formatNumber(h.rows_processed)),
      el('td', { class: 'num' }, formatNumber(h.total_row_count)),
      el('td', {}, h.full_refresh ? 'Full refresh' : h.start_date ? `${h.start_date} – ${h.end_date || 'today'}` : 'Incremental'))))));
}

function openRange(name) {
  openDialog('range', name, `Sync ${name} for a date range`);
  const today = new Date().toISOString().slice(0, 10);
  const start = el('input', { type: 'date', id: 'range-start', required: true, max: today });
  const end = el('input', { type: 'date', id: 'range-end', max: today });
  const error = el('p', { class: 'error', role: 'alert' });
  const form = el('form', {
    onsubmit: async (e) => {
      e.preventDefault();
      if (end.value && end.value < start.value) { error.textContent = 'The end date is before the start date.'; return; }
      dialog.close();
      await sync(name, { start_date: start.value, end_date: end.value || null });
    },
  },
  el('label', { for: 'range-start' }, 'From'), start,
  el('label', { for: 'range-end' }, 'To (empty: today)'), end,
  error,
  el('p', { class: 'button-row' }, el('button', { type: 'submit' }, 'Sync this range')));
  dialogBody.replaceChildren(form);
  start.focus();
}

async function openFiles(name) {
  openDialog('files', name, `Files of ${name}`);
  // The listing is redrawn after each change; the uploads (and their progress) stay.
  dialogBody.replaceChildren(el('div', { id: 'files' }, el('p', { class: 'muted' }, 'Loading…')), can('csv.upload') ? uploader(name) : '');
  await drawFiles(name);
}

async function drawFiles(name) {
  const box = document.getElementById('files');
  let list;
  try {
    list = await api('GET', `/api/sources/${encodeURIComponent(name)}/csv-files`);
  } catch (err) {
    if (box) box.replaceChildren(el('p', { class: 'error', role: 'alert' }, err.message));
    return;
  }
  if (!shown || shown.kind !== 'files' || shown.name !== name || !box) return;
  const files = list.files.length ? scrollBox('Files', el('table', { class: 'list', id: 'file-list' },
    el('thead', {}, el('tr', {}, ['File', 'Size', 'Modified', 'Loaded', 'Rows', ''].map((h) => el('th', { scope: 'col' }, h)))),
    el('tbody', {}, list.files.map((f) => el('tr', { 'data-file': f.filename },
      el('td', { class: 'mono small' }, f.filename),
      el('td', { class: 'num' }, f.size === null || f.size === undefined ? '—' : bytes(f.size)),
      el('td', {}, timeEl(f.modified)),
      el('td', {}, el('span', { class: 'badge ' + (f.loaded ? 'success' : f.on_disk ? 'warning' : 'failed') }, f.status)),
      el('td', { class: 'num' }, formatNumber(f.rows_loaded)),
      el('td', {}, can('csv.delete') ? el('button', {
        type: 'button', class: 'small secondary', 'aria-label': `Delete ${f.filename}`,
        onclick: () => deleteFile(name, f),
      }, 'Delete') : null)))))) : el('p', { class: 'muted' }, 'No files yet.');
  box.replaceChildren(
    el('p', { class: 'muted small' }, `${list.files_loaded} of ${list.total_files} loaded · files matching `, el('code', {}, list.file_pattern), ' in ', el('code', {}, list.directory)),
    files);
}

function bytes(n) {
  if (n < 1024) return n + ' B';
  if (n < 1024 * 1024) return (n / 1024).toFixed(1) + ' KB';
  return (n / 1024 / 1024).toFixed(1) + ' MB';
}

async function deleteFile(name, file) {
  if (!confirm(`Delete ${file.filename}? Its ${formatNumber(file.rows_loaded)} rows are removed from the warehouse too.`)) return;
  try {
    const result = await api('DELETE', `/api/sources/${encodeURIComponent(name)}/csv-files?file_path=${encodeURIComponent(file.path)}`);
    toast(result.message, 'ok');
  } catch (err) {
    toast(err.message, 'error');
  }
  await drawFiles(name);
  load();
}

function uploader(name) {
  const input = el('input', { type: 'file', id: 'upload-input', multiple: true, accept: '.csv,.json,.jsonl,.ndjson,.parquet' });
  const syncAfter = el('input', { type: 'checkbox', id: 'upload-sync', checked: true });
  const progressList = el('ul', { class: 'plain uploads', 'aria-live': 'polite' });
  const zone = el('div', { class: 'dropzone', id: 'dropzone' },
    el('p', {}, el('strong', {}, 'Drop files here'), ' or choose them:'),
    el('label', { for: 'upload-input', class: 'sr-only' }, 'Files to upload'), input,
    el('p', { class: 'small' }, syncAfter, ' ', el('label', { for: 'upload-sync', class: 'inline' }, 'Sync after uploading')));
  const start = async (fileList) => {
    for (const file of fileList) await upload(name, file, syncAfter.checked, progressList);
    await drawFiles(name);
    load();
  };
  input.addEventListener('change', () => start([...input.files]));
  zone.addEventListener('dragover', (e) => { e.preventDefault(); zone.classList.add('over'); });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('over');
    if (e.dataTransfer && e.dataTransfer.files.length) start([...e.dataTransfer.files]);
  });
  return el('section', {}, el('h3', {}, 'Upload'), zone, progressList);
}

/// Sends one file with a progress bar of its own (fetch cannot report upload progress).
function upload(name, file, syncAfter, list) {
  const bar = el('progress', { max: '1', value: '0', 'aria-label': `Upload of ${file.name}` });
  const note = el('span', { class: 'muted small' }, 'uploading…');
  list.append(el('li', { class: 'upload' }, el('span', { class: 'mono small clamp' }, file.name), bar, note));
  return new Promise((resolve) => {
    const askedAt = performance.now();
    const request = new XMLHttpRequest();
    request.open('POST', `/api/sources/${encodeURIComponent(name)}/upload-csv?trigger_sync=${syncAfter}`);
    request.setRequestHeader('X-Requested-With', 'dango-ui');
    request.upload.addEventListener('progress', (e) => { if (e.lengthComputable) bar.value = e.loaded / e.total; });
    request.addEventListener('load', () => {
      let data = null;
      try { data = JSON.parse(request.responseText); } catch (_) { /* not JSON */ }
      if (request.status >= 200 && request.status < 300) {
        bar.value = 1;
        note.textContent = data && data.auto_sync ? 'uploaded · sync started' : 'uploaded';
        note.className = 'ok small';
        if (data && data.auto_sync) { markStarted(running, name, askedAt); draw(); }
      } else {
        const err = apiError({ status: request.status, statusText: request.statusText }, data);
        note.textContent = err.message;
        note.className = 'error small';
        note.setAttribute('role', 'alert');
      }
      resolve();
    });
    request.addEventListener('error', () => { note.textContent = 'The upload failed: the server could not be reached.'; note.className = 'error small'; resolve(); });
    const form = new FormData();
    form.append('file', file, file.name);
    request.send(form);
  });
}

filter.addEventListener('input', draw);

load().then(() => {
  running = trackSyncs(sources, draw, (name) => {
    load();
    if (shown && shown.name === name) {
      if (shown.kind === 'details') openDetails(name);
      else if (shown.kind === 'files') drawFiles(name);
    }
  });
  draw();
});
