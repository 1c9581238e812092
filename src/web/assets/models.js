// The models page: every dbt model with its schema, materialization, status and rows;
// Run per model (with the models downstream, by default) and Build all; the status of a
// build follows the live events as it runs.
import { api, can, el, formatNumber, onEvent, timeEl, toast } from '/static/app.js';

const box = document.getElementById('models');
const errorBox = document.getElementById('models-error');
const banner = document.getElementById('build-status');
const filter = document.getElementById('model-filter');
const cascade = document.getElementById('cascade');
const runAll = document.getElementById('run-all');

let models = [];
/// Live state by model name while a build runs: 'running' | 'success' | 'error' | 'skipped'.
const live = new Map();
let building = false;
let counts = { done: 0, failed: 0 };

async function load() {
  try {
    models = (await api('GET', '/api/dbt/models')).models;
    errorBox.textContent = '';
    draw();
  } catch (err) {
    errorBox.textContent = 'The models could not be loaded: ' + err.message;
  }
}

function draw() {
  if (!models.length) {
    box.replaceChildren(el('p', { class: 'muted pad' }, 'No models yet. Sync a source (its staging model is generated) or add SQL files under dbt/models.'));
    return;
  }
  const wanted = filter.value.trim().toLowerCase();
  const visible = models.filter((m) => !wanted || m.name.toLowerCase().includes(wanted) || m.schema.toLowerCase().includes(wanted)
    || m.tags.some((t) => t.toLowerCase().includes(wanted)));
  if (!visible.length) {
    box.replaceChildren(el('p', { class: 'muted pad' }, 'No model matches the filter.'));
    return;
  }
  box.replaceChildren(el('table', { class: 'list stack' },
    el('thead', {}, el('tr', {}, ['Model', 'Schema', 'Materialization', 'Status', 'Last run', 'Rows', can('dbt.run') ? 'Actions' : null]
      .filter(Boolean).map((h) => el('th', { scope: 'col', class: h === 'Rows' ? 'num' : null }, h)))),
    el('tbody', {}, visible.map(row))));
}

function row(model) {
  const state = live.get(model.name) || model.status || 'never run';
  return el('tr', { 'data-model': model.name },
    el('td', { class: 'lead' },
      el('a', { href: '/catalog/' + encodeURIComponent(model.name), class: 'strong' }, model.name),
      model.description ? el('div', { class: 'muted small clamp' }, model.description) : null,
      model.tags.length ? el('div', {}, model.tags.map((t) => el('span', { class: 'badge tag' }, t))) : null),
    el('td', { 'data-label': 'Schema' }, el('span', { class: 'mono small' }, model.schema)),
    el('td', { 'data-label': 'Materialization' }, model.materialization),
    el('td', { 'data-label': 'Status' }, el('span', { class: 'badge ' + state.replace(' ', '-') }, state === 'running' ? 'Running…' : state)),
    el('td', { 'data-label': 'Last run' }, timeEl(model.last_run)),
    el('td', { class: 'num', 'data-label': 'Rows' }, formatNumber(model.row_count)),
    can('dbt.run') ? el('td', { class: 'actions' }, el('button', {
      type: 'button', class: 'small', disabled: building,
      'aria-label': `Run ${model.name}`, onclick: () => run(model.name),
    }, 'Run')) : null);
}

function showBanner(kind, text) {
  banner.hidden = false;
  banner.className = 'banner ' + kind;
  banner.textContent = text;
}

async function run(name) {
  setBuilding(true);
  try {
    const withDownstream = cascade.checked;
    const started = await api('POST', `/api/dbt/models/${encodeURIComponent(name)}/run?cascade=${withDownstream}`);
    showBanner('', withDownstream ? `Building ${name} and the models downstream…` : `Building ${name}…`);
    follow(started.run_id);
  } catch (err) {
    setBuilding(false);
    toast(`${name}: ${err.message}`, 'error');
  }
}

runAll.addEventListener('click', async () => {
  setBuilding(true);
  try {
    const started = await api('POST', '/api/dbt/run', {});
    showBanner('', 'Building all models…');
    follow(started.run_id);
  } catch (err) {
    setBuilding(false);
    toast('Build all: ' + err.message, 'error');
  }
});

function setBuilding(on) {
  building = on;
  runAll.disabled = on;
  if (on) counts = { done: 0, failed: 0 };
  draw();
}

/// Asks how the run started here is doing until it ends, then shows its outcome.
async function follow(runId) {
  following = runId;
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 700));
    let run;
    try { run = await api('GET', `/api/sync/status/${encodeURIComponent(runId)}`); } catch (_) { break; }
    if (run.status !== 'queued' && run.status !== 'running') {
      following = null;
      await load();
      live.clear();
      setBuilding(false);
      if (run.status === 'success') showBanner('ok', `Build finished in ${run.duration_seconds ?? '?'} s: ${run.message || 'done'}.`);
      else showBanner('error', `Build ${run.status}: ${run.error || run.message || 'see the activity log'}`);
      return;
    }
  }
  following = null;
  settleSoon();
}
let following = null;

// A build someone else started ends when no model event arrives for a moment after the
// last one (the events name models, not the end of the run).
let settleTimer = null;
function settleSoon() {
  clearTimeout(settleTimer);
  if (following) return;
  settleTimer = setTimeout(async () => {
    await load();
    live.clear();
    setBuilding(false);
    if (counts.failed) showBanner('error', `Build finished: ${counts.failed} failed, ${counts.done} built.`);
    else if (counts.done) showBanner('ok', `Build finished: ${counts.done} built.`);
    draw();
  }, 1200);
}

onEvent((event) => {
  if (event.type === 'dbt_run_started') {
    if (event.model) live.set(event.model, 'running');
    if (!building) setBuilding(true);
    if (!event.model || !banner.textContent) showBanner('', event.message || 'Building models…');
  } else if (event.type === 'dbt_run_completed') {
    live.set(event.model, 'success');
    counts.done += 1;
  } else if (event.type === 'dbt_run_failed') {
    live.set(event.model, 'error');
    counts.failed += 1;
  } else if (event.type === 'dbt_run_skipped') {
    live.set(event.model, 'skipped');
  } else return;
  draw();
  settleSoon();
});

filter.addEventListener('input', draw);
if (can('dbt.run')) document.getElementById('run-controls').hidden = false;
load();
