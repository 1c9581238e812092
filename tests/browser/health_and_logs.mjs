// An admin signs in and opens the health page: the status banner says (in words) how the
// platform is, the database card counts the demo's tables, and nothing overflows on a
// phone. Then the activity log: filtering by level and by text narrows the rows, the
// address carries the filters and a reload keeps them, an empty result and a refused
// filter say so, and a sync started while the page is open adds its lines at the top
// without a reload. The schedules page says when each schedule fires, in words and in the
// schedule's own zone; an admin adds, edits and removes a schedule through its form.
// Every page passes axe-core; screenshots at two sizes.
import { base, check, newPage, noProblems, signIn, accessible, screenshots, run } from './lib.mjs';

const email = process.env.DANGO_EMAIL;
const password = process.env.DANGO_PASSWORD;

/// Nothing but `.scroll-x` regions scrolls sideways at phone width.
async function fitsPhone(page, label) {
  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForTimeout(150);
  const wide = await page.evaluate(() => document.documentElement.scrollWidth);
  await page.setViewportSize({ width: 1280, height: 800 });
  check(wide <= 390, `${label}: the page is ${wide}px wide at 390px`);
}

const rowLevels = (page) => page.$$eval('#log-rows tr', (rows) => rows.map((r) => r.querySelector('.badge').textContent));
const rowMessages = (page) => page.$$eval('#log-rows tr', (rows) => rows.map((r) => r.querySelector('.log-message').textContent));

run(async (browser) => {
  const page = await newPage(browser);
  await signIn(page, email, password);

  // ---- health
  await page.click('nav a[href="/health"]');
  await page.waitForSelector('#health-banner.healthy, #health-banner.warning, #health-banner.critical');
  const banner = (await page.textContent('#health-banner .health-text')).trim();
  check(/^(Healthy|Warning|Critical)\b/.test(banner), 'the banner says the status in words: ' + banner);
  check(await page.getAttribute('#health-banner', 'role') === 'status', 'the banner is a status region');
  const tables = Number.parseInt((await page.textContent('#db-tables')).replace(/\D/g, ''), 10);
  check(tables > 0, 'the database card counts the demo tables: ' + tables);
  await page.waitForSelector('#services-body li');
  check((await page.textContent('#sync-body')).includes('Completed'), 'the sync card counts completed syncs');
  check((await page.textContent('#updated')).startsWith('Updated'), 'the page says when it was checked');
  await page.click('#refresh');
  await page.waitForFunction(() => !document.querySelector('#refresh').disabled);
  await accessible(page, 'health');
  await fitsPhone(page, 'health');
  await screenshots(page, 'health');

  // ---- logs: entries, then filter by level
  await page.click('nav a[href="/logs"]');
  await page.waitForSelector('#log-rows tr');
  check((await page.textContent('#logs-status')).startsWith('Showing 1–'), 'the page says which entries it shows');
  check(await page.isDisabled('#newer'), 'the first page has nothing newer');
  const before = await rowLevels(page);
  check(before.length > 0, 'the demo load wrote log lines');
  check(before.some((l) => l !== 'success'), 'unfiltered, other levels show too: ' + before.join(', '));
  await page.waitForFunction(() => document.querySelectorAll('#f-source option').length > 1);
  check(await page.locator('#f-source option[value="orders"]').count() === 1, 'the source filter lists the demo sources');

  await page.selectOption('#f-level', 'success');
  await page.waitForURL(/[?&]level=success/);
  await page.waitForFunction(() => {
    const rows = [...document.querySelectorAll('#log-rows tr')];
    return rows.length > 0 && rows.every((r) => r.dataset.level === 'success');
  });
  const levels = await rowLevels(page);
  check(levels.every((l) => l === 'success'), 'only success entries: ' + levels.join(', '));

  // ---- text search (debounced) with a time range; the address keeps both
  await page.selectOption('#f-level', '');
  await page.selectOption('#f-range', '24h');
  await page.fill('#f-q', 'orders');
  await page.waitForURL(/[?&]q=orders/);
  const matching = () => page.waitForFunction(() => {
    const rows = [...document.querySelectorAll('#log-rows tr')];
    return rows.length > 0 && rows.every((r) => r.querySelector('.log-message').textContent.toLowerCase().includes('orders'));
  });
  await matching();
  const url = new URL(page.url());
  check(url.searchParams.get('q') === 'orders' && url.searchParams.get('range') === '24h' && !url.searchParams.has('level'),
    'the address carries the filters: ' + url.search);
  await page.reload();
  await matching();
  check(await page.inputValue('#f-q') === 'orders', 'the search survives a reload');
  check(await page.inputValue('#f-range') === '24h', 'the time range survives a reload');
  check((await rowMessages(page)).every((m) => m.toLowerCase().includes('orders')), 'after the reload only matching messages');
  await accessible(page, 'logs filtered');

  // nothing matches: the empty state
  await page.fill('#f-q', 'no-such-message-anywhere');
  await page.waitForSelector('#logs-empty:not([hidden])');
  check((await page.textContent('#logs-empty')).includes('No activity matches these filters'), 'the empty state says why');
  await accessible(page, 'logs empty');

  // ---- live: clear the filters, start a sync, and its lines arrive without a reload
  await page.click('#f-clear');
  await page.waitForFunction(() => location.search === '' && document.querySelectorAll('#log-rows tr').length > 0);
  await page.waitForSelector('#live[data-state=open]');
  await accessible(page, 'logs');
  await fitsPhone(page, 'logs');
  await screenshots(page, 'logs');
  const newest = await page.$eval('#log-rows tr', (r) => Number(r.dataset.id));
  await page.evaluate(() => { window.stillTheSamePage = true; });
  const started = await page.evaluate(async () => {
    const r = await fetch('/api/sources/orders/sync', {
      method: 'POST', credentials: 'same-origin',
      headers: { 'X-Requested-With': 'dango-ui', 'Content-Type': 'application/json' }, body: '{}',
    });
    return r.status;
  });
  check(started === 200, 'the sync started: ' + started);
  await page.waitForFunction((id) => Number(document.querySelector('#log-rows tr').dataset.id) > id, newest, { timeout: 30000 });
  await page.waitForFunction(() => [...document.querySelectorAll('#log-rows tr')].some((r) => r.textContent.includes('Sync completed') && r.querySelector('.log-source').textContent === 'orders'), null, { timeout: 30000 });
  check(await page.evaluate(() => window.stillTheSamePage === true), 'the new lines came without a reload');
  const ids = await page.$$eval('#log-rows tr', (rows) => rows.map((r) => r.dataset.id));
  check(new Set(ids).size === ids.length, 'no entry is shown twice');
  check(await page.locator('#log-rows tr.fresh').count() > 0, 'the new lines are highlighted');
  await screenshots(page, 'logs-live');

  // ---- a filter the API refuses is explained in an alert
  await page.goto(base + '/logs?q=' + 'x'.repeat(201));
  await page.waitForFunction(() => document.querySelector('#logs-error').textContent.length > 0);
  check(await page.getAttribute('#logs-error', 'role') === 'alert', 'the refusal is an alert');
  await accessible(page, 'logs error');

  // ---- schedules: their timing in words, the next firings in the schedule's zone
  await page.click('nav a[href="/schedules"]');
  await page.waitForSelector('tr[data-schedule=nightly]');
  check((await page.textContent('tr[data-schedule=nightly]')).includes('Daily at 6 AM'), 'the cron in words');
  check((await page.textContent('tr[data-schedule=nightly]')).includes('orders, customers'), 'what it syncs, as text');
  check((await page.textContent('#unscheduled')).includes('products'), 'the source without a schedule is named');
  await page.waitForFunction(() => document.querySelector('#notifications').textContent.includes('No webhooks'));
  await page.click('tr[data-schedule=nightly] button:has-text("Next 10")');
  await page.waitForSelector('#preview-body ol.fire-times li');
  check(await page.locator('#preview-body ol.fire-times li').count() === 10, 'ten firings');
  check((await page.textContent('#preview-body ol.fire-times li')).includes('06:00:00+0'), "the schedule's own clock: " + await page.textContent('#preview-body ol.fire-times li'));
  await accessible(page, 'schedule preview');
  await page.keyboard.press('Escape');
  // run now: the schedule's run starts, and its last run shows how it went
  check((await page.textContent('tr[data-schedule=nightly]')).includes('not yet'), 'no run yet');
  await page.click('tr[data-schedule=nightly] button:has-text("Run now")');
  await page.waitForSelector('.toast:has-text("nightly: run")');
  await page.waitForFunction(() => document.querySelector('tr[data-schedule=nightly] td[data-label="Last run"] .badge')?.textContent === 'success', null, { timeout: 30000 });
  await page.click('tr[data-schedule=nightly] button:has-text("Next 10")');
  await page.waitForSelector('#schedule-runs li .badge.success');
  check((await page.textContent('#preview-body h3')).includes('Recent runs (1)'), 'the run is in its history');
  await page.keyboard.press('Escape');

  // an admin adds a schedule for the source that had none, edits it, and removes it
  await page.click('#add-schedule');
  await page.waitForSelector('#edit-dialog[open] #s-sources input[value=products]');
  await accessible(page, 'schedule form');
  await page.fill('#s-name', 'Bad Name');
  await page.fill('#s-cron', 'daily');
  await page.click('#edit-save');
  check((await page.textContent('#edit-error')).includes('lowercase'), 'a bad name is explained before anything is sent');
  await page.fill('#s-name', 'products_weekly');
  await page.fill('#s-cron', '61 * * * *');
  await page.check('#s-sources input[value=products]');
  await page.click('#edit-save');
  await page.waitForFunction(() => document.querySelector('#edit-error').textContent.includes('cron'));
  check((await page.textContent('#edit-error')).includes('products_weekly'), 'the server names the schedule and key: ' + await page.textContent('#edit-error'));
  await page.fill('#s-cron', 'weekly');
  await page.click('#edit-save');
  await page.waitForSelector('tr[data-schedule=products_weekly]');
  check((await page.textContent('tr[data-schedule=products_weekly]')).includes('Weekly (Monday at 6 AM)'), 'the new schedule in words');
  await page.waitForFunction(() => document.querySelector('#unscheduled').textContent.includes('Every source is on a schedule'));
  await page.click('tr[data-schedule=products_weekly] button:has-text("Edit")');
  // the form opens once the sources are read, filled with the schedule
  await page.waitForSelector('#edit-dialog[open]');
  await page.waitForFunction(() => document.querySelector('#s-cron').value === '0 6 * * 1', null, { timeout: 5000 })
    .catch(async () => check(false, 'the form holds the schedule: ' + await page.inputValue('#s-cron')));
  await page.fill('#s-cron', 'every_hour');
  await page.click('#edit-save');
  await page.waitForFunction(() => document.querySelector('tr[data-schedule=products_weekly]')?.textContent.includes('Every hour'));
  await screenshots(page, 'schedules-managed');
  page.acceptConfirm = true;
  await page.click('tr[data-schedule=products_weekly] button:has-text("Remove")');
  await page.waitForFunction(() => !document.querySelector('tr[data-schedule=products_weekly]'));
  page.acceptConfirm = false;
  await page.click('#reload-schedules');
  await page.waitForSelector('.toast:has-text("Reloaded")');

  await accessible(page, 'schedules');
  await screenshots(page, 'schedules');
  noProblems(page, ['400 (Bad Request)']);
});
