// The SQL workbench: an editor (Ctrl/⌘+Enter runs), the warehouse's tables to pick
// from, the result as a sortable virtualised table or a chart, a CSV download of the
// whole result, and the user's own query history (kept by the server).
import { api, apiError, el, formatNumber, tabList, timeEl, toast } from '/static/app.js';
import { ResultGrid } from '/static/grid.js';
import { drawChart, numericColumns } from '/static/chart.js';

const editor = document.getElementById('sql');
const runButton = document.getElementById('run');
const downloadButton = document.getElementById('download');
const status = document.getElementById('status');
const grid = new ResultGrid(document.getElementById('grid'));
let result = null;
let running = false;

// ---- running
async function run() {
  const sql = selectedOrAll();
  if (!sql.trim() || running) return;
  running = true;
  runButton.disabled = true;
  status.className = 'status';
  status.textContent = 'Running…';
  try {
    const limit = Number(document.getElementById('limit').value);
    result = await api('POST', '/api/query', { sql, limit });
    const parts = [`${formatNumber(result.row_count)} row${result.row_count === 1 ? '' : 's'}`, `${result.elapsed_ms.toFixed(1)} ms`];
    status.textContent = parts.join(' · ') + (result.truncated ? ` — ${result.warning || 'truncated'}` : '');
    if (result.truncated) status.classList.add('warn');
    grid.show(result.columns, result.rows);
    downloadButton.disabled = false;
    prepareChart();
  } catch (err) {
    status.classList.add('error');
    const where = err.data && err.data.line ? ` (line ${err.data.line}, column ${err.data.column})` : '';
    status.textContent = err.message + where;
    if (err.data && err.data.line) placeCursor(err.data.line, err.data.column);
  } finally {
    running = false;
    runButton.disabled = false;
    // The server keeps the entry just after answering: ask a moment later.
    setTimeout(loadHistory, 300);
  }
}

function selectedOrAll() {
  const { selectionStart: a, selectionEnd: b, value } = editor;
  return b > a ? value.slice(a, b) : value;
}

function placeCursor(line, column) {
  const lines = editor.value.split('\n');
  let offset = 0;
  for (let i = 0; i < Math.min(line - 1, lines.length); i++) offset += lines[i].length + 1;
  offset += Math.max(0, (column || 1) - 1);
  editor.focus();
  editor.setSelectionRange(offset, offset);
}

editor.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); run(); return; }
  if (e.key === 'Tab' && !e.shiftKey && !e.ctrlKey && !e.metaKey && !e.altKey) {
    // Two spaces; Escape then Tab leaves the editor (keyboard users are never trapped).
    if (editor.dataset.escaped === '1') { editor.dataset.escaped = ''; return; }
    e.preventDefault();
    editor.setRangeText('  ', editor.selectionStart, editor.selectionEnd, 'end');
  }
  editor.dataset.escaped = e.key === 'Escape' ? '1' : '';
});
runButton.addEventListener('click', run);

// ---- download: the whole result (up to the export cap) as CSV, through the same endpoint
downloadButton.addEventListener('click', async () => {
  const sql = selectedOrAll();
  downloadButton.disabled = true;
  try {
    const response = await fetch('/api/query', {
      method: 'POST', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', Accept: 'text/csv', 'X-Requested-With': 'dango-ui' },
      body: JSON.stringify({ sql }),
    });
    if (!response.ok) {
      let data = null;
      try { data = await response.json(); } catch (_) { /* not JSON */ }
      throw apiError(response, data);
    }
    const blob = await response.blob();
    const link = el('a', { href: URL.createObjectURL(blob), download: 'query.csv' });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10000);
    const rows = response.headers.get('X-Dango-Rows');
    toast(`Downloaded ${formatNumber(Number(rows))} rows as CSV` + (response.headers.get('X-Dango-Truncated') === 'true' ? ' (the export cap was reached)' : ''), 'ok');
  } catch (err) {
    toast('Download failed: ' + err.message, 'error');
  } finally {
    downloadButton.disabled = false;
  }
});

// ---- tabs
tabList([...document.querySelectorAll('[role=tab]')], (tab) => {
  for (const panel of document.querySelectorAll('[role=tabpanel]')) panel.hidden = panel.id !== tab.getAttribute('aria-controls');
  if (tab.id === 'tab-chart') renderChart();
  if (tab.id === 'tab-table') grid.paint(true);
  if (tab.id === 'tab-history') loadHistory();
});

// ---- chart
const kind = document.getElementById('chart-kind');
const xAxis = document.getElementById('chart-x');
const yAxis = document.getElementById('chart-y');
function prepareChart() {
  const numbers = numericColumns(result.columns, result.rows);
  xAxis.replaceChildren(...result.columns.map((c, i) => el('option', { value: String(i) }, c.name)));
  yAxis.replaceChildren(...numbers.map((i) => el('option', { value: String(i) }, result.columns[i].name)));
  const firstOther = result.columns.findIndex((_, i) => i !== numbers[0]);
  xAxis.value = String(firstOther >= 0 ? firstOther : 0);
  if (numbers.length) yAxis.value = String(numbers[0]);
  if (!document.getElementById('panel-chart').hidden) renderChart();
}
function renderChart() {
  const host = document.getElementById('chart');
  if (!result) return;
  if (!yAxis.options.length) {
    host.replaceChildren(el('p', { class: 'muted pad' }, 'This result has no numeric column to chart.'));
    return;
  }
  drawChart(host, { kind: kind.value, columns: result.columns, rows: result.rows, x: Number(xAxis.value), y: Number(yAxis.value) });
}
[kind, xAxis, yAxis].forEach((control) => control.addEventListener('change', renderChart));

// ---- schema browser
let tables = [];
async function loadSchema() {
  const tree = document.getElementById('schema-tree');
  try {
    tables = (await api('GET', '/api/query/schema')).tables;
    drawSchema();
  } catch (err) {
    tree.replaceChildren(el('p', { class: 'error' }, 'Tables could not be listed: ' + err.message));
  }
}
function drawSchema() {
  const tree = document.getElementById('schema-tree');
  const filter = document.getElementById('schema-filter').value.trim().toLowerCase();
  const bySchema = new Map();
  for (const table of tables) {
    const name = `${table.schema}.${table.name}`;
    const columns = table.columns.filter((c) => !filter || name.toLowerCase().includes(filter) || c.name.toLowerCase().includes(filter));
    if (filter && !columns.length && !name.toLowerCase().includes(filter)) continue;
    if (!bySchema.has(table.schema)) bySchema.set(table.schema, []);
    bySchema.get(table.schema).push({ table, columns: filter && !name.toLowerCase().includes(filter) ? columns : table.columns });
  }
  if (!bySchema.size) {
    tree.replaceChildren(el('p', { class: 'muted' }, tables.length ? 'No table matches.' : 'The warehouse has no tables yet: sync a source first.'));
    return;
  }
  tree.replaceChildren(...[...bySchema].map(([schema, entries]) => el('details', { open: true },
    el('summary', {}, schema, el('span', { class: 'muted small' }, ` ${entries.length}`)),
    el('ul', {}, entries.map(({ table, columns }) => tableItem(table, columns, Boolean(filter)))))));
}

function tableItem(table, columns, open) {
  const actions = el('div', { class: 'table-actions' },
    el('button', { type: 'button', class: 'link small', onclick: () => insert(`${quote(table.schema)}.${quote(table.name)}`) }, 'Insert name'),
    el('button', { type: 'button', class: 'link small', onclick: () => preview(table) }, 'Preview'));
  const list = el('ul', { class: 'columns' }, columns.map((c) => el('li', {},
    el('button', { type: 'button', class: 'link column', onclick: () => insert(quote(c.name)) }, c.name),
    el('span', { class: 'type' }, c.type))));
  return el('li', {}, el('details', { open },
    el('summary', {}, el('span', { class: 'kind' }, table.kind === 'VIEW' ? 'view' : 'table'), ' ', table.name),
    actions, list));
}
document.getElementById('schema-filter').addEventListener('input', drawSchema);

function quote(name) { return /^[a-z_][a-z0-9_]*$/.test(name) ? name : '"' + name.replaceAll('"', '""') + '"'; }
function insert(text) {
  editor.focus();
  editor.setRangeText(text, editor.selectionStart, editor.selectionEnd, 'end');
}
function preview(table) {
  editor.value = `SELECT *\nFROM ${quote(table.schema)}.${quote(table.name)}\nLIMIT 100`;
  run();
}

// ---- history
async function loadHistory() {
  const list = document.getElementById('history');
  try {
    const { entries } = await api('GET', '/api/query/history?limit=50');
    if (!entries.length) { list.replaceChildren(el('li', { class: 'muted' }, 'No queries yet.')); return; }
    list.replaceChildren(...entries.map((entry) => el('li', { class: entry.succeeded ? '' : 'failed' },
      el('button', { type: 'button', class: 'link history-sql', title: 'Open in the editor', onclick: () => { editor.value = entry.sql; editor.focus(); } }, entry.sql),
      el('div', { class: 'muted small' }, timeEl(entry.executed_at), ' · ',
        entry.succeeded ? `${formatNumber(entry.row_count)} rows · ${entry.elapsed_ms.toFixed(1)} ms` : (entry.error || 'failed')))));
  } catch (err) {
    list.replaceChildren(el('li', { class: 'error' }, 'History could not be loaded: ' + err.message));
  }
}
document.getElementById('clear-history').addEventListener('click', async () => {
  if (!confirm('Clear your query history?')) return;
  try { await api('DELETE', '/api/query/history'); loadHistory(); } catch (err) { toast(err.message, 'error'); }
});

loadSchema();
loadHistory();
if (editor.value.trim()) run();
