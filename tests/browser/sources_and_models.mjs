// An editor runs a model and watches its status change as it builds, then drops a
// new CSV file on its source, watches the upload progress and the sync finish live, and
// finds the sync in the source's history; then follows the lineage graph from the source
// to the mart, box by box, and asks what a change of the source would touch. A source description, a file name and a model
// description written as HTML show as text. Every page passes axe-core.
import { base, check, newPage, noProblems, signIn, accessible, screenshots, run } from './lib.mjs';

const email = process.env.DANGO_EMAIL;
const password = process.env.DANGO_PASSWORD;
const XSS_SOURCE = '<script>alert("source")</script> shop export';
const XSS_MODEL = '<img src=x onerror=alert("model")> totals per item';
const XSS_FILE = '<img src=x onerror=alert(3)>.csv';

run(async (browser) => {
  const page = await newPage(browser);
  const frames = [];
  page.on('websocket', (ws) => ws.on('framereceived', (f) => frames.push(String(f.payload).slice(0, 160))));
  globalThis.frames = frames;
  await signIn(page, email, password);
  await page.waitForSelector('#source-list li[data-source=shop]');
  await accessible(page, 'overview');
  await screenshots(page, 'overview');

  // ---- models: run one and watch its status as it builds
  await page.click('nav a[href="/models"]');
  const modelRow = page.locator('tr[data-model=shop_totals]');
  await modelRow.waitFor();
  check(await modelRow.locator('div', { hasText: XSS_MODEL }).count() === 1, 'the model description is text');
  check((await modelRow.locator('.badge').textContent()) === 'success', 'built by the first sync');
  const builtAt = await modelRow.locator('time').getAttribute('datetime');
  await accessible(page, 'models');
  await screenshots(page, 'models');
  // every status the row shows on the way, in order
  await page.evaluate(() => {
    window.seenStatuses = [];
    new MutationObserver((records) => {
      for (const r of records) for (const node of r.addedNodes) {
        const badge = node.querySelector && node.querySelector('tr[data-model=shop_totals] .badge');
        if (badge) window.seenStatuses.push(badge.textContent);
      }
    }).observe(document.getElementById('models'), { childList: true, subtree: true });
  });
  await modelRow.locator('button', { hasText: 'Run' }).click();
  await page.waitForSelector('#build-status.ok');
  check((await page.textContent('#build-status')).includes('Build finished'), 'the banner says the build finished');
  const seen = await page.evaluate(() => window.seenStatuses);
  check(seen.includes('Running…') && seen[seen.length - 1] === 'success', 'running, then success: ' + seen.join(', '));
  const rebuiltAt = await modelRow.locator('time').getAttribute('datetime');
  check(rebuiltAt > builtAt, `the last run moved on: ${builtAt} → ${rebuiltAt}`);
  await accessible(page, 'models after a run');

  // ---- sources: the table, then the files of `shop`
  await page.click('nav a[href="/sources"]');
  const sourceRow = page.locator('tr[data-source=shop]');
  await sourceRow.waitFor();
  check(await sourceRow.locator('div', { hasText: XSS_SOURCE }).count() === 1, 'the source description is text');
  check((await sourceRow.locator('td.num').textContent()).trim() === '3', 'three rows loaded');
  await accessible(page, 'sources');
  await screenshots(page, 'sources');
  await sourceRow.locator('button', { hasText: 'Files' }).click();
  await page.waitForSelector('#file-list tr[data-file="a.csv"]');
  await accessible(page, 'source files');

  // drop a new file on the drop zone: it uploads with progress, then syncs
  const dataTransfer = await page.evaluateHandle((name) => {
    const transfer = new DataTransfer();
    transfer.items.add(new File(['item,amount\ndelta,4\necho,5\n'], name, { type: 'text/csv' }));
    return transfer;
  }, XSS_FILE);
  await page.dispatchEvent('#dropzone', 'dragover', { dataTransfer });
  check(await page.locator('#dropzone.over').count() === 1, 'the drop zone shows it will take the file');
  await page.dispatchEvent('#dropzone', 'drop', { dataTransfer });
  await page.waitForSelector('.uploads .ok');
  check(await page.locator('.uploads progress').evaluate((p) => p.value) === 1, 'the upload bar is full');
  check((await page.textContent('.uploads .ok')).includes('sync started'), 'the upload started a sync');
  await page.waitForFunction((name) => [...document.querySelectorAll('#file-list td')].some((td) => td.textContent === name), XSS_FILE);
  await screenshots(page, 'source-files');
  // the sync ends live, without a reload: five rows now
  await page.click('#dialog-close');
  await page.waitForFunction(() => document.querySelector('tr[data-source=shop] td.num').textContent.trim() === '5', null, { timeout: 20000 });
  await page.waitForFunction(() => document.querySelector('tr[data-source=shop] .badge').textContent === 'Synced', null, { timeout: 5000 })
    .catch(async () => check(false, 'synced again: ' + await sourceRow.locator('.badge').textContent() + '\n' + frames.join('\n')));

  // the details: two syncs in the history
  await sourceRow.locator('button.link', { hasText: 'shop' }).click();
  await page.waitForSelector('#dialog-body table tbody tr');
  check(await page.locator('#dialog-body tbody tr').count() === 2, 'two syncs in the history');
  await accessible(page, 'source details');
  await screenshots(page, 'source-details');
  await page.keyboard.press('Escape');

  // a full refresh asks first
  page.acceptConfirm = true;
  await sourceRow.locator('button', { hasText: 'Full refresh' }).click();
  await page.waitForSelector('.toast:has-text("shop: sync started")');
  await page.waitForFunction(() => document.querySelector('tr[data-source=shop] .badge').textContent === 'Synced', null, { timeout: 20000 });

  // ---- lineage: from the source to the mart, box by box
  await page.goto(base + '/catalog/shop');
  await page.waitForSelector('#lineage-view svg a.node.focus[data-name=shop]');
  const boxes = await page.$$eval('#lineage-view a.node', (nodes) => nodes.map((n) => n.dataset.name).sort());
  check(boxes.join(',') === 'shop,shop_totals,stg_shop__shop', 'two levels down from the source: ' + boxes);
  check(await page.locator('#lineage-view path.edge').count() === 2, 'two edges');
  const x = (name) => page.locator(`#lineage-view a.node[data-name=${name}] rect`).getAttribute('x').then(Number);
  check(await x('shop') < await x('stg_shop__shop') && await x('stg_shop__shop') < await x('shop_totals'), 'left to right, upstream first');
  await accessible(page, 'lineage graph');
  await page.click('#lineage-view a.node[data-name=stg_shop__shop]');
  await page.waitForSelector('#detail h2:text("stg_shop__shop")');
  await page.waitForSelector('#lineage-view a.node.focus[data-name=stg_shop__shop]');
  await page.click('#lineage-view a.node[data-name=shop_totals]');
  await page.waitForSelector('#detail h2:text("shop_totals")');
  await page.waitForSelector('#lineage-view a.node.focus[data-name=shop_totals]');
  check(page.url().endsWith('/catalog/shop_totals'), 'the address follows: ' + page.url());
  // zooming changes what is in view; Fit brings the whole graph back
  const viewBox = () => page.getAttribute('#lineage-view svg', 'viewBox');
  const fitted = await viewBox();
  await page.click('#lineage-zoom-in');
  check(await viewBox() !== fitted, 'zoomed in');
  await page.click('#lineage-fit');
  check(await viewBox() === fitted, 'fitted again');
  // impact: what a change of the source touches
  await page.goto(base + '/catalog/shop');
  await page.waitForSelector('#lineage-view svg a.node.focus[data-name=shop]');
  await page.click('#lineage-impact');
  await page.waitForFunction(() => document.getElementById('lineage-note').textContent.includes('affects 2 nodes'));
  await page.locator('#lineage').scrollIntoViewIfNeeded();
  await screenshots(page, 'catalog-lineage');
  noProblems(page);
});
