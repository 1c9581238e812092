// One run of a script: how it ended (or that it is still going, refreshed until it
// ends), its exit code and time, and what it printed on stdout and stderr.
import { api, can, el, onEvent, timeEl, toast } from '/static/app.js';

const root = document.getElementById('script-run');
const name = root.dataset.script;
const runId = root.dataset.run;
const cancelButton = document.getElementById('cancel-run');
const STATUS = { timeout: 'out of time' };
let timer = null;

function fill(id, text, truncated) {
  const pre = document.getElementById(id);
  const atBottom = pre.scrollHeight - pre.scrollTop - pre.clientHeight < 8;
  pre.textContent = text || '';
  if (!text) pre.append(el('span', { class: 'muted' }, '(nothing)'));
  if (truncated) pre.append(el('span', { class: 'muted' }, '\nOnly the first MiB is kept.'));
  if (atBottom) pre.scrollTop = pre.scrollHeight;
}

async function load() {
  let log;
  try {
    log = await api('GET', `/api/scripts/${encodeURIComponent(name)}/runs/${encodeURIComponent(runId)}`);
  } catch (err) {
    document.getElementById('run-summary').replaceChildren();
    document.getElementById('run-error').textContent = err.message;
    return;
  }
  const run = log.run;
  const going = run.status === 'running' || run.status === 'queued';
  document.getElementById('run-summary').replaceChildren(...[el('p', {},
    el('span', { class: 'badge ' + run.status }, STATUS[run.status] || run.status), ' started ', timeEl(run.started_at || run.created_at, { seconds: true }),
    run.finished_at ? [' · ended ', timeEl(run.finished_at, { seconds: true })] : null,
    run.duration_seconds !== null && run.duration_seconds !== undefined ? ` · ${run.duration_seconds.toFixed(1)} s` : null,
    run.exit_code !== null && run.exit_code !== undefined ? ` · exit code ${run.exit_code}` : null,
    ` · ${run.schedule ? 'schedule ' + run.schedule : 'started by ' + (run.requested_by || run.trigger)}`),
  run.error ? el('p', { class: 'error-box' }, run.error) : null].filter(Boolean));
  fill('stdout', log.stdout, log.stdout_truncated);
  fill('stderr', log.stderr, log.stderr_truncated);
  cancelButton.hidden = !(going && can('source.sync'));
  clearTimeout(timer);
  if (going) timer = setTimeout(load, 1500);
}

cancelButton.addEventListener('click', async () => {
  cancelButton.disabled = true;
  try {
    const result = await api('POST', `/api/scripts/${encodeURIComponent(name)}/cancel`);
    toast(`${name}: run ${result.status}`, 'info');
  } catch (err) {
    toast(err.message, 'error');
  }
  cancelButton.disabled = false;
  load();
});

onEvent((event) => {
  if (event.run_id === runId && event.type === 'script_finished') load();
});
load();
