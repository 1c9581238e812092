// The catalog's lineage graph: the server lays it out and draws it (GET
// /catalog/{name}/lineage, SVG whose every name the template escaped); this module asks for
// it, and lets the reader pan (drag, arrow keys), zoom (wheel, + and -, 0 to fit), see
// the edges of the box under the pointer or focus, and open a box in the catalog.
import { api, el, formatNumber } from '/static/app.js';

const view = document.getElementById('lineage-view');
const note = document.getElementById('lineage-note');
const section = document.getElementById('lineage');
const upSelect = document.getElementById('lineage-up');
const downSelect = document.getElementById('lineage-down');
let focusName = null;
let openNode = () => {};
let box = null; // the viewBox: { x, y, w, h }
let full = null; // the whole drawing: { w, h }

/// Shows the graph around `name`; `onOpen(name)` runs when a box is chosen.
export async function showLineage(name, onOpen) {
  focusName = name;
  openNode = onOpen;
  section.hidden = false;
  await draw();
}

async function draw() {
  const name = focusName;
  const query = `upstream=${upSelect.value}&downstream=${downSelect.value}`;
  note.textContent = 'Drawing…';
  let text;
  try {
    const response = await fetch(`/catalog/${encodeURIComponent(name)}/lineage?${query}`, { headers: { 'X-Requested-With': 'dango-ui' } });
    text = await response.text();
    if (!response.ok) throw new Error(JSON.parse(text).detail || response.statusText);
  } catch (err) {
    if (name !== focusName) return;
    view.replaceChildren();
    note.textContent = 'The lineage graph could not be drawn: ' + err.message;
    return;
  }
  if (name !== focusName) return;
  // The server's own SVG, parsed as XML (never as HTML), so nothing in it runs.
  const parsed = new DOMParser().parseFromString(text, 'image/svg+xml').documentElement;
  if (parsed.nodeName !== 'svg') { note.textContent = 'The lineage graph could not be read.'; return; }
  const graph = document.importNode(parsed, true);
  full = { w: Number(graph.dataset.width) || 1, h: Number(graph.dataset.height) || 1 };
  const nodes = graph.querySelectorAll('a.node');
  const upCount = [...nodes].filter((n) => Number(n.dataset.distance) < 0).length;
  const downCount = [...nodes].filter((n) => Number(n.dataset.distance) > 0).length;
  note.textContent = `${formatNumber(upCount)} upstream, ${formatNumber(downCount)} downstream. Drag to move, scroll or press + and − to zoom, 0 to fit.`;
  for (const node of nodes) {
    node.addEventListener('click', (e) => {
      e.preventDefault();
      if (!dragged) openNode(node.dataset.name);
    });
    const light = (on) => graph.querySelectorAll('path.edge').forEach((edge) => {
      if (edge.dataset.from === node.dataset.id || edge.dataset.to === node.dataset.id) edge.classList.toggle('lit', on);
    });
    node.addEventListener('pointerenter', () => light(true));
    node.addEventListener('pointerleave', () => light(false));
    node.addEventListener('focus', () => light(true));
    node.addEventListener('blur', () => light(false));
  }
  view.replaceChildren(graph);
  fit();
}

function apply() {
  const graph = view.querySelector('svg');
  if (graph && box) graph.setAttribute('viewBox', `${box.x} ${box.y} ${box.w} ${box.h}`);
}

/// The whole graph, or 1:1 when it is smaller than the view, centred.
function fit() {
  if (!full) return;
  // A small graph gets a small view; a large one the most the page allows.
  view.style.height = Math.round(Math.max(220, Math.min(full.h + 48, window.innerHeight * 0.6, 520))) + 'px';
  const width = view.clientWidth || 800, height = view.clientHeight || 400;
  const scale = Math.min(1, width / full.w, height / full.h);
  const w = width / scale, h = height / scale;
  box = { x: (full.w - w) / 2, y: (full.h - h) / 2, w, h };
  apply();
}

function zoom(factor, cx = 0.5, cy = 0.5) {
  if (!box) return;
  const w = Math.min(Math.max(box.w * factor, 80), full.w * 8), h = box.h * (w / box.w);
  box = { x: box.x + (box.w - w) * cx, y: box.y + (box.h - h) * cy, w, h };
  apply();
}

function pan(dx, dy) {
  if (!box) return;
  box = { ...box, x: box.x + dx, y: box.y + dy };
  apply();
}

let dragged = false;
let start = null;
view.addEventListener('pointerdown', (e) => {
  if (!box || e.button !== 0) return;
  start = { x: e.clientX, y: e.clientY, box: { ...box } };
  dragged = false;
});
view.addEventListener('pointermove', (e) => {
  if (!start) return;
  const dx = e.clientX - start.x, dy = e.clientY - start.y;
  if (!dragged && Math.hypot(dx, dy) < 4) return;
  if (!dragged) { dragged = true; view.setPointerCapture(e.pointerId); view.classList.add('dragging'); }
  const scale = start.box.w / view.clientWidth;
  box = { ...start.box, x: start.box.x - dx * scale, y: start.box.y - dy * scale };
  apply();
});
const endDrag = () => { start = null; view.classList.remove('dragging'); setTimeout(() => { dragged = false; }, 0); };
view.addEventListener('pointerup', endDrag);
view.addEventListener('pointercancel', endDrag);
view.addEventListener('wheel', (e) => {
  if (!box) return;
  e.preventDefault();
  const rect = view.getBoundingClientRect();
  zoom(e.deltaY > 0 ? 1.15 : 1 / 1.15, (e.clientX - rect.left) / rect.width, (e.clientY - rect.top) / rect.height);
}, { passive: false });
view.addEventListener('keydown', (e) => {
  const step = box ? box.w / 10 : 0;
  const actions = {
    '+': () => zoom(1 / 1.25), '=': () => zoom(1 / 1.25), '-': () => zoom(1.25), '0': fit,
    ArrowLeft: () => pan(-step, 0), ArrowRight: () => pan(step, 0), ArrowUp: () => pan(0, -step), ArrowDown: () => pan(0, step),
  };
  if (actions[e.key] && e.target === view) { e.preventDefault(); actions[e.key](); }
});
document.getElementById('lineage-zoom-in').addEventListener('click', () => zoom(1 / 1.25));
document.getElementById('lineage-zoom-out').addEventListener('click', () => zoom(1.25));
document.getElementById('lineage-fit').addEventListener('click', fit);
upSelect.addEventListener('change', () => focusName && draw());
downSelect.addEventListener('change', () => focusName && draw());
window.addEventListener('resize', () => fit());

// Impact: everything downstream, and what changing this node would touch.
document.getElementById('lineage-impact').addEventListener('click', async () => {
  if (!focusName) return;
  upSelect.value = '0';
  downSelect.value = '10';
  await draw();
  try {
    const impact = await api('GET', '/api/catalog/impact/' + encodeURIComponent(focusName));
    const total = impact.total_downstream_count;
    note.replaceChildren(el('strong', {}, `Changing ${focusName} affects ${formatNumber(total)} ${total === 1 ? 'node' : 'nodes'} downstream`),
      impact.direct_dependents.length ? `, ${impact.direct_dependents.length} of them directly: ${impact.direct_dependents.map((id) => id.split('.').pop()).join(', ')}.` : '.');
  } catch (err) {
    note.textContent = 'The impact could not be worked out: ' + err.message;
  }
});
