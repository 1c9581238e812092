// The scripts page: every program of scripts/ with how its last run went, "run" and
// "cancel" for those who may sync, and each script's recent runs with a link to what
// each printed. Runs starting and ending while the page is open update it.
import { api, can, el, onEvent, timeEl, toast } from '/static/app.js';

const box = document.getElementById('scripts');
const errorBox = document.getElementById('scripts-error');
const open = new Set();
const STATUS = { timeout: 'out of time' };
const LAUNCH = { python: 'Python', executable: 'Executable' };

export function logHref(name, runId) {
  return `/scripts/${encodeURIComponent(name)}/logs/${encodeURIComponent(runId)}`;
}

function running(run) {
  return run && (run.status === 'running' || run.status === 'queued');
}

function runBadge(run) {
  if (!run) return el('span', { class: 'muted' }, 'never run');
  return el('span', {}, el('span', { class: 'badge ' + run.status, title: run.error || null }, STATUS[run.status] || run.status), ' ',
    el('a', { href: logHref(run.script_name, run.run_id) }, timeEl(run.created_at), el('span', { class: 'sr-only' }, `: output of ${run.script_name}`)),
    run.duration_seconds !== null && run.duration_seconds !== undefined ? el('span', { class: 'muted small' }, ` · ${run.duration_seconds.toFixed(1)} s`) : null,
    run.schedule ? el('span', { class: 'muted small' }, ` · ${run.schedule}`) : null);
}

async function load() {
  let list;
  try {
    list = await api('GET', '/api/scripts');
    errorBox.textContent = '';
  } catch (err) {
    box.replaceChildren();
    errorBox.textContent = 'The scripts could not be read: ' + err.message;
    return;
  }
  if (!list.length) {
    box.replaceChildren(el('div', { class: 'pad' }, el('p', {}, 'No scripts yet. Put a program in scripts/, for example scripts/daily_report.py:'),
      el('pre', { class: 'sql', tabindex: '0', 'aria-label': 'Example script' }, 'import os, json, urllib.request\nrequest = urllib.request.Request(os.environ["DANGO_API_URL"] + "/api/sources",\n    headers={"Authorization": "Bearer " + os.environ["DANGO_API_KEY"]})\nfor source in json.load(urllib.request.urlopen(request)):\n    print(source["name"], source["status"])')));
    return;
  }
  const rows = [];
  for (const s of list) {
    const expanded = open.has(s.name);
    const historyId = `history-${s.name.replace(/[^a-zA-Z0-9_-]/g, '_')}`;
    rows.push(el('tr', { 'data-script': s.name },
      el('td', { class: 'lead' }, el('span', { class: 'strong mono' }, s.name), el('div', { class: 'muted small' }, LAUNCH[s.launch] || s.launch)),
      el('td', { 'data-label': 'Last run' }, runBadge(s.last_run),
        s.last_run && s.last_run.error ? el('div', { class: 'small error' }, s.last_run.error) : null),
      el('td', { class: 'actions' }, el('div', { class: 'row-actions' },
        can('source.sync') ? (s.running
          ? el('button', { type: 'button', class: 'small danger', 'aria-label': `Cancel ${s.name}`, onclick: (e) => cancel(s.name, e.target) }, 'Cancel')
          : el('button', { type: 'button', class: 'small', 'aria-label': `Run ${s.name}`, onclick: (e) => run(s.name, e.target) }, 'Run')) : null,
        el('button', { type: 'button', class: 'small secondary', 'aria-expanded': String(expanded), 'aria-controls': historyId, onclick: () => toggle(s.name) }, expanded ? 'Hide runs' : 'Runs')))));
    if (expanded) rows.push(el('tr', { id: historyId, class: 'detail-row' }, el('td', { colspan: '3' }, el('div', { class: 'history-box', 'data-history': s.name }, el('p', { class: 'muted' }, 'Loading…')))));
  }
  box.replaceChildren(el('table', { class: 'list stack' },
    el('thead', {}, el('tr', {}, ['Script', 'Last run', ''].map((h) => el('th', { scope: 'col' }, h)))),
    el('tbody', {}, rows)));
  for (const name of open) loadHistory(name);
}

async function loadHistory(name) {
  const target = box.querySelector(`[data-history="${CSS.escape(name)}"]`);
  if (!target) return;
  try {
    const history = await api('GET', `/api/scripts/${encodeURIComponent(name)}/history?limit=30`);
    target.replaceChildren(...[history.items.length
      ? el('ul', { class: 'plain' }, history.items.map((r) => el('li', {}, runBadge(r),
        r.requested_by && !r.schedule ? el('span', { class: 'muted small' }, ` · ${r.requested_by}`) : null,
        r.error ? el('div', { class: 'small error' }, r.error) : null)))
      : el('p', { class: 'muted' }, 'No runs yet.'),
    history.total > history.items.length ? el('p', { class: 'muted small' }, `The newest ${history.items.length} of ${history.total} runs.`) : null].filter(Boolean));
  } catch (err) {
    target.replaceChildren(el('p', { class: 'error', role: 'alert' }, err.message));
  }
}

function toggle(name) {
  if (open.has(name)) open.delete(name); else open.add(name);
  load();
}

async function run(name, button) {
  button.disabled = true;
  try {
    const started = await api('POST', `/api/scripts/${encodeURIComponent(name)}/run`);
    toast(`${name}: run ${started.run_id.slice(0, 8)} started`, 'info');
  } catch (err) {
    toast(`${name}: ${err.message}`, 'error');
  }
  load();
}

async function cancel(name, button) {
  button.disabled = true;
  try {
    const result = await api('POST', `/api/scripts/${encodeURIComponent(name)}/cancel`);
    toast(`${name}: run ${result.status}`, 'info');
  } catch (err) {
    toast(`${name}: ${err.message}`, 'error');
  }
  load();
}

let pending = null;
onEvent((event) => {
  if (event.type !== 'script_started' && event.type !== 'script_finished') return;
  clearTimeout(pending);
  pending = setTimeout(load, 300);
});
load();
