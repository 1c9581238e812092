// The schedules page: every schedule of .dango/schedules.yml with its timing in words,
// time zone, what it runs, when it fires next and how its last run went; "run now" and
// "cancel"; the next firings on request (across daylight-saving changes); the sources no
// schedule covers; and, for those who manage schedules, adding, editing and removing one
// (written into the file, its comments kept) and reloading the file after a hand edit.
import { api, can, el, onEvent, timeEl, toast } from '/static/app.js';

const box = document.getElementById('schedules');
const errorBox = document.getElementById('schedules-error');
const dialog = document.getElementById('preview-dialog');

const KIND = { sync: 'Sync, then build', sync_only: 'Sync only', dbt: 'Build models', script: 'Script' };
const EXAMPLE = 'schedules:\n- name: nightly\n  cron: daily          # or "0 6 * * *"\n  timezone: Europe/Berlin\n  sources: [orders]';

function what(s) {
  if (s.type === 'dbt') return el('code', {}, s.dbt_command);
  if (s.type === 'script') return el('a', { href: '/scripts' }, el('code', {}, s.script_path));
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
        runningNow(s.last_run) && can('scheduler.manage')
          ? el('button', { type: 'button', class: 'small danger', 'aria-label': `Cancel the running ${s.name}`, onclick: (e) => cancel(s.name, s.last_run.run_id, e.target) }, 'Cancel')
          : can('source.sync') ? el('button', { type: 'button', class: 'small', 'aria-label': `Run now: ${s.name}`, onclick: (e) => runNow(s.name, e.target) }, 'Run now') : null,
        el('button', { type: 'button', class: 'small secondary', 'aria-label': `Next 10 firings of ${s.name}`, onclick: () => preview(s.name) }, 'Next 10'),
        can('scheduler.manage') ? el('button', { type: 'button', class: 'small secondary', 'aria-label': `Edit ${s.name}`, onclick: () => edit(s) }, 'Edit') : null,
        can('scheduler.manage') ? el('button', { type: 'button', class: 'small secondary', 'aria-label': `Remove ${s.name}`, onclick: (e) => remove(s.name, e.target) }, 'Remove') : null)))))));
}

function runningNow(run) {
  return run && (run.status === 'running' || run.status === 'queued');
}

async function cancel(name, runId, button) {
  button.disabled = true;
  try {
    const result = await api('POST', `/api/schedules/jobs/${encodeURIComponent(runId)}/cancel`);
    toast(`${name}: run ${result.status}`, 'info');
  } catch (err) {
    toast(`${name}: ${err.message}`, 'error');
  }
  load();
}

async function remove(name, button) {
  if (!confirm(`Remove the schedule ${name} from .dango/schedules.yml? A run of it that is going continues.`)) return;
  button.disabled = true;
  try {
    await api('DELETE', `/api/schedules/${encodeURIComponent(name)}`);
    toast(`Removed ${name}`, 'info');
  } catch (err) {
    toast(`${name}: ${err.message}`, 'error');
    button.disabled = false;
  }
  load();
  loadUnscheduled();
}

const STATUS = { timeout: 'out of time' };

function lastRun(run) {
  if (!run) return el('span', { class: 'muted' }, 'not yet');
  return el('div', {}, el('span', { class: 'badge ' + run.status, title: run.error || null }, STATUS[run.status] || run.status), ' ', timeEl(run.created_at),
    run.attempt > 1 ? el('span', { class: 'muted small' }, ` · try ${run.attempt}`) : null,
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

// Adding and editing: one form, for a new schedule or the one being edited.
const editDialog = document.getElementById('edit-dialog');
const form = document.getElementById('edit-form');
const field = (id) => document.getElementById(id);
let editing = null;

function showKindFields() {
  const type = field('s-type').value;
  field('s-dbt-field').hidden = type !== 'dbt';
  field('s-script-field').hidden = type !== 'script';
  field('s-sources-field').hidden = type === 'dbt' || type === 'script';
}
field('s-type').addEventListener('change', showKindFields);

async function edit(schedule) {
  editing = schedule ? schedule.name : null;
  form.reset();
  field('edit-error').textContent = '';
  field('edit-title').textContent = schedule ? `Edit ${schedule.name}` : 'Add schedule';
  field('s-name').readOnly = Boolean(schedule);
  let sources = [];
  let scripts = [];
  try {
    [sources, scripts] = await Promise.all([api('GET', '/api/sources'), api('GET', '/api/scripts')]);
    sources = sources.map((s) => s.name);
    scripts = scripts.map((s) => s.name);
  } catch (err) {
    field('edit-error').textContent = 'The sources and scripts could not be read: ' + err.message;
  }
  if (schedule && schedule.script_path && !scripts.includes(schedule.script_path)) scripts.push(schedule.script_path);
  field('s-script').replaceChildren(...scripts.map((name) => el('option', { value: name }, name)));
  field('s-sources').replaceChildren(...(sources.length ? sources.map((name) => el('div', { class: 'check' },
    el('input', { type: 'checkbox', id: `src-${name}`, value: name, checked: Boolean(schedule && schedule.sources.includes(name)) }),
    el('label', { for: `src-${name}` }, name))) : [el('p', { class: 'muted small' }, 'No sources are configured yet.')]));
  if (schedule) {
    field('s-name').value = schedule.name;
    field('s-type').value = schedule.type;
    field('s-dbt').value = schedule.dbt_command || '';
    if (schedule.script_path) field('s-script').value = schedule.script_path;
    field('s-cron').value = schedule.cron;
    field('s-zone').value = schedule.timezone === 'UTC' ? '' : schedule.timezone;
    field('s-timeout').value = schedule.timeout_minutes === 60 ? '' : schedule.timeout_minutes;
    field('s-enabled').checked = schedule.enabled;
  }
  showKindFields();
  const zones = field('zones');
  if (!zones.children.length && Intl.supportedValuesOf) {
    zones.replaceChildren(...Intl.supportedValuesOf('timeZone').map((z) => el('option', { value: z })));
  }
  editDialog.showModal();
  (schedule ? field('s-cron') : field('s-name')).focus();
}

function formBody() {
  const type = field('s-type').value;
  const body = { name: field('s-name').value.trim(), type, cron: field('s-cron').value.trim(), enabled: field('s-enabled').checked };
  if (type === 'dbt') body.dbt_command = field('s-dbt').value.trim();
  else if (type === 'script') body.script_path = field('s-script').value;
  else body.sources = [...field('s-sources').querySelectorAll('input:checked')].map((i) => i.value);
  const zone = field('s-zone').value.trim();
  if (zone) body.timezone = zone;
  const timeout = field('s-timeout').value;
  if (timeout) body.timeout_minutes = Number(timeout);
  return body;
}

form.addEventListener('submit', async (e) => {
  e.preventDefault();
  const body = formBody();
  const errorText = field('edit-error');
  if (!/^[a-z][a-z0-9_]*$/.test(body.name)) { errorText.textContent = 'Name: use lowercase letters, digits and underscores, starting with a letter.'; field('s-name').focus(); return; }
  if (!body.cron) { errorText.textContent = 'When: give a cron expression or a preset.'; field('s-cron').focus(); return; }
  if (body.sources && !body.sources.length) { errorText.textContent = 'Sources: pick at least one.'; return; }
  if (body.type === 'script' && !body.script_path) { errorText.textContent = 'Script: put a program in scripts/ first.'; return; }
  field('edit-save').disabled = true;
  try {
    if (editing) await api('PUT', `/api/schedules/${encodeURIComponent(editing)}`, body);
    else await api('POST', '/api/schedules', body);
    editDialog.close();
    toast(`${editing ? 'Saved' : 'Added'} ${body.name}`, 'info');
    load();
    loadUnscheduled();
  } catch (err) {
    errorText.textContent = err.message;
  }
  field('edit-save').disabled = false;
});
field('edit-cancel').addEventListener('click', () => editDialog.close());
field('add-schedule').addEventListener('click', () => edit(null));
field('reload-schedules').addEventListener('click', async (e) => {
  e.target.disabled = true;
  try {
    const r = await api('POST', '/api/schedules/reload');
    const parts = [['added', r.added], ['updated', r.updated], ['removed', r.removed]].filter(([, names]) => names.length).map(([what, names]) => `${what} ${names.join(', ')}`);
    toast(parts.length ? `Reloaded: ${parts.join('; ')}` : 'Reloaded: nothing changed', 'info');
  } catch (err) {
    toast(err.message, 'error');
  }
  e.target.disabled = false;
  load();
});
field('manage-actions').hidden = !can('scheduler.manage');

// Notifications: where they go and how the last deliveries went.
const HOOK_EXAMPLE = 'notifications:\n  webhooks:\n  - name: ops\n    url: https://example.com/dango-hook   # or a Slack webhook URL\n  on_success: false\n# sign generic payloads: DANGO_WEBHOOK_SECRET_OPS=… in .env';

async function loadNotifications() {
  const target = document.getElementById('notifications');
  let config;
  let deliveries;
  try {
    [config, deliveries] = await Promise.all([api('GET', '/api/notifications/config'), api('GET', '/api/notifications/deliveries?limit=10')]);
  } catch (err) {
    target.replaceChildren(el('p', { class: 'error', role: 'alert' }, err.message));
    return;
  }
  const testButton = document.getElementById('test-notification');
  testButton.hidden = !(config.webhooks.length && can('scheduler.manage'));
  if (!config.webhooks.length) {
    target.replaceChildren(el('p', {}, 'No webhooks: runs are not announced. Add them to .dango/schedules.yml, for example:'),
      el('pre', { class: 'sql', tabindex: '0', 'aria-label': 'Example notifications' }, HOOK_EXAMPLE));
    return;
  }
  const events = [['failures', config.on_failure], ['successes', config.on_success], ['stale sources', config.on_stale]].filter(([, on]) => on).map(([what]) => what);
  target.replaceChildren(
    el('ul', { class: 'plain' }, config.webhooks.map((h) => el('li', {}, el('span', { class: 'strong' }, h.name), ' ', el('code', {}, h.url), ' ',
      el('span', { class: 'badge' }, h.format), ' ', h.format === 'slack' ? null : el('span', { class: 'muted small' }, h.signed ? 'signed' : `unsigned (set ${h.secret_env} in .env to sign)`)))),
    el('p', { class: 'muted small' }, `Sent for ${events.join(', ') || 'nothing (every on_* switch is off)'}; stale after ${config.stale_threshold_hours} h without a sync.`),
    el('h3', { class: 'h4' }, `Last deliveries (${deliveries.total})`),
    deliveries.items.length
      ? el('ul', { class: 'plain', id: 'deliveries' }, deliveries.items.map((d) => el('li', {},
        el('span', { class: 'badge ' + (d.status === 'delivered' ? 'success' : 'failed') }, d.status), ' ', d.event, ' → ', d.webhook, ' ', timeEl(d.created_at),
        d.attempts > 1 ? el('span', { class: 'muted small' }, ` · ${d.attempts} attempts`) : null,
        d.error ? el('div', { class: 'small error' }, d.error) : null)))
      : el('p', { class: 'muted' }, 'Nothing sent yet.'));
}

document.getElementById('test-notification').addEventListener('click', async (e) => {
  e.target.disabled = true;
  try {
    const sent = await api('POST', '/api/notifications/test');
    toast(sent.status === 'sent' ? 'Test notification delivered' : 'A webhook did not take the test notification', sent.status === 'sent' ? 'info' : 'error');
  } catch (err) {
    toast(err.message, 'error');
  }
  e.target.disabled = false;
  loadNotifications();
});

// Runs end (or a schedule fires) while the page is open: show their state.
let pending = null;
onEvent((event) => {
  if (!['sync_started', 'sync_completed', 'sync_failed', 'dbt_run_started', 'dbt_run_completed', 'dbt_run_failed', 'script_started', 'script_finished'].includes(event.type)) return;
  clearTimeout(pending);
  pending = setTimeout(load, 800);
});
load();
loadUnscheduled();
loadNotifications();
