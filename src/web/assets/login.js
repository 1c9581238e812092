// The sign-in page: password, then a TOTP or recovery code when 2FA is on; OAuth providers.
import { api, el, showError, nextPath } from '/static/app.js';
const params = new URLSearchParams(location.search);
if (params.get('error')) showError('error', new Error(params.get('error')));
if (params.get('requires_2fa')) { document.getElementById('password-form').hidden = true; document.getElementById('code-form').hidden = false; }
function after(result) {
  if (result.requires_2fa) {
    document.getElementById('password-form').hidden = true;
    document.getElementById('code-form').hidden = false;
    document.getElementById('code').focus();
  } else if (result.must_change_password || result.requires_2fa_setup) {
    location.href = '/setup';
  } else {
    location.href = nextPath();
  }
}
/// A lockout or rate limit: the form waits, counting down, until trying again can work.
function waitOut(form, err) {
  const button = form.querySelector('button[type=submit]');
  const box = document.getElementById('error');
  let left = Math.ceil(err.retryAfter);
  const tick = () => {
    if (left <= 0) { button.disabled = false; box.textContent = err.message + ' You can try again now.'; return; }
    button.disabled = true;
    const minutes = Math.floor(left / 60), seconds = left % 60;
    box.textContent = `${err.message}. Try again in ${minutes ? minutes + ' min ' : ''}${seconds} s.`;
    left -= 1;
    setTimeout(tick, 1000);
  };
  tick();
}
function failed(form, err) {
  if (err.retryAfter) waitOut(form, err); else showError('error', err);
}
document.getElementById('password-form').addEventListener('submit', async (e) => {
  e.preventDefault(); showError('error');
  try { after(await api('POST', '/api/auth/login', { email: document.getElementById('email').value, password: document.getElementById('password').value })); }
  catch (err) { failed(e.target, err); }
});
document.getElementById('code-form').addEventListener('submit', async (e) => {
  e.preventDefault(); showError('error');
  try { after(await api('POST', '/api/auth/2fa/verify', { code: document.getElementById('code').value })); }
  catch (err) { failed(e.target, err); if (err.status === 401) setTimeout(() => location.href = '/login', 1500); }
});
api('GET', '/api/auth/oauth/providers').then((providers) => {
  const box = document.getElementById('providers');
  for (const p of providers) box.append(el('p', {}, el('a', { class: 'button secondary', href: p.login_url }, 'Sign in with ' + p.display_name)));
}).catch(() => {});
