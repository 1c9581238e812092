// Accepting an invitation: choose a password (and a display name).
import { api, showError } from '/static/app.js';
const token = decodeURIComponent(location.pathname.split('/').pop());
document.getElementById('form').addEventListener('submit', async (e) => {
  e.preventDefault(); showError('error');
  try {
    await api('POST', '/api/auth/accept-invite', { token, password: document.getElementById('password').value, display_name: document.getElementById('name').value || null });
    document.getElementById('form').hidden = true; document.getElementById('done').hidden = false;
  } catch (err) { showError('error', err); }
});
