// The forced password change after signing in with a temporary password.
import { api, showError } from '/static/app.js';
document.getElementById('form').addEventListener('submit', async (e) => {
  e.preventDefault(); showError('error');
  try {
    await api('POST', '/api/auth/change-password', { current_password: document.getElementById('current').value, new_password: document.getElementById('next').value });
    location.href = '/';
  } catch (err) { showError('error', err); if (err.status === 401) location.href = '/login'; }
});
