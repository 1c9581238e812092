// Account settings: who you are, your password, where you are signed in, your API keys
// and two-factor authentication. Secrets the server shows once (a new API key, a TOTP
// secret, recovery codes) are shown once here too, with a way to copy or download them.
import { api, el, showError, timeEl, toast } from '/static/app.js';

const ROLES = ['admin', 'editor', 'viewer'];
let me = null;

// ---- small helpers
const $ = (id) => document.getElementById(id);
const titleCase = (s) => (s ? s[0].toUpperCase() + s.slice(1) : '');

/// Runs `work` with `button` disabled (and marked busy) until it settles.
async function busy(button, work) {
  if (button.disabled) return;
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  try { await work(); } finally { button.disabled = false; button.removeAttribute('aria-busy'); }
}

/// "Chrome on Linux" from a user-agent string, good enough to recognise a device.
function describeAgent(ua) {
  if (!ua) return 'Unknown device';
  const browser = /Edg\//.test(ua) ? 'Edge' : /OPR\//.test(ua) ? 'Opera' : /Firefox\//.test(ua) ? 'Firefox'
    : /HeadlessChrome\//.test(ua) ? 'Headless Chrome' : /Chrome\//.test(ua) ? 'Chrome'
    : /Safari\//.test(ua) ? 'Safari' : /^curl\//.test(ua) ? 'curl' : null;
  const os = /Windows/.test(ua) ? 'Windows' : /iPhone|iPad/.test(ua) ? 'iOS' : /Mac OS X/.test(ua) ? 'macOS'
    : /Android/.test(ua) ? 'Android' : /Linux/.test(ua) ? 'Linux' : null;
  if (browser && os) return `${browser} on ${os}`;
  return browser || os || ua.split(/[\s/]/)[0] || 'Unknown device';
}

/// Copies the text of `source` (falls back to selecting it for Ctrl+C) and says so in `note`.
async function copyText(source, note) {
  const text = source.textContent;
  try {
    await navigator.clipboard.writeText(text);
    note.textContent = 'Copied to the clipboard.';
  } catch (_) {
    const range = document.createRange();
    range.selectNodeContents(source);
    const selection = getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    note.textContent = 'Selected: press Ctrl+C (⌘C on a Mac) to copy.';
  }
}

function isPast(iso) { return iso && new Date(iso).getTime() < Date.now(); }

// ---- profile
async function loadProfile() {
  try {
    me = await api('GET', '/api/auth/me');
  } catch (err) {
    showError('profile-error', new Error('Your account could not be loaded: ' + err.message));
    tfa.replaceChildren();
    return;
  }
  if (!me.authenticated || !me.id) {
    showError('profile-error', new Error('You are not signed in with a user account, so there are no account settings.'));
    tfa.replaceChildren();
    return;
  }
  $('profile-email').textContent = me.email;
  $('profile-name').textContent = me.display_name || '—';
  $('profile-role').textContent = titleCase(me.role);
  $('profile-method').textContent = me.oauth_provider ? titleCase(me.oauth_provider) : 'Email and password';
  $('password-username').value = me.email;
  const roleSelect = $('key-role');
  roleSelect.firstElementChild.textContent = `Same role as you (${me.role})`;
  for (const role of ROLES.slice(ROLES.indexOf(me.role) + 1)) roleSelect.append(el('option', { value: role }, titleCase(role)));
  drawTwoFactor();
}

// ---- password
$('password-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const button = $('password-submit');
  busy(button, async () => {
    showError('password-error');
    $('password-done').textContent = '';
    const current = $('current-password').value;
    const next = $('new-password').value;
    if (!current || !next) { showError('password-error', new Error('Enter your current password and a new one.')); return; }
    if (next !== $('confirm-password').value) {
      showError('password-error', new Error('The new passwords don’t match.'));
      $('confirm-password').focus();
      return;
    }
    try {
      await api('POST', '/api/auth/change-password', { current_password: current, new_password: next });
      $('password-form').reset();
      $('password-username').value = me ? me.email : '';
      $('password-done').textContent = 'Your password is changed. Every other session was signed out.';
      loadSessions();
    } catch (err) {
      showError('password-error', err);
    }
  });
});

// ---- sessions
let sessions = [];
async function loadSessions() {
  const box = $('sessions');
  try {
    sessions = await api('GET', '/api/auth/sessions');
    showError('sessions-error');
  } catch (err) {
    box.replaceChildren();
    showError('sessions-error', new Error('Your sessions could not be listed: ' + err.message));
    return;
  }
  const others = sessions.filter((s) => !s.is_current);
  $('revoke-others').hidden = others.length === 0;
  if (!sessions.length) { box.replaceChildren(el('p', { class: 'muted' }, 'No active sessions.')); return; }
  box.replaceChildren(el('table', { class: 'list dates' },
    el('caption', { class: 'sr-only' }, 'Your signed-in sessions'),
    el('thead', {}, el('tr', {}, ['Device', 'IP address', 'Signed in', 'Last active', 'Expires', el('span', { class: 'sr-only' }, 'Actions')].map((h) => el('th', { scope: 'col' }, h)))),
    el('tbody', {}, sessions.map((s) => el('tr', {},
      el('td', {}, el('div', { class: 'cell-title' }, describeAgent(s.user_agent), s.is_current ? el('span', { class: 'badge success' }, 'This session') : null),
        s.user_agent ? el('div', { class: 'muted small ua', title: s.user_agent }, s.user_agent) : null),
      el('td', { class: 'mono small' }, s.ip_address || '—'),
      el('td', {}, timeEl(s.created_at)),
      el('td', {}, timeEl(s.last_activity)),
      el('td', {}, timeEl(s.expires_at)),
      el('td', {}, s.is_current ? null : el('button', {
        type: 'button', class: 'secondary small', 'aria-label': `Revoke session: ${describeAgent(s.user_agent)}, ${s.ip_address || 'unknown address'}`,
        onclick: (e) => revokeSession(s, e.currentTarget),
      }, 'Revoke')))))));
}

function revokeSession(session, button) {
  if (!confirm(`Sign out the session on ${describeAgent(session.user_agent)}?`)) return;
  busy(button, async () => {
    showError('sessions-error');
    try {
      await api('DELETE', `/api/auth/sessions/${encodeURIComponent(session.id)}`);
      toast('The session is signed out.', 'ok');
    } catch (err) {
      showError('sessions-error', err);
    }
    await loadSessions();
  });
}

$('revoke-others').addEventListener('click', (e) => {
  const others = sessions.filter((s) => !s.is_current);
  if (!others.length || !confirm(`Sign out ${others.length} other session${others.length === 1 ? '' : 's'}?`)) return;
  busy(e.currentTarget, async () => {
    showError('sessions-error');
    const failures = [];
    for (const s of others) {
      try { await api('DELETE', `/api/auth/sessions/${encodeURIComponent(s.id)}`); } catch (err) { if (err.status !== 404) failures.push(err.message); }
    }
    if (failures.length) showError('sessions-error', new Error(`${failures.length} session(s) could not be signed out: ${failures[0]}`));
    else toast('Every other session is signed out.', 'ok');
    await loadSessions();
  });
});

// ---- API keys
async function loadKeys() {
  const box = $('keys');
  let keys;
  try {
    keys = await api('GET', '/api/auth/api-keys');
    showError('keys-error');
  } catch (err) {
    box.replaceChildren();
    showError('keys-error', new Error('Your API keys could not be listed: ' + err.message));
    return;
  }
  if (!keys.length) { box.replaceChildren(el('p', { class: 'muted empty' }, 'No API keys yet.')); return; }
  box.replaceChildren(el('table', { class: 'list dates', id: 'keys-table' },
    el('caption', { class: 'sr-only' }, 'Your API keys'),
    el('thead', {}, el('tr', {}, ['Name', 'Key', 'Acts as', 'Created', 'Last used', 'Expires', el('span', { class: 'sr-only' }, 'Actions')].map((h) => el('th', { scope: 'col' }, h)))),
    el('tbody', {}, keys.map((k) => el('tr', { 'data-key-id': k.id },
      el('td', { class: 'cell-title' }, k.name),
      el('td', {}, el('code', { class: 'small' }, k.key_prefix + '…')),
      el('td', {}, k.role ? titleCase(k.role) : el('span', { class: 'muted' }, 'Your role')),
      el('td', {}, timeEl(k.created_at)),
      el('td', {}, timeEl(k.last_used_at)),
      el('td', {}, timeEl(k.expires_at), isPast(k.expires_at) ? [' ', el('span', { class: 'badge failed' }, 'Expired')] : null),
      el('td', {}, el('button', {
        type: 'button', class: 'secondary small', 'aria-label': `Revoke API key ${k.name}`,
        onclick: (e) => revokeKey(k, e.currentTarget),
      }, 'Revoke')))))));
}

function revokeKey(key, button) {
  if (!confirm(`Revoke the API key “${key.name}”? Anything using it stops working.`)) return;
  busy(button, async () => {
    showError('keys-error');
    try {
      await api('DELETE', `/api/auth/api-keys/${encodeURIComponent(key.id)}`);
      toast(`The API key “${key.name}” is revoked.`, 'ok');
    } catch (err) {
      showError('keys-error', err);
    }
    await loadKeys();
  });
}

$('key-form').addEventListener('submit', (e) => {
  e.preventDefault();
  busy($('key-submit'), async () => {
    showError('key-error');
    const name = $('key-name').value.trim();
    if (!name) { showError('key-error', new Error('Give the key a name, so you know later what uses it.')); $('key-name').focus(); return; }
    const body = { name };
    const days = Number($('key-expiry').value);
    if (days) body.expires_at = new Date(Date.now() + days * 86400000).toISOString();
    if ($('key-role').value) body.role = $('key-role').value;
    try {
      const created = await api('POST', '/api/auth/api-keys', body);
      $('key-form').reset();
      $('new-key-name').textContent = created.name;
      $('new-key-value').textContent = created.key;
      $('new-key-copied').textContent = '';
      $('new-key').hidden = false;
      $('new-key-copy').focus();
      await loadKeys();
    } catch (err) {
      showError('key-error', err);
    }
  });
});
$('new-key-copy').addEventListener('click', () => copyText($('new-key-value'), $('new-key-copied')));
$('new-key-close').addEventListener('click', () => {
  $('new-key').hidden = true;
  $('new-key-value').textContent = '';
  $('key-name').focus();
});

// ---- two-factor authentication
const tfa = $('tfa');
let codesUrl = null;

function drawTwoFactor(newCodes) {
  showError('tfa-error');
  const on = Boolean(me.totp_enabled);
  $('tfa-state').replaceChildren(el('span', { class: on ? 'badge success' : 'badge' }, on ? 'On' : 'Off'));
  if (on) drawEnabled(newCodes);
  else drawDisabled();
}

function passwordField(id, label = 'Your password') {
  return [el('label', { for: id }, label), el('input', { id, type: 'password', autocomplete: 'current-password', required: true })];
}

function codeField(id, label) {
  return [el('label', { for: id }, label),
    el('input', { id, inputmode: 'numeric', autocomplete: 'one-time-code', pattern: '[0-9 ]{6,7}', maxlength: '7', required: true, class: 'code-input' })];
}

function drawDisabled() {
  const form = el('form', { id: 'tfa-setup-form', class: 'field-form' },
    ...passwordField('tfa-setup-password', 'Confirm your password to begin'),
    el('p', { class: 'form-actions' }, el('button', { type: 'submit', id: 'tfa-setup' }, 'Set up 2FA')));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    busy($('tfa-setup'), async () => {
      showError('tfa-error');
      try {
        drawSetup(await api('POST', '/api/auth/2fa/setup', { password: $('tfa-setup-password').value }));
      } catch (err) { showError('tfa-error', err); }
    });
  });
  tfa.replaceChildren(
    el('p', {}, 'Two-factor authentication is off. Turn it on to ask for a 6-digit code from an authenticator app (such as 1Password, Google Authenticator or Aegis) each time you sign in.'),
    form);
}

function recoveryCodes(codes, heading) {
  if (codesUrl) URL.revokeObjectURL(codesUrl);
  const text = `Dango recovery codes for ${me.email}\nEach code works once, when you can't use your authenticator app.\n\n${codes.join('\n')}\n`;
  codesUrl = URL.createObjectURL(new Blob([text], { type: 'text/plain' }));
  return el('div', { class: 'reveal', id: 'recovery' },
    el('p', { class: 'reveal-title' }, heading),
    el('p', {}, 'Each code signs you in once if you lose your authenticator app. Keep them somewhere safe: ', el('strong', {}, 'they won’t be shown again.')),
    el('ul', { class: 'recovery-codes', 'aria-label': 'Recovery codes' }, codes.map((c) => el('li', {}, c))),
    el('p', { class: 'reveal-actions' }, el('a', { class: 'button secondary small', href: codesUrl, download: 'dango-recovery-codes.txt' }, 'Download as text')));
}

function drawSetup(setup) {
  const grouped = setup.secret.replace(/(.{4})(?=.)/g, '$1 ');
  const verify = el('form', { id: 'tfa-verify-form', class: 'field-form' },
    ...codeField('tfa-code', '6-digit code from the app'),
    el('div', { class: 'button-row form-actions' },
      el('button', { type: 'submit', id: 'tfa-verify' }, 'Turn on 2FA'),
      el('button', { type: 'button', class: 'secondary', onclick: () => drawTwoFactor() }, 'Cancel')));
  verify.addEventListener('submit', (e) => {
    e.preventDefault();
    busy($('tfa-verify'), async () => {
      showError('tfa-error');
      try {
        await api('POST', '/api/auth/2fa/verify-setup', { code: $('tfa-code').value.replace(/\s/g, '') });
        me.totp_enabled = true;
        toast('Two-factor authentication is on.', 'ok');
        drawTwoFactor();
        $('tfa-heading').focus();
      } catch (err) {
        showError('tfa-error', err);
        $('tfa-code').select();
      }
    });
  });
  tfa.replaceChildren(el('ol', { class: 'steps' },
    el('li', {},
      el('h3', {}, 'Scan the QR code'),
      el('p', {}, 'Open your authenticator app and add an account by scanning this code.'),
      setup.qr_code ? el('img', { class: 'qr', src: setup.qr_code, alt: 'QR code for your authenticator app', width: '200', height: '200' }) : null,
      el('p', { class: 'small' }, 'Can’t scan it? Enter this key in the app instead:'),
      el('code', { class: 'secret', id: 'tfa-secret' }, grouped)),
    el('li', {},
      el('h3', {}, 'Save your recovery codes'),
      recoveryCodes(setup.recovery_codes, `${setup.recovery_codes.length} recovery codes`)),
    el('li', {},
      el('h3', {}, 'Enter a code to confirm'),
      el('p', {}, 'Type the 6-digit code the app shows now. 2FA is on only after this step.'),
      verify)));
  $('tfa-code').focus({ preventScroll: true });
}

function drawEnabled(newCodes) {
  const regen = el('form', { id: 'tfa-regen-form', class: 'field-form' },
    ...passwordField('tfa-regen-password'),
    ...codeField('tfa-regen-code', 'Code from the app'),
    el('p', { class: 'form-actions' }, el('button', { type: 'submit', class: 'secondary', id: 'tfa-regen' }, 'Regenerate recovery codes')));
  regen.addEventListener('submit', (e) => {
    e.preventDefault();
    busy($('tfa-regen'), async () => {
      showError('tfa-error');
      try {
        const { recovery_codes: codes } = await api('POST', '/api/auth/2fa/regenerate-recovery', { password: $('tfa-regen-password').value, code: $('tfa-regen-code').value.replace(/\s/g, '') });
        drawTwoFactor(codes);
        toast('New recovery codes: the old ones no longer work.', 'ok');
        $('recovery').scrollIntoView({ block: 'nearest' });
      } catch (err) { showError('tfa-error', err); }
    });
  });
  const disable = el('form', { id: 'tfa-disable-form', class: 'field-form' },
    ...passwordField('tfa-disable-password'),
    el('p', { class: 'form-actions' }, el('button', { type: 'submit', class: 'danger', id: 'tfa-disable' }, 'Disable 2FA')));
  disable.addEventListener('submit', (e) => {
    e.preventDefault();
    if (!confirm('Turn off two-factor authentication? Signing in will need only your password.')) return;
    busy($('tfa-disable'), async () => {
      showError('tfa-error');
      try {
        await api('POST', '/api/auth/2fa/disable', { password: $('tfa-disable-password').value });
        me.totp_enabled = false;
        toast('Two-factor authentication is off.', 'ok');
        drawTwoFactor();
      } catch (err) { showError('tfa-error', err); }
    });
  });
  tfa.replaceChildren(...[
    el('p', { id: 'tfa-on' }, 'Two-factor authentication is on: signing in asks for a code from your authenticator app, or one of your recovery codes.'),
    newCodes ? recoveryCodes(newCodes, 'Your new recovery codes') : null,
    el('div', { class: 'split' },
      el('div', {}, el('h3', {}, 'New recovery codes'),
        el('p', { class: 'muted small' }, 'Replaces all your recovery codes, used or not.'), regen),
      el('div', {}, el('h3', {}, 'Turn off 2FA'),
        el('p', { class: 'muted small' }, 'Signing in will ask only for your password.'), disable)),
  ].filter(Boolean));
}
$('tfa-heading').tabIndex = -1;

loadProfile();
loadSessions();
loadKeys();
