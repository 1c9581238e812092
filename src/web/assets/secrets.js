// The secrets page: the names of .env's variables with what reads each, a form that sets
// one (the value typed like a password and never shown again) and removing one.
import { api, el, toast } from '/static/app.js';

const box = document.getElementById('secrets');
const errorBox = document.getElementById('secrets-error');
const form = document.getElementById('secret-form');
const keyInput = document.getElementById('secret-key');
const valueInput = document.getElementById('secret-value');
const formError = document.getElementById('secret-form-error');

async function load() {
  let list;
  try {
    list = await api('GET', '/api/secrets');
    errorBox.textContent = '';
  } catch (err) {
    box.replaceChildren();
    errorBox.textContent = 'The secrets could not be read: ' + err.message;
    return;
  }
  if (!list.env_vars.length) {
    box.replaceChildren(el('p', { class: 'muted' }, 'No variables yet: .env is empty or missing.'));
    return;
  }
  box.replaceChildren(el('table', { class: 'list stack' },
    el('thead', {}, el('tr', {}, ['Name', 'Value', 'Used by', ''].map((h) => el('th', { scope: 'col' }, h)))),
    el('tbody', {}, list.env_vars.map((v) => el('tr', { 'data-key': v.key },
      el('td', { class: 'lead' }, el('code', {}, v.key)),
      el('td', { 'data-label': 'Value' }, el('span', { class: 'muted' }, v.masked_value)),
      el('td', { 'data-label': 'Used by' }, v.used_by.length ? v.used_by.join(', ') : el('span', { class: 'muted' }, 'nothing configured')),
      el('td', { class: 'actions' }, el('div', { class: 'row-actions' },
        el('button', { type: 'button', class: 'small secondary', 'aria-label': `Change ${v.key}`, onclick: () => change(v.key) }, 'Change'),
        el('button', { type: 'button', class: 'small danger', 'aria-label': `Remove ${v.key}`, onclick: (e) => remove(v.key, e.target) }, 'Remove'))))))));
}

function change(key) {
  keyInput.value = key;
  valueInput.value = '';
  valueInput.focus();
}

async function remove(key, button) {
  if (!confirm(`Remove ${key} from .env? Whatever reads it stops working until it is set again.`)) return;
  button.disabled = true;
  try {
    await api('DELETE', `/api/secrets/${encodeURIComponent(key)}`);
    toast(`Removed ${key}`, 'info');
  } catch (err) {
    toast(`${key}: ${err.message}`, 'error');
  }
  load();
}

form.addEventListener('submit', async (e) => {
  e.preventDefault();
  const key = keyInput.value.trim();
  formError.textContent = '';
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) { formError.textContent = 'Name: letters, digits and underscores, not starting with a digit.'; keyInput.focus(); return; }
  document.getElementById('secret-save').disabled = true;
  try {
    const result = await api('POST', '/api/secrets', { key, value: valueInput.value });
    toast(`${key} ${result.action}`, 'info');
    form.reset();
    load();
  } catch (err) {
    formError.textContent = err.message;
  }
  document.getElementById('secret-save').disabled = false;
});
load();
