// SQL (and dbt's Jinja in it) split into tokens for highlighting: each token becomes a
// <span> holding a text node, so nothing in a model's SQL is ever parsed as HTML.
import { el } from '/static/app.js';

const KEYWORDS = new Set(`select from where group by order having limit offset join left right full inner outer cross on
using as and or not in is null like ilike between case when then else end with union all distinct except intersect
over partition window rows range preceding following unbounded current row qualify values insert into update delete
create table view replace if exists cast try_cast true false asc desc nulls first last interval exclude lateral unnest
recursive materialized filter within struct map list`.split(/\s+/));

const PATTERN = new RegExp([
  String.raw`(?<jinja>\{\{[\s\S]*?\}\}|\{%[\s\S]*?%\}|\{#[\s\S]*?#\})`,
  String.raw`(?<comment>--[^\n]*|/\*[\s\S]*?\*/)`,
  String.raw`(?<string>'(?:[^']|'')*'?)`,
  String.raw`(?<ident>"(?:[^"]|"")*"?)`,
  String.raw`(?<number>\b\d+(?:\.\d+)?(?:e[+-]?\d+)?\b)`,
  String.raw`(?<word>[A-Za-z_][A-Za-z0-9_$]*)`,
].join('|'), 'g');

/// [kind, text] pairs covering `sql` exactly.
export function tokens(sql) {
  const out = [];
  let at = 0;
  for (const match of sql.matchAll(PATTERN)) {
    if (match.index > at) out.push(['plain', sql.slice(at, match.index)]);
    const [kind] = Object.entries(match.groups).find(([, v]) => v !== undefined);
    const text = match[0];
    out.push([kind === 'word' ? (KEYWORDS.has(text.toLowerCase()) ? 'keyword' : 'plain') : kind, text]);
    at = match.index + text.length;
  }
  if (at < sql.length) out.push(['plain', sql.slice(at)]);
  return out;
}

export function highlighted(sql) {
  return el('pre', { class: 'sql', tabindex: '0' }, el('code', {}, tokens(sql).map(([kind, text]) =>
    kind === 'plain' ? text : el('span', { class: 'tok-' + kind }, text))));
}
