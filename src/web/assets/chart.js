// Bar, line and scatter charts of a query result, drawn as SVG by us: linear scales
// with "nice" ticks, a category axis for bars (and for lines over text), labels as
// text nodes. Numbers that the API sends as strings (DECIMAL, big integers) count.
import { svg, el } from '/static/app.js';

const WIDTH = 760, HEIGHT = 360;
const MARGIN = { top: 16, right: 20, bottom: 64, left: 64 };
const MAX_BARS = 200;

export function numeric(value) {
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value === 'string' && value.trim() !== '' && !Number.isNaN(Number(value))) return Number(value);
  return null;
}

function temporal(value) {
  if (typeof value !== 'string' || !/^\d{4}-\d{2}-\d{2}/.test(value)) return null;
  const t = Date.parse(value);
  return Number.isNaN(t) ? null : t;
}

/// Columns a chart can put on its value axis: every non-null value is a number.
export function numericColumns(columns, rows) {
  return columns.map((c, i) => i).filter((i) => {
    let seen = false;
    for (const row of rows) {
      if (row[i] === null) continue;
      if (numeric(row[i]) === null) return false;
      seen = true;
    }
    return seen;
  });
}

/// Round tick values covering [min, max].
export function ticks(min, max, count = 5) {
  if (min === max) { min -= 1; max += 1; }
  const span = max - min;
  const step0 = Math.pow(10, Math.floor(Math.log10(span / count)));
  const err = span / count / step0;
  const step = step0 * (err >= 7.5 ? 10 : err >= 3 ? 5 : err >= 1.5 ? 2 : 1);
  const start = Math.floor(min / step) * step, end = Math.ceil(max / step) * step;
  const out = [];
  for (let v = start; v <= end + step / 2; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

function label(value) {
  if (Math.abs(value) >= 1e6 || (Math.abs(value) < 1e-3 && value !== 0)) return value.toExponential(1);
  return new Intl.NumberFormat(undefined, { maximumFractionDigits: 3 }).format(value);
}

function truncate(text, n = 14) { return text.length > n ? text.slice(0, n - 1) + '…' : text; }

/// Draws `kind` of column `y` against column `x` into `host`.
export function drawChart(host, { kind, columns, rows, x, y }) {
  host.replaceChildren();
  const points = [];
  for (const row of rows) {
    const value = numeric(row[y]);
    if (value === null) continue;
    points.push({ x: row[x], y: value });
  }
  if (!points.length) {
    host.append(el('p', { class: 'muted pad' }, 'No numeric values in the chosen column.'));
    return;
  }
  const xNumeric = points.every((p) => numeric(p.x) !== null);
  const xTime = !xNumeric && points.every((p) => temporal(p.x) !== null);
  const continuous = kind !== 'bar' && (xNumeric || xTime);
  let shown = points;
  let note = null;
  if (kind === 'bar' && points.length > MAX_BARS) {
    shown = points.slice(0, MAX_BARS);
    note = `Showing the first ${MAX_BARS} of ${points.length} bars.`;
  }
  if (continuous) {
    const key = xNumeric ? (p) => numeric(p.x) : (p) => temporal(p.x);
    shown = shown.map((p) => ({ ...p, xv: key(p) }));
    if (kind === 'line') shown.sort((a, b) => a.xv - b.xv);
  }

  const innerW = WIDTH - MARGIN.left - MARGIN.right, innerH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const ys = shown.map((p) => p.y);
  const yTicks = ticks(Math.min(0, ...ys), Math.max(0, ...ys));
  const [y0, y1] = [yTicks[0], yTicks[yTicks.length - 1]];
  const yScale = (v) => MARGIN.top + innerH - ((v - y0) / (y1 - y0)) * innerH;
  let xScale, xTickMarks;
  if (continuous) {
    const xs = shown.map((p) => p.xv);
    const xt = xTime ? null : ticks(Math.min(...xs), Math.max(...xs));
    const [x0, x1] = xt ? [xt[0], xt[xt.length - 1]] : [Math.min(...xs), Math.max(...xs) === Math.min(...xs) ? Math.min(...xs) + 1 : Math.max(...xs)];
    xScale = (v) => MARGIN.left + ((v - x0) / (x1 - x0)) * innerW;
    xTickMarks = xt
      ? xt.map((v) => [xScale(v), label(v)])
      : [0, 0.25, 0.5, 0.75, 1].map((f) => { const t = x0 + f * (x1 - x0); return [xScale(t), new Date(t).toISOString().slice(0, 10)]; });
  } else {
    const band = innerW / shown.length;
    xScale = (i) => MARGIN.left + band * i + band / 2;
    const every = Math.max(1, Math.ceil(shown.length / 16));
    xTickMarks = shown.map((p, i) => [xScale(i), truncate(p.x === null ? 'null' : String(p.x))]).filter((_, i) => i % every === 0);
  }

  const xName = columns[x].name, yName = columns[y].name;
  const chart = svg('svg', { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: 'img', class: 'chart-svg', 'aria-label': `${kind} chart of ${yName} by ${xName}` });
  chart.append(svg('title', {}, `${yName} by ${xName}`));
  const grid = svg('g', { class: 'axis' });
  for (const t of yTicks) {
    const py = yScale(t);
    grid.append(svg('line', { x1: MARGIN.left, x2: WIDTH - MARGIN.right, y1: py, y2: py, class: 'gridline' }),
      svg('text', { x: MARGIN.left - 8, y: py + 4, 'text-anchor': 'end' }, label(t)));
  }
  for (const [px, text] of xTickMarks) {
    grid.append(svg('text', { x: px, y: HEIGHT - MARGIN.bottom + 16, 'text-anchor': 'end', transform: `rotate(-35 ${px} ${HEIGHT - MARGIN.bottom + 16})` }, text));
  }
  grid.append(svg('line', { x1: MARGIN.left, x2: WIDTH - MARGIN.right, y1: yScale(Math.max(y0, Math.min(0, y1))), y2: yScale(Math.max(y0, Math.min(0, y1))), class: 'baseline' }));
  grid.append(svg('text', { x: MARGIN.left + innerW / 2, y: HEIGHT - 6, 'text-anchor': 'middle', class: 'axis-title' }, xName));
  grid.append(svg('text', { x: 14, y: MARGIN.top + innerH / 2, 'text-anchor': 'middle', class: 'axis-title', transform: `rotate(-90 14 ${MARGIN.top + innerH / 2})` }, yName));
  chart.append(grid);

  const marks = svg('g', { class: 'marks ' + kind });
  if (kind === 'bar') {
    const band = innerW / shown.length;
    const zero = yScale(Math.max(y0, Math.min(0, y1)));
    shown.forEach((p, i) => {
      const py = yScale(p.y);
      marks.append(svg('rect', { x: xScale(i) - band * 0.4, width: Math.max(1, band * 0.8), y: Math.min(py, zero), height: Math.max(1, Math.abs(zero - py)) },
        svg('title', {}, `${p.x}: ${p.y}`)));
    });
  } else {
    const at = (p, i) => [continuous ? xScale(p.xv) : xScale(i), yScale(p.y)];
    if (kind === 'line') {
      marks.append(svg('polyline', { points: shown.map((p, i) => at(p, i).join(',')).join(' '), fill: 'none' }));
    }
    if (kind === 'scatter' || shown.length <= 60) {
      shown.forEach((p, i) => {
        const [cx, cy] = at(p, i);
        marks.append(svg('circle', { cx, cy, r: kind === 'scatter' ? 3.5 : 2.5 }, svg('title', {}, `${p.x}, ${p.y}`)));
      });
    }
  }
  chart.append(marks);
  host.append(chart);
  if (note) host.append(el('p', { class: 'muted small' }, note));
}
