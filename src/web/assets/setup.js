// Finishing an account: the forced password change after a temporary password, then the
// 2FA enrolment the platform requires (the server draws the QR code), then on to the app.
import { api, el, nextPath, showError } from '/static/app.js';

const card = document.querySelector('.setup');
const needs2fa = card && card.getAttribute('data-needs-2fa') === 'true';
const passwordStep = document.getElementById('password-step');
const tfaStep = document.getElementById('tfa-step');
let chosenPassword = null;

function done() { location.href = nextPath(); }

if (passwordStep) {
  passwordStep.addEventListener('submit', async (e) => {
    e.preventDefault(); showError('error');
    const button = passwordStep.querySelector('button');
    button.disabled = true;
    try {
      chosenPassword = document.getElementById('next').value;
      await api('POST', '/api/auth/change-password', { current_password: document.getElementById('current').value, new_password: chosenPassword });
      if (!needs2fa) { done(); return; }
      passwordStep.hidden = true;
      tfaStep.hidden = false;
      document.getElementById('tfa-password').value = chosenPassword;
      document.getElementById('tfa-start').requestSubmit();
    } catch (err) {
      showError('error', err);
      if (err.status === 401) location.href = '/login?next=%2Fsetup';
    } finally {
      button.disabled = false;
    }
  });
}

const start = document.getElementById('tfa-start');
if (start) {
  start.addEventListener('submit', async (e) => {
    e.preventDefault(); showError('error');
    try {
      const setup = await api('POST', '/api/auth/2fa/setup', { password: document.getElementById('tfa-password').value });
      document.getElementById('tfa-qr').src = setup.qr_code;
      document.getElementById('tfa-secret').textContent = setup.secret;
      document.getElementById('tfa-codes').replaceChildren(...setup.recovery_codes.map((c) => el('li', {}, c)));
      start.hidden = true;
      document.getElementById('tfa-enrol').hidden = false;
      document.getElementById('tfa-code').focus();
    } catch (err) { showError('error', err); }
  });
  document.getElementById('tfa-verify').addEventListener('submit', async (e) => {
    e.preventDefault(); showError('error');
    try {
      await api('POST', '/api/auth/2fa/verify-setup', { code: document.getElementById('tfa-code').value.trim() });
      done();
    } catch (err) { showError('error', err); }
  });
}
