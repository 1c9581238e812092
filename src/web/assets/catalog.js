// The data catalog: every source table and model by layer, search as you type, and a
// detail pane with the columns and their profile, tests, raw and compiled SQL, and
// lineage (the models up and down, and where each column comes from).
import { api, el, formatNumber, tabList, timeEl, toast } from '/static/app.js';
import { highlighted } from '/static/sql-highlight.js';
import { showLineage } from '/static/lineage.js';

const root = document.querySelector('.catalog');
const entriesBox = document.getElementById('entries');
const detail = document.getElementById('detail');
let entries = [];
let layer = 'all';

const LAYER_OF = { source: 'sources', staging: 'staging', intermediate: 'intermediate', marts: 'marts', seed: 'seeds' };

async function load() {
  try {
    const catalog = await api('GET', '/api/catalog/models');
    entries = [...catalog.sources, ...catalog.models];
    const counts = { all: entries.length };
    for (const entry of entries) counts[LAYER_OF[entry.type] || 'marts'] = (counts[LAYER_OF[entry.type] || 'marts'] || 0) + 1;
    document.querySelectorAll('[data-count]').forEach((span) => { span.textContent = String(counts[span.dataset.count] || 0); });
    drawList();
    const wanted = root.dataset.selected || decodeURIComponent(location.hash.slice(1));
    if (wanted) open(wanted);
  } catch (err) {
    entriesBox.replaceChildren(el('p', { class: 'error pad' }, 'The catalog could not be loaded: ' + err.message));
  }
}

function drawList() {
  const shown = entries.filter((e) => layer === 'all' || (LAYER_OF[e.type] || 'marts') === layer);
  if (!shown.length) {
    entriesBox.replaceChildren(el('p', { class: 'muted pad' }, entries.length ? 'Nothing in this layer.' : 'No models or source tables yet: sync a source or add a dbt model.'));
    return;
  }
  const rows = shown.map((e) => el('tr', { 'data-name': e.name },
    el('td', {}, el('a', { href: '/catalog/' + encodeURIComponent(e.name), onclick: (ev) => { ev.preventDefault(); open(e.name); } }, e.name),
      e.description ? el('div', { class: 'muted small clamp' }, e.description) : null),
    el('td', {}, el('span', { class: 'badge layer-' + e.type }, e.type)),
    el('td', { class: 'mono small' }, e.schema),
    el('td', { class: 'num' }, formatNumber(e.row_count)),
    el('td', {}, e.test_count ? testsBadge(e) : el('span', { class: 'muted' }, '—')),
    el('td', {}, e.status ? el('span', { class: 'badge ' + e.status }, e.status) : el('span', { class: 'muted' }, '—'))));
  entriesBox.replaceChildren(el('table', { class: 'list' },
    el('thead', {}, el('tr', {}, ['Name', 'Type', 'Schema', 'Rows', 'Tests', 'Status'].map((h) => el('th', { scope: 'col' }, h)))),
    el('tbody', {}, rows)));
  markSelected();
}

function testsBadge(e) {
  const failing = e.tests_failing, kind = failing ? 'failed' : e.tests_warning ? 'warning' : 'success';
  return el('span', { class: 'badge ' + kind, title: `${e.tests_passing} passing, ${e.tests_warning} warning, ${failing} failing` },
    failing ? `${failing} of ${e.test_count} failing` : `${e.test_count} tests`);
}

function markSelected() {
  entriesBox.querySelectorAll('tr[data-name]').forEach((tr) => tr.classList.toggle('selected', tr.dataset.name === current));
}

// ---- layers
tabList([...document.querySelectorAll('[role=tab][data-kind]')], (tab) => {
  entriesBox.setAttribute('aria-labelledby', tab.id);
  layer = tab.dataset.kind;
  drawList();
});

// ---- search
const search = document.getElementById('catalog-search');
const results = document.getElementById('search-results');
let searchTimer = null, searchSeq = 0;
search.addEventListener('input', () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(runSearch, 150);
});
search.addEventListener('keydown', (e) => {
  if (e.key === 'Escape') { results.hidden = true; }
  if (e.key === 'ArrowDown') { const first = results.querySelector('a'); if (first) { e.preventDefault(); first.focus(); } }
});
results.addEventListener('keydown', (e) => {
  const links = [...results.querySelectorAll('a')];
  const i = links.indexOf(document.activeElement);
  if (e.key === 'ArrowDown' && i < links.length - 1) { e.preventDefault(); links[i + 1].focus(); }
  if (e.key === 'ArrowUp') { e.preventDefault(); (i > 0 ? links[i - 1] : search).focus(); }
  if (e.key === 'Escape') { results.hidden = true; search.focus(); }
});
async function runSearch() {
  const q = search.value.trim();
  const seq = ++searchSeq;
  if (q.length < 2) { results.hidden = true; return; }
  try {
    const found = await api('GET', '/api/catalog/search?q=' + encodeURIComponent(q));
    if (seq !== searchSeq) return;
    results.replaceChildren(...(found.results.length ? found.results.slice(0, 12).map((hit) => el('li', {},
      el('a', { href: hit.link, onclick: (ev) => { if (hit.link.startsWith('/catalog/')) { ev.preventDefault(); results.hidden = true; open(hit.name); } } },
        el('span', { class: 'badge' }, hit.layer || hit.kind.replace('_', ' ')), ' ', hit.name,
        hit.matched_column ? el('span', { class: 'muted small' }, ` · column ${hit.matched_column}`) : null,
        hit.fuzzy ? el('span', { class: 'muted small' }, ' (similar)') : null)))
      : [el('li', { class: 'muted pad' }, `Nothing matches “${q}”.`)]));
    results.hidden = false;
  } catch (err) {
    results.replaceChildren(el('li', { class: 'error pad' }, err.message));
    results.hidden = false;
  }
}
document.addEventListener('click', (e) => { if (!e.target.closest('.search')) results.hidden = true; });

// ---- detail
let current = null;
async function open(name) {
  current = name;
  markSelected();
  if (location.pathname !== '/catalog/' + encodeURIComponent(name)) history.replaceState(null, '', '/catalog/' + encodeURIComponent(name));
  detail.replaceChildren(el('p', { class: 'muted' }, 'Loading ' + name + '…'));
  try {
    const model = await api('GET', '/api/catalog/models/' + encodeURIComponent(name));
    if (current !== name) return;
    drawDetail(model);
  } catch (err) {
    detail.replaceChildren(el('h2', {}, name), el('p', { class: 'error' }, err.message));
  }
}

function relationOf(model) {
  // The columns endpoint takes a source name for source tables, else the schema.
  return model.type === 'source' && model.source_name ? [model.source_name, model.name] : [model.schema, model.name];
}

function drawDetail(model) {
  const facts = el('dl', { class: 'facts' },
    fact('Type', model.type), fact('Schema', model.schema), fact('Materialized', model.materialization || '—'),
    fact('Rows', formatNumber(model.row_count)),
    model.type === 'source' ? null : fact('Status', model.status || 'not built yet'),
    model.type === 'source' ? null : fact('Last run', model.last_run ? timeEl(model.last_run) : 'never'), model.path ? fact('File', model.path) : null);
  const queryLink = el('a', { class: 'button secondary small', href: '/query?sql=' + encodeURIComponent(`SELECT *\nFROM ${model.schema}.${model.name}\nLIMIT 100`) }, 'Open in Query');
  const parts = [
    el('div', { class: 'toolbar' }, el('h2', { class: 'h2' }, model.name), el('span', { class: 'spacer' }), queryLink),
    model.description ? el('p', {}, model.description) : el('p', { class: 'muted' }, 'No description.'),
    model.tags.length ? el('p', {}, model.tags.map((t) => el('span', { class: 'badge tag' }, t))) : null,
    facts,
    el('h3', {}, 'Columns'), el('div', { id: 'columns' }, columnsTable(model.columns.map((c) => ({ name: c.name, type: c.data_type || c.type, description: c.description })), null)),
    el('h3', {}, 'Tests'), testsList(model.tests),
    el('h3', {}, 'Lineage'), lineageLists(model),
    el('div', { id: 'column-lineage' }),
  ];
  if (model.raw_code) parts.push(el('h3', {}, 'SQL'), sqlTabs(model));
  detail.replaceChildren(...parts.filter(Boolean));
  loadProfile(model);
  if (model.type !== 'source' && model.type !== 'seed') loadColumnLineage(model);
  showLineage(model.name, open);
}

function fact(term, value) { return el('div', {}, el('dt', {}, term), el('dd', {}, value)); }

function columnsTable(columns, stats) {
  if (!columns.length) return el('p', { class: 'muted' }, 'No columns known yet.');
  const head = ['Column', 'Type', 'Nulls', 'Distinct', 'Min', 'Max', 'Description'];
  return el('div', { class: 'scroll-x', tabindex: '0', role: 'region', 'aria-label': 'Scrollable table' }, el('table', { class: 'list' },
    el('thead', {}, el('tr', {}, head.map((h) => el('th', { scope: 'col' }, h)))),
    el('tbody', {}, columns.map((c) => {
      const s = stats && stats[c.name];
      return el('tr', {},
        el('td', { class: 'mono' }, c.name), el('td', { class: 'mono small' }, c.type || ''),
        el('td', { class: 'num' }, s ? `${s.null_pct}%` : '—'),
        el('td', { class: 'num' }, s ? (s.distinct_approximate ? '≈' : '') + formatNumber(s.distinct_count) : '—'),
        el('td', { class: 'small clamp' }, s && s.min !== null ? s.min : '—'), el('td', { class: 'small clamp' }, s && s.max !== null ? s.max : '—'),
        el('td', { class: 'small' }, c.description || ''));
    }))));
}

async function loadProfile(model) {
  const [source, table] = relationOf(model);
  const box = document.getElementById('columns');
  const url = `/api/catalog/${encodeURIComponent(source)}/${encodeURIComponent(table)}`;
  const show = (answer) => {
    const stats = Object.fromEntries(answer.columns.filter((c) => c.stats).map((c) => [c.name, c.stats]));
    const byName = Object.fromEntries(model.columns.map((c) => [c.name, c.description]));
    const note = el('p', { class: 'muted small' }, answer.profiled_at
      ? ['Profiled ', timeEl(answer.profiled_at), ` over ${formatNumber(answer.row_count)} rows in ${answer.profile_duration_ms} ms. `]
      : 'Not profiled yet. ',
    el('button', { type: 'button', class: 'link small', onclick: () => profileNow() }, 'Profile now'));
    box.replaceChildren(note, columnsTable(answer.columns.map((c) => ({ name: c.name, type: c.type, description: c.description || byName[c.name] })), stats));
  };
  const profileNow = async () => {
    try { show(await api('POST', url + '/profile')); toast(`${table} profiled`, 'ok'); } catch (err) { toast('Profiling failed: ' + err.message, 'error'); }
  };
  try { show(await api('GET', url + '/columns')); } catch (err) {
    if (err.status !== 404) box.prepend(el('p', { class: 'muted small' }, 'No profile: ' + err.message));
  }
}

function testsList(tests) {
  if (!tests.length) return el('p', { class: 'muted' }, 'No tests.');
  return el('ul', { class: 'plain' }, tests.map((t) => el('li', {},
    el('span', { class: 'badge ' + (t.status === 'pass' ? 'success' : t.status === 'warn' ? 'warning' : t.status ? 'failed' : '') }, t.status || 'not run'), ' ',
    el('span', { class: 'mono small' }, t.name))));
}

function lineageLists(model) {
  const link = (id) => {
    const name = id.split('.').pop();
    return el('li', {}, el('a', { href: '/catalog/' + encodeURIComponent(name), onclick: (e) => { e.preventDefault(); open(name); } }, name),
      el('span', { class: 'muted small' }, ' ' + id.split('.')[0]));
  };
  return el('div', { class: 'lineage-lists' },
    el('div', {}, el('h4', {}, `Upstream (${model.depends_on.length})`), model.depends_on.length ? el('ul', { class: 'plain' }, model.depends_on.map(link)) : el('p', { class: 'muted small' }, 'Nothing: this is where data starts.')),
    el('div', {}, el('h4', {}, `Downstream (${model.depended_on_by.length})`), model.depended_on_by.length ? el('ul', { class: 'plain' }, model.depended_on_by.map(link)) : el('p', { class: 'muted small' }, 'Nothing uses it yet.')));
}

async function loadColumnLineage(model) {
  const box = document.getElementById('column-lineage');
  try {
    const traced = await api('GET', `/api/catalog/models/${encodeURIComponent(model.name)}/columns`);
    if (current !== model.name) return;
    if (traced.error) { box.replaceChildren(el('h4', {}, 'Column lineage'), el('p', { class: 'muted small' }, traced.error)); return; }
    const edge = (e) => el('span', { class: 'mono small' }, `${e.name}.${e.column}`);
    box.replaceChildren(el('h4', {}, 'Column lineage'), el('div', { class: 'scroll-x', tabindex: '0', role: 'region', 'aria-label': 'Scrollable table' }, el('table', { class: 'list' },
      el('thead', {}, el('tr', {}, ['Column', 'Comes from', 'Used by'].map((h) => el('th', { scope: 'col' }, h)))),
      el('tbody', {}, traced.columns.map((c) => el('tr', {},
        el('td', { class: 'mono' }, c.name),
        el('td', {}, c.upstream.length ? joined(c.upstream.map(edge)) : null, c.unresolved.length ? el('span', { class: 'muted small', title: 'Could not be traced' }, ` untraced: ${c.unresolved.join(', ')}`) : null,
          !c.upstream.length && !c.unresolved.length ? el('span', { class: 'muted small' }, 'a constant or computed value') : null),
        el('td', {}, c.downstream.length ? joined(c.downstream.map(edge)) : el('span', { class: 'muted small' }, '—'))))))));
  } catch (err) {
    box.replaceChildren(el('p', { class: 'muted small' }, 'Column lineage is not available: ' + err.message));
  }
}

function joined(nodes) { return nodes.flatMap((n, i) => (i ? [', ', n] : [n])); }

function sqlTabs(model) {
  const views = [['Source', model.raw_code], ['Compiled', model.compiled_code]].filter(([, code]) => code);
  const box = el('div', { class: 'sql-box' });
  const buttons = views.map(([label, code], i) => el('button', { type: 'button', class: 'secondary small', 'aria-pressed': String(i === 0), onclick: (e) => {
    buttons.forEach((b) => b.setAttribute('aria-pressed', String(b === e.currentTarget)));
    box.replaceChildren(highlighted(code));
  } }, label));
  box.append(highlighted(views[0][1]));
  return el('div', {}, el('div', { class: 'button-row' }, buttons), box);
}

window.addEventListener('popstate', () => {
  const name = decodeURIComponent(location.pathname.replace(/^\/catalog\/?/, ''));
  if (name) open(name);
});

load();
