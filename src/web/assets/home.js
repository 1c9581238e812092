// The overview page: the signed-in user, platform health and its issues.
(async () => {
  const me = await api('GET', '/api/auth/me');
  if (me.auth_enabled && !me.authenticated) { location.href = '/login?next=/'; return; }
  document.getElementById('user').textContent = me.user ? `${me.user.email} (${me.role})` : 'local admin';
  const health = await api('GET', '/api/health/platform');
  const stats = document.getElementById('stats');
  for (const [label, value] of [['Status', health.status], ['Tables', health.database.tables], ['Warehouse MB', health.database.size_mb], ['Free disk GB', health.disk.free_gb], ['Sources', health.total_sources]]) {
    stats.append(el('div', { class: 'card' }, el('div', { class: 'muted' }, label), el('div', { class: 'stat' }, String(value))));
  }
  const issues = [...health.critical_issues, ...health.warnings];
  document.getElementById('health').textContent = issues.length ? issues.join('\n') : 'No issues.';
})().catch((err) => showError('health', err));
