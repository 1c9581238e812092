// User management: invite people, change roles, and deactivate, unlock, sign out, reset
// or delete accounts. Invite links and temporary passwords are shown once, to copy.
// Your own row offers nothing that could lock you out.
import { api, can, el, showError, timeEl, toast } from '/static/app.js';

const ROLES = ['admin', 'editor', 'viewer'];
const manage = can('users.manage');
const $ = (id) => document.getElementById(id);
const titleCase = (s) => (s ? s[0].toUpperCase() + s.slice(1) : '');
const isPast = (iso) => Boolean(iso) && new Date(iso).getTime() < Date.now();
let myId = null;
let users = [];

async function busy(button, work) {
  if (button.disabled) return;
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  try { await work(); } finally { button.disabled = false; button.removeAttribute('aria-busy'); }
}

// ---- the once-only box for invite links and temporary passwords
function reveal(title, text, value) {
  $('reveal-title').textContent = title;
  $('reveal-text').textContent = text;
  $('reveal-value').textContent = value;
  $('reveal-copied').textContent = '';
  $('reveal').hidden = false;
  $('reveal-copy').focus();
}
$('reveal-copy').addEventListener('click', async () => {
  const source = $('reveal-value');
  try {
    await navigator.clipboard.writeText(source.textContent);
    $('reveal-copied').textContent = 'Copied to the clipboard.';
  } catch (_) {
    const range = document.createRange();
    range.selectNodeContents(source);
    getSelection().removeAllRanges();
    getSelection().addRange(range);
    $('reveal-copied').textContent = 'Selected: press Ctrl+C (⌘C on a Mac) to copy.';
  }
});
$('reveal-close').addEventListener('click', () => {
  $('reveal').hidden = true;
  $('reveal-value').textContent = '';
});

// ---- inviting
if (manage) $('invite-card').hidden = false;
$('invite-form').addEventListener('submit', (e) => {
  e.preventDefault();
  busy($('invite-submit'), async () => {
    showError('invite-error');
    const email = $('invite-email').value.trim();
    if (!email) { showError('invite-error', new Error('Enter the email address of the person to invite.')); $('invite-email').focus(); return; }
    const body = { email, role: $('invite-role').value, generate_password: $('invite-temp').checked };
    const name = $('invite-name').value.trim();
    if (name) body.display_name = name;
    try {
      const created = await api('POST', '/api/admin/users', body);
      $('invite-form').reset();
      if (created.temp_password) {
        reveal(`Temporary password for ${created.user.email}`,
          'Give it to them privately. They choose their own password when they first sign in. It won’t be shown again.', created.temp_password);
      } else if (created.invite_url) {
        reveal(`Invitation link for ${created.user.email}`,
          'Send this link to them: it lets them choose a password, works once and expires in 72 hours. It won’t be shown again.', created.invite_url);
      }
      toast(`${created.user.email} is invited as ${created.user.role}.`, 'ok');
      await load();
    } catch (err) {
      showError('invite-error', err);
    }
  });
});

// ---- the table
async function load() {
  const box = $('users');
  try {
    const list = await api('GET', '/api/admin/users');
    users = list.users;
    $('user-count').textContent = `${list.total} ${list.total === 1 ? 'user' : 'users'}`;
  } catch (err) {
    box.replaceChildren(el('p', { class: 'error' }, 'The users could not be listed: ' + err.message));
    return;
  }
  if (!users.length) { box.replaceChildren(el('p', { class: 'muted' }, 'No users yet.')); return; }
  const headings = ['User', 'Role', 'Status', 'Last login', 'Added'];
  if (manage) headings.push('Actions');
  box.replaceChildren(el('table', { class: 'list users dates', id: 'users-table' },
    el('caption', { class: 'sr-only' }, 'Users of this Dango project'),
    el('thead', {}, el('tr', {}, headings.map((h) => el('th', { scope: 'col' }, h)))),
    el('tbody', {}, users.map(row))));
}

function row(u) {
  const self = u.id === myId;
  return el('tr', { 'data-user-id': u.id, 'data-email': u.email },
    el('td', {},
      el('div', { class: 'cell-title' }, u.display_name || u.email, self ? el('span', { class: 'badge' }, 'You') : null),
      el('div', { class: 'muted small' }, u.email)),
    el('td', {}, manage && !self ? roleSelect(u) : titleCase(u.role)),
    el('td', {}, el('div', { class: 'badges' }, badges(u)),
      u.has_pending_invite && u.invite_expires_at && !isPast(u.invite_expires_at)
        ? el('div', { class: 'muted small' }, 'Link expires ', timeEl(u.invite_expires_at)) : null),
    el('td', {}, timeEl(u.last_login)),
    el('td', {}, timeEl(u.created_at)),
    manage ? el('td', {}, self
      ? el('span', { class: 'muted small' }, 'Your own account: see ', el('a', { href: '/settings/account' }, 'Account settings'))
      : actions(u)) : null);
}

function badges(u) {
  const list = [];
  if (!u.is_active) list.push(el('span', { class: 'badge failed' }, 'Deactivated'));
  else if (u.has_pending_invite) list.push(isPast(u.invite_expires_at)
    ? el('span', { class: 'badge failed' }, 'Invite expired')
    : el('span', { class: 'badge warning' }, 'Invite pending'));
  else list.push(el('span', { class: 'badge success' }, 'Active'));
  if (u.locked_until && !isPast(u.locked_until)) list.push(el('span', { class: 'badge warning' }, 'Locked until ', timeEl(u.locked_until)));
  if (u.must_change_password && !u.has_pending_invite) list.push(el('span', { class: 'badge' }, 'Temporary password'));
  if (u.totp_enabled) list.push(el('span', { class: 'badge success' }, '2FA on'));
  if (u.oauth_provider) list.push(el('span', { class: 'badge layer-source' }, titleCase(u.oauth_provider)));
  return list;
}

function roleSelect(u) {
  const select = el('select', { 'aria-label': `Role of ${u.email}` },
    ROLES.map((r) => el('option', { value: r, selected: r === u.role }, titleCase(r))));
  select.addEventListener('change', async () => {
    const role = select.value;
    if (!confirm(`Change the role of ${u.email} from ${u.role} to ${role}?`)) { select.value = u.role; return; }
    select.disabled = true;
    showError('action-error');
    try {
      await api('PUT', `/api/admin/users/${encodeURIComponent(u.id)}/role`, { role });
      toast(`${u.email} is now ${role === 'admin' ? 'an' : 'a'} ${role}.`, 'ok');
      await load();
    } catch (err) {
      select.value = u.role;
      select.disabled = false;
      showError('action-error', new Error(`${u.email}: ${err.message}`));
    }
  });
  return select;
}

function actions(u) {
  const buttons = [];
  const add = (label, options) => buttons.push(el('button', {
    type: 'button', class: 'secondary small' + (options.danger ? ' danger' : ''), 'aria-label': `${label} ${u.email}`,
    onclick: (e) => options.run(e.currentTarget),
  }, label));
  const base = `/api/admin/users/${encodeURIComponent(u.id)}`;
  if (u.is_active) {
    add('Deactivate', { run: (b) => act(b, u, `Deactivate ${u.email}? Their sessions end and their API keys stop working.`, 'POST', base + '/deactivate', () => toast(`${u.email} is deactivated.`, 'ok')) });
  } else {
    add('Reactivate', { run: (b) => act(b, u, null, 'POST', base + '/reactivate', () => toast(`${u.email} is active again.`, 'ok')) });
  }
  if (u.locked_until && !isPast(u.locked_until)) {
    add('Unlock', { run: (b) => act(b, u, null, 'POST', base + '/unlock', () => toast(`${u.email} can sign in again.`, 'ok')) });
  }
  if (u.is_active && !u.has_pending_invite) {
    add('Revoke sessions', { run: (b) => act(b, u, `Sign ${u.email} out everywhere? Their API keys keep working.`, 'POST', base + '/revoke-sessions',
      (r) => toast(`${u.email}: ${r.revoked_count} session${r.revoked_count === 1 ? '' : 's'} ended.`, 'ok')) });
  }
  if (u.is_active && u.has_pending_invite) {
    add('Resend invite', { run: (b) => act(b, u, null, 'POST', base + '/reinvite', (r) => reveal(`New invitation link for ${u.email}`,
      'Send this link to them; the previous link no longer works. It expires in 72 hours and won’t be shown again.', r.invite_url)) });
  }
  if (!u.has_pending_invite && !u.oauth_provider) {
    add('Reset password', { run: (b) => act(b, u, `Reset the password of ${u.email}? They are signed out and must choose a new password with the temporary one.`, 'POST', base + '/reset-password',
      (r) => reveal(`Temporary password for ${u.email}`, 'Give it to them privately; they must change it when they sign in. It won’t be shown again.', r.temp_password)) });
  }
  add('Delete', { danger: true, run: (b) => confirmDelete(u, b) });
  return el('div', { class: 'user-actions' }, buttons);
}

function act(button, u, question, method, path, done) {
  if (question && !confirm(question)) return;
  busy(button, async () => {
    showError('action-error');
    let result;
    try {
      result = await api(method, path);
    } catch (err) {
      showError('action-error', new Error(`${u.email}: ${err.message}`));
      return;
    }
    done(result);
    await load();
  });
}

// Deleting asks for the user's email in a row under theirs (the API checks it too).
function confirmDelete(u, trigger) {
  for (const open of document.querySelectorAll('.confirm-row')) open.remove();
  const tr = trigger.closest('tr');
  const input = el('input', { id: 'delete-confirm', autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'delete-hint' });
  const submit = el('button', { type: 'submit', class: 'danger', disabled: true }, 'Delete user');
  const cancel = () => { confirmRow.remove(); trigger.focus(); };
  const matches = () => input.value.trim().toLowerCase() === u.email.toLowerCase();
  input.addEventListener('input', () => { submit.disabled = !matches(); });
  const form = el('form', {},
    el('div', { class: 'field' },
      el('label', { for: 'delete-confirm' }, `Type ${u.email} to delete this user`),
      input),
    el('div', { class: 'button-row' }, submit, el('button', { type: 'button', class: 'secondary', onclick: cancel }, 'Cancel')));
  form.addEventListener('keydown', (e) => { if (e.key === 'Escape') cancel(); });
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    if (!matches()) return;
    busy(submit, async () => {
      showError('delete-error');
      try {
        await api('DELETE', `/api/admin/users/${encodeURIComponent(u.id)}?confirm_email=${encodeURIComponent(input.value.trim())}`);
      } catch (err) {
        showError('delete-error', err);
        return;
      }
      toast(`${u.email} is deleted.`, 'ok');
      await load();
    });
  });
  const confirmRow = el('tr', { class: 'confirm-row' }, el('td', { colspan: String(tr.children.length) },
    el('p', { id: 'delete-hint' }, el('strong', {}, `Delete ${u.display_name || u.email} for good?`),
      ' Their account, sessions and API keys are removed. Deactivating keeps the account and can be undone.'),
    form,
    el('div', { id: 'delete-error', class: 'error', role: 'alert' })));
  tr.after(confirmRow);
  input.focus();
}

async function start() {
  try { myId = (await api('GET', '/api/auth/me')).id; } catch (_) { /* the table still loads */ }
  await load();
}
start();
