// The schedules page: every schedule of .dango/schedules.yml with its timing in words,
// time zone, what it runs, when it fires next and how its last run went; "run now"; the
// next firings on request (across daylight-saving changes); and the sources no schedule
// covers.
import { api, can, el, onEvent, timeEl, toast } from '/static/app.js';

const box = document.getElementById('schedules');
const errorBox = document.getElementById('schedules-error');
const dialog = document.getElementById('preview-dialog');

const KIND = { sync: 'Sync, then build', sync_only: 'Sync only', dbt: 'Build models', script: 'Script' };
const EXAMPLE = 'schedules:\n- name: nightly\n  cron: daily          # or "0 6 * * *"\n  timezone: Europe/Berlin\n  sources: [orders]';

function what(s) {
  if (s.type === 'dbt') return el('code', {}, s.dbt_command);
  if (s.type === 'script') return el('code', {}, s.script_path);
  return s.sources.flatMap((name, i) => [i ? ', ' : '', el('a', { href: '/sources' }, name)]);
}

async function load() {
  let list;
  try {
    list = await api('GET', '/api/schedules');
  } catch (err) {
    box.replaceChildren();
    errorBox.textContent = 'The schedules could not be read: ' + err.message;
    return;
  }
  if (!list.length) {
    box.replaceChildren(el('div', { class: 'pad' }, el('p', {}, 'No schedules yet. Add one to .dango/schedules.yml, for example:'), el('pre', { class: 'sql', tabindex: '0', 'aria-label': 'Example schedule' }, EXAMPLE)));
    return;
  }
  box.replaceChildren(el('table', { class: 'list stack' },
    el('thead', {}, el('tr', {}, ['Schedule', 'Runs', 'When', 'Next run', 'Last run', ''].map((h) => el('th', { scope: 'col' }, h)))),
    el('tbody', {}, list.map((s) => el('tr', { 'data-schedule': s.name },
      el('td', { class: 'lead' }, el('span', { class: 'strong' }, s.name), ' ', s.enabled ? null : el('span', { class: 'badge' }, 'disabled'),
        s.warnings.map((w) => el('div', { class: 'small warn-text' }, w))),
      el('td', { 'data-label': 'Runs' }, el('div', {}, KIND[s.type] || s.type, el('div', { class: 'small' }, what(s)))),
      el('td', { 'data-label': 'When' }, el('div', {}, s.cron_label, el('div', { class: 'muted small' }, el('code', {}, s.cron), ' · ', s.timezone))),
      el('td', { 'data-label': 'Next run' }, s.next_run_time ? timeEl(s.next_run_time) : el('span', { class: 'muted' }, s.enabled ? 'never' : '—')),
      el('td', { 'data-label': 'Last run' }, lastRun(s.last_run)),
      el('td', { class: 'actions' }, el('div', { class: 'row-actions' },
        can('source.sync') && s.type !== 'script' ? el('button', { type: 'button', class: 'small', 'aria-label': `Run now: ${s.name}`, onclick: (e) => runNow(s.name, e.target) }, 'Run now') : null,
        el('button', { type: 'button', class: 'small secondary', 'aria-label': `Next 10 firings of ${s.name}`, onclick: () => preview(s.name) }, 'Next 10'))))))));
}

function lastRun(run) {
  if (!run) return el('span', { class: 'muted' }, 'not yet');
  return el('div', {}, el('span', { class: 'badge ' + run.status, title: run.error || null }, run.status), ' ', timeEl(run.created_at),
    run.trigger === 'schedule' ? null : el('div', { class: 'muted small' }, 'started by hand'));
}

async function runNow(name, button) {
  button.disabled = true;
  try {
    const started = await api('POST', `/api/schedules/${encodeURIComponent(name)}/trigger`);
    toast(`${name}: run ${started.run_id.slice(0, 8)} started`, 'info');
  } catch (err) {
    toast(`${name}: ${err.message}`, 'error');
  }
  button.disabled = false;
  load();
}

async function preview(name) {
  document.getElementById('preview-title').textContent = `${name}: when it fires, how it ran`;
  const body = document.getElementById('preview-body');
  body.replaceChildren(el('p', { class: 'muted' }, 'Loading…'));
  dialog.showModal();
  try {
    const p = await api('GET', `/api/schedules/${encodeURIComponent(name)}/preview?count=10`);
    body.replaceChildren(
      el('p', { class: 'muted small' }, el('code', {}, p.cron), ` in ${p.timezone}; shown in your time zone, with the schedule's own clock beside it.`),
      p.fire_times.length ? el('ol', { class: 'fire-times' }, p.fire_times.map((t) => el('li', {}, timeEl(t.at), el('span', { class: 'muted small mono' }, ' ' + t.local.replace('T', ' '))))) : el('p', {}, 'This expression never fires.'));
    const history = await api('GET', `/api/schedules/${encodeURIComponent(name)}/history?limit=10`);
    body.append(el('h3', {}, `Recent runs (${history.total})`), history.items.length
      ? el('ul', { class: 'plain', id: 'schedule-runs' }, history.items.map((r) => el('li', {}, lastRun(r),
        r.error ? el('div', { class: 'small error' }, r.error) : null)))
      : el('p', { class: 'muted' }, 'No runs yet.'));
  } catch (err) {
    body.replaceChildren(el('p', { class: 'error', role: 'alert' }, err.message));
  }
}
document.getElementById('preview-close').addEventListener('click', () => dialog.close());

async function loadUnscheduled() {
  const target = document.getElementById('unscheduled');
  try {
    const { sources } = await api('GET', '/api/sources/unscheduled');
    target.replaceChildren(sources.length
      ? el('p', {}, sources.flatMap((name, i) => [i ? ', ' : '', el('a', { href: '/sources' }, name)]), el('span', { class: 'muted' }, ' — synced only when someone starts them (or a file watcher does).'))
      : el('p', { class: 'muted' }, 'Every source is on a schedule.'));
  } catch (err) {
    target.replaceChildren(el('p', { class: 'error', role: 'alert' }, err.message));
  }
}

// Runs end (or a schedule fires) while the page is open: show their state.
let pending = null;
onEvent((event) => {
  if (!['sync_started', 'sync_completed', 'sync_failed', 'dbt_run_completed', 'dbt_run_failed'].includes(event.type)) return;
  clearTimeout(pending);
  pending = setTimeout(load, 800);
});
load();
loadUnscheduled();
