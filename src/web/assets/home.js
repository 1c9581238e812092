// The overview page: the signed-in user, platform health and its issues.
import { api, el, showError } from '/static/app.js';
(async () => {
  const me = await api('GET', '/api/auth/me');
  if (me.auth_enabled && !me.authenticated) { location.href = '/login?next=/'; return; }
  const health = await api('GET', '/api/health/platform');
  const stats = document.getElementById('stats');
  for (const [label, value] of [['Status', health.status], ['Tables', health.database.tables], ['Warehouse MB', health.database.size_mb], ['Free disk GB', health.disk.free_gb], ['Sources', health.total_sources]]) {
    stats.append(el('div', { class: 'card stat-card' }, el('div', { class: 'muted' }, label), el('div', { class: 'stat' }, String(value))));
  }
  const issues = [...health.critical_issues, ...health.warnings];
  document.getElementById('health').textContent = issues.length ? issues.join('\n') : 'No issues.';
})().catch((err) => showError('health', err));
