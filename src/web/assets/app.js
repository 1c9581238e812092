// Shared helpers for Dango's pages: JSON API calls with the CSRF header.
async function api(method, path, body) {
  const options = { method, headers: { 'X-Requested-With': 'dango-ui' }, credentials: 'same-origin' };
  if (body !== undefined) {
    options.headers['Content-Type'] = 'application/json';
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  let data = null;
  try { data = await response.json(); } catch (_) { /* empty body */ }
  if (!response.ok) {
    const detail = (data && data.detail) || response.statusText;
    const issues = data && data.issues ? '\n' + data.issues.join('\n') : '';
    const error = new Error(detail + issues);
    error.status = response.status;
    error.data = data;
    throw error;
  }
  return data;
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') node.className = v; else if (k.startsWith('on')) node.addEventListener(k.slice(2), v); else node.setAttribute(k, v);
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(child ?? ''));
  return node;
}

function showError(id, err) {
  const box = document.getElementById(id);
  if (box) box.textContent = err ? (err.message || String(err)) : '';
}

function nextPath() {
  const next = new URLSearchParams(location.search).get('next');
  return next && next.startsWith('/') && !next.startsWith('//') ? next : '/';
}
