// A result table that stays fast at 10,000 rows: only the rows in view (plus a margin)
// are in the DOM, at a fixed row height, inside a spacer as tall as all of them.
// Headers sort (numbers as numbers, nulls last); cells are text nodes, never HTML.
import { el } from '/static/app.js';

const ROW_HEIGHT = 30;
const OVERSCAN = 12;

/// The text a value shows as: nulls as an empty marker, objects and lists as JSON.
export function cellText(value) {
  if (value === null || value === undefined) return '';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

function compare(a, b) {
  if (a === b) return 0;
  if (a === null || a === undefined) return 1;
  if (b === null || b === undefined) return -1;
  const x = Number(a), y = Number(b);
  if (typeof a !== 'object' && typeof b !== 'object' && a !== '' && b !== '' && !Number.isNaN(x) && !Number.isNaN(y)) return x - y;
  return cellText(a).localeCompare(cellText(b));
}

export class ResultGrid {
  constructor(host) {
    this.host = host;
    this.columns = [];
    this.rows = [];
    this.order = [];
    this.sort = null; // { index, direction }
    this.host.addEventListener('scroll', () => this.paint());
  }

  show(columns, rows) {
    this.columns = columns;
    this.rows = rows;
    this.order = rows.map((_, i) => i);
    this.sort = null;
    this.build();
  }

  build() {
    this.host.replaceChildren();
    this.host.scrollTop = 0;
    if (!this.columns.length) {
      this.host.append(el('p', { class: 'muted pad' }, 'The query returned no columns.'));
      return;
    }
    const head = el('tr', {}, this.columns.map((column, index) => {
      const button = el('button', { type: 'button', class: 'sort', onclick: () => this.sortBy(index) },
        el('span', {}, column.name), el('span', { class: 'type' }, column.type), el('span', { class: 'arrow', 'aria-hidden': 'true' }, ''));
      return el('th', { scope: 'col', 'aria-sort': 'none' }, button);
    }));
    this.body = el('tbody');
    this.table = el('table', { class: 'results' }, el('thead', {}, head), this.body);
    this.table.setAttribute('aria-rowcount', String(this.rows.length + 1));
    this.host.append(this.table);
    if (!this.rows.length) {
      this.host.append(el('p', { class: 'muted pad' }, 'No rows.'));
      return;
    }
    this.paint();
  }

  sortBy(index) {
    const direction = this.sort && this.sort.index === index && this.sort.direction === 'ascending' ? 'descending' : 'ascending';
    this.sort = { index, direction };
    const sign = direction === 'ascending' ? 1 : -1;
    this.order.sort((a, b) => sign * compare(this.rows[a][index], this.rows[b][index]) || a - b);
    this.table.querySelectorAll('th').forEach((th, i) => {
      th.setAttribute('aria-sort', i === index ? direction : 'none');
      th.querySelector('.arrow').textContent = i === index ? (direction === 'ascending' ? '▲' : '▼') : '';
    });
    this.paint(true);
  }

  paint(force) {
    if (!this.body || !this.rows.length) return;
    const headHeight = this.table.tHead ? this.table.tHead.offsetHeight : ROW_HEIGHT;
    const top = Math.max(0, this.host.scrollTop - headHeight);
    const first = Math.max(0, Math.floor(top / ROW_HEIGHT) - OVERSCAN);
    const visible = Math.ceil((this.host.clientHeight || 600) / ROW_HEIGHT) + 2 * OVERSCAN;
    const last = Math.min(this.rows.length, first + visible);
    if (!force && this.painted && this.painted[0] === first && this.painted[1] === last) return;
    this.painted = [first, last];
    const rows = [];
    if (first > 0) rows.push(spacer(first * ROW_HEIGHT, this.columns.length));
    for (let position = first; position < last; position++) {
      const row = this.rows[this.order[position]];
      rows.push(el('tr', { 'aria-rowindex': String(position + 2) }, row.map((value) => {
        const text = cellText(value);
        return el('td', { class: value === null ? 'null' : (typeof value === 'number' ? 'num' : null), title: text.length > 40 ? text : null }, value === null ? 'null' : text);
      })));
    }
    if (last < this.rows.length) rows.push(spacer((this.rows.length - last) * ROW_HEIGHT, this.columns.length));
    this.body.replaceChildren(...rows);
  }
}

function spacer(height, span) {
  const cell = el('td', { colspan: String(span), class: 'spacer', 'aria-hidden': 'true' });
  cell.style.height = height + 'px';
  return el('tr', { 'aria-hidden': 'true' }, cell);
}
