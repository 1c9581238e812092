// The dbt docs page: the project tree, the lineage graph and a model's documentation, from
// /manifest.json and /catalog.json.
import { api, el } from '/static/app.js';
let manifest, catalog, selected = null;
const kindOf = (id) => id.split('.')[0];
function nodeOf(id) { return manifest.nodes[id] || manifest.sources[id]; }
// Model names come from file names: escape everything that goes into the SVG markup.
function escapeXml(text) { return String(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;'); }
function labelOf(id) { const n = nodeOf(id); return n ? (n.resource_type === 'source' ? `${n.source_name}.${n.name}` : n.name) : id; }
function graphIds() {
  return [...Object.keys(manifest.sources), ...Object.keys(manifest.nodes).filter((id) => ['model', 'seed', 'snapshot'].includes(kindOf(id)))];
}
function layers(ids) {
  const depth = {};
  const visit = (id, seen = new Set()) => {
    if (depth[id] !== undefined) return depth[id];
    if (seen.has(id)) return 0;
    seen.add(id);
    const parents = (manifest.parent_map[id] || []).filter((p) => ids.includes(p));
    depth[id] = parents.length ? Math.max(...parents.map((p) => visit(p, seen) + 1)) : 0;
    return depth[id];
  };
  ids.forEach((id) => visit(id));
  return depth;
}
function drawGraph() {
  const ids = graphIds();
  const depth = layers(ids);
  const columns = {};
  ids.sort((a, b) => labelOf(a).localeCompare(labelOf(b))).forEach((id) => (columns[depth[id]] ||= []).push(id));
  const W = 190, H = 30, GX = 70, GY = 14, pos = {};
  Object.entries(columns).forEach(([d, list]) => list.forEach((id, i) => (pos[id] = { x: 20 + d * (W + GX), y: 20 + i * (H + GY) })));
  const width = 40 + (Object.keys(columns).length) * (W + GX), height = 40 + Math.max(1, ...Object.values(columns).map((l) => l.length)) * (H + GY);
  const near = new Set(selected ? [selected, ...(manifest.parent_map[selected] || []), ...(manifest.child_map[selected] || [])] : []);
  let svg = `<svg width="${width}" height="${height}" xmlns="http://www.w3.org/2000/svg">`;
  for (const id of ids) for (const p of manifest.parent_map[id] || []) {
    if (!pos[p]) continue;
    const a = pos[p], b = pos[id], x1 = a.x + W, y1 = a.y + H / 2, x2 = b.x, y2 = b.y + H / 2;
    svg += `<path class="edge ${selected && (id === selected || p === selected) ? 'near' : ''}" d="M${x1},${y1} C${x1 + GX / 2},${y1} ${x2 - GX / 2},${y2} ${x2},${y2}"/>`;
  }
  for (const id of ids) {
    const p = pos[id], label = labelOf(id), short = label.length > 26 ? label.slice(0, 25) + '…' : label;
    svg += `<g class="node ${kindOf(id)} ${id === selected ? 'selected' : ''}" data-id="${escapeXml(id)}" opacity="${!selected || near.has(id) ? 1 : 0.45}"><rect x="${p.x}" y="${p.y}" width="${W}" height="${H}"/><text x="${p.x + 10}" y="${p.y + 19}">${escapeXml(short)}</text><title>${escapeXml(id)}</title></g>`;
  }
  document.getElementById('graph').innerHTML = svg + '</svg>';
  document.querySelectorAll('#graph .node').forEach((g) => g.addEventListener('click', () => show(g.dataset.id)));
}
function drawTree() {
  const tree = document.getElementById('tree');
  tree.innerHTML = '';
  const groups = { Sources: Object.keys(manifest.sources), Models: [], Seeds: [], Snapshots: [] };
  for (const id of Object.keys(manifest.nodes)) {
    const k = kindOf(id);
    if (k === 'model') groups.Models.push(id); else if (k === 'seed') groups.Seeds.push(id); else if (k === 'snapshot') groups.Snapshots.push(id);
  }
  for (const [title, list] of Object.entries(groups)) {
    if (!list.length) continue;
    tree.append(el('h4', {}, `${title} (${list.length})`));
    list.sort((a, b) => labelOf(a).localeCompare(labelOf(b))).forEach((id) => {
      const a = el('a', { href: '#' + encodeURIComponent(id), class: id === selected ? 'active' : '' }, labelOf(id));
      a.addEventListener('click', (e) => { e.preventDefault(); show(id); });
      tree.append(a);
    });
  }
}
function show(id) {
  selected = id;
  history.replaceState(null, '', '#' + encodeURIComponent(id));
  drawTree(); drawGraph();
  const n = nodeOf(id), c = (catalog.nodes || {})[id] || (catalog.sources || {})[id];
  const box = document.getElementById('detail');
  box.innerHTML = '';
  box.append(el('h2', {}, labelOf(id)), el('p', { class: 'muted' }, `${n.resource_type} · ${n.relation_name || ''} ${n.config && n.config.materialized ? '· ' + n.config.materialized : ''}`));
  if (n.description) box.append(el('p', {}, n.description));
  const cols = el('table', {}, el('tr', {}, el('th', {}, 'Column'), el('th', {}, 'Type'), el('th', {}, 'Description')));
  const names = new Set([...Object.keys((c && c.columns) || {}), ...Object.keys(n.columns || {})]);
  for (const name of names) {
    const type = c && c.columns[name] ? c.columns[name].type : ((n.columns[name] || {}).data_type || '');
    cols.append(el('tr', {}, el('td', {}, name), el('td', {}, type), el('td', {}, (n.columns[name] || {}).description || '')));
  }
  box.append(el('h3', {}, 'Columns'), cols);
  const links = (title, list) => {
    if (!list || !list.length) return;
    const p = el('p', {}, el('strong', {}, title + ': '));
    list.filter((x) => !x.startsWith('test.')).forEach((x, i) => { if (i) p.append(', '); const a = el('a', { href: '#' }, labelOf(x)); a.addEventListener('click', (e) => { e.preventDefault(); show(x); }); p.append(a); });
    box.append(p);
  };
  links('Depends on', manifest.parent_map[id]);
  links('Referenced by', manifest.child_map[id]);
  const tests = (manifest.child_map[id] || []).filter((x) => x.startsWith('test.'));
  if (tests.length) box.append(el('p', {}, el('strong', {}, 'Tests: '), tests.map((t) => manifest.nodes[t] ? manifest.nodes[t].name : t).join(', ')));
  if (n.raw_code) box.append(el('h3', {}, 'SQL'), el('pre', {}, n.raw_code));
  if (n.compiled_code) box.append(el('h3', {}, 'Compiled SQL'), el('pre', {}, n.compiled_code));
}
(async () => {
  try {
    [manifest, catalog] = await Promise.all([api('GET', '/manifest.json'), api('GET', '/catalog.json').catch(() => ({ nodes: {}, sources: {} }))]);
  } catch (err) {
    document.getElementById('tree').textContent = err.status === 404 ? 'No dbt artifacts yet: sync a source or run dbt first.' : err.message;
    return;
  }
  drawTree(); drawGraph();
  const hash = decodeURIComponent(location.hash.slice(1));
  if (hash && nodeOf(hash)) show(hash);
})();
