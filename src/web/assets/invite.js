// Accepting an invitation: choose a password (and a display name).
const token = decodeURIComponent(location.pathname.split('/').pop());
document.getElementById('form').addEventListener('submit', async (e) => {
  e.preventDefault(); showError('error');
  try {
    await api('POST', '/api/auth/accept-invite', { token, password: password.value, display_name: name.value || null });
    document.getElementById('form').hidden = true; document.getElementById('done').hidden = false;
  } catch (err) { showError('error', err); }
});
