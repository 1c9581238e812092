// An editor signs in, finds the synced table in the catalog and sees its profile,
// opens it in the query page, runs a query with Ctrl+Enter, sorts, draws a bar chart,
// downloads the CSV and finds the query in their history. A column named like an HTML
// tag shows as text everywhere. Every page passes axe-core; screenshots at two sizes.
import { readFileSync } from 'node:fs';
import { base, check, newPage, noProblems, signIn, accessible, screenshots, run } from './lib.mjs';

const email = process.env.DANGO_EMAIL;
const password = process.env.DANGO_PASSWORD;
const XSS_COLUMN = '<img src=x onerror=alert(1)>';

run(async (browser) => {
  const page = await newPage(browser);
  await signIn(page, email, password);
  await page.waitForSelector('#stats .stat-card');
  await accessible(page, 'overview');
  await screenshots(page, 'overview');

  // ---- catalog: the staging model of the synced source, its columns and profile
  await page.click('nav a[href="/catalog"]');
  await page.waitForSelector('#entries table');
  await accessible(page, 'catalog list');
  await page.click('#layer-staging');
  const model = page.locator('#entries a', { hasText: 'stg_orders__orders' });
  await model.click();
  await page.waitForSelector('#detail h2:text("stg_orders__orders")');
  check(page.url().endsWith('/catalog/stg_orders__orders'), 'the address names the model: ' + page.url());
  await page.click('#columns button:text("Profile now")');
  await page.waitForSelector('#columns p:has-text("Profiled")');
  const nullCell = await page.locator('#columns tbody tr', { hasText: 'amount' }).locator('td').nth(2).textContent();
  check(nullCell.trim() === '25%', 'one amount in four is empty: ' + nullCell);
  check(await page.locator('#columns td', { hasText: XSS_COLUMN }).count() === 1, 'the odd column name is shown as text');
  await page.waitForSelector('#column-lineage table');
  await accessible(page, 'catalog detail');
  await screenshots(page, 'catalog');

  // search as you type
  await page.fill('#catalog-search', 'stg_orders');
  await page.waitForSelector('#search-results a');
  check((await page.locator('#search-results a').first().textContent()).includes('stg_orders__orders'), 'search finds the model');
  await page.keyboard.press('Escape');

  // ---- query: from the catalog's link, run with the keyboard
  await page.click('#detail a:text("Open in Query")');
  await page.waitForURL(/\/query\?sql=/);
  await page.waitForSelector('#grid table.results tbody tr');
  await page.fill('#sql', 'SELECT name, amount FROM raw_orders.orders WHERE amount IS NOT NULL ORDER BY name');
  await page.focus('#sql');
  await page.keyboard.press('Control+Enter');
  await page.waitForFunction(() => document.querySelector('#status').textContent.startsWith('3 rows'));
  const firstName = () => page.locator('#grid tbody tr:not([aria-hidden]) td').first().textContent();
  check(await firstName() === 'anna', 'ordered by name: ' + await firstName());
  await page.click('#grid th button:has-text("amount")');
  await page.click('#grid th button:has-text("amount")');
  check(await firstName() === 'cleo', 'sorted by amount, largest first: ' + await firstName());
  check(await page.locator('#grid th[aria-sort=descending]').count() === 1, 'the sorted column says so');
  await accessible(page, 'query result');
  await screenshots(page, 'query');

  // a bar chart of amount by name
  await page.click('#tab-chart');
  await page.selectOption('#chart-kind', 'bar');
  await page.selectOption('#chart-x', { label: 'name' });
  await page.selectOption('#chart-y', { label: 'amount' });
  await page.waitForSelector('#chart svg rect');
  check(await page.locator('#chart svg .marks rect').count() === 3, 'three bars');
  await accessible(page, 'chart');
  await screenshots(page, 'query-chart');
  await page.selectOption('#chart-kind', 'line');
  await page.waitForSelector('#chart svg polyline');
  await page.selectOption('#chart-kind', 'scatter');
  await page.waitForSelector('#chart svg .marks circle');

  // CSV download of the whole result
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
  const csv = readFileSync(await download.path(), 'utf8');
  check(csv.split('\n')[0].trim() === 'name,amount', 'the CSV header: ' + csv.split('\n')[0]);
  check(csv.includes('cleo,'), 'the CSV has the rows: ' + csv);

  // a refused query says why, where
  await page.fill('#sql', 'SELECT * FROM\nread_csv(\'/etc/passwd\')');
  await page.keyboard.press('Control+Enter');
  await page.waitForSelector('#status.error');
  check((await page.textContent('#status')).length > 10, 'the refusal is explained');

  // the history has both, newest first, and reopens one
  await page.click('#tab-history');
  // the history is kept just after each answer: wait for the refused query to be in it
  await page.waitForFunction(() => document.querySelector('#history li')?.textContent.includes('read_csv'), null, { timeout: 5000 })
    .catch(async () => check(false, 'the refused query is first: ' + await page.locator('#history li').first().textContent()));
  check(await page.locator('#history li').count() >= 3, 'the earlier queries are there too');
  await page.locator('#history li button', { hasText: 'ORDER BY name' }).first().click();
  check((await page.inputValue('#sql')).includes('ORDER BY name'), 'history reopens a query in the editor');
  await accessible(page, 'history');

  // the odd column name in the table browser and the grid is text
  await page.fill('#schema-filter', 'onerror');
  await page.waitForSelector('#schema-tree .column');
  check((await page.locator('#schema-tree .column').first().textContent()) === XSS_COLUMN, 'the column name is shown as written');
  noProblems(page, ['400 (Bad Request)']);
});
