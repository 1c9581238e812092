// An editor runs the programs of scripts/ from the scripts page: a report that prints
// (its output on the run's page), one that fails (its exit code and last error line in
// the list), and a slow one cancelled from its run page while it prints. Both pages pass
// axe-core; screenshots at two sizes.
import { base, check, newPage, noProblems, signIn, accessible, screenshots, run } from './lib.mjs';

const email = process.env.DANGO_EMAIL;
const password = process.env.DANGO_PASSWORD;

const badge = (page, name) => page.textContent(`tr[data-script="${name}"] td[data-label="Last run"] .badge`);

run(async (browser) => {
  const page = await newPage(browser);
  await signIn(page, email, password);
  await page.click('nav a[href="/scripts"]');
  await page.waitForSelector('tr[data-script="reports/daily.py"]');
  check(await page.locator('tr[data-script]').count() === 3, 'three scripts; the helper module is not one');
  check((await page.textContent('tr[data-script="reports/daily.py"]')).includes('never run'), 'not run yet');

  // the report runs; its row shows the success and links to what it printed
  await page.click('tr[data-script="reports/daily.py"] button:has-text("Run")');
  await page.waitForSelector('.toast:has-text("reports/daily.py: run")');
  await page.waitForFunction(() => document.querySelector('tr[data-script="reports/daily.py"] td[data-label="Last run"] .badge')?.textContent === 'success', null, { timeout: 30000 });

  // the failing one says why in the list
  await page.click('tr[data-script="broken.sh"] button:has-text("Run")');
  await page.waitForFunction(() => document.querySelector('tr[data-script="broken.sh"] td[data-label="Last run"] .badge')?.textContent === 'failed', null, { timeout: 30000 });
  check((await page.textContent('tr[data-script="broken.sh"]')).includes('Exit code 2: the orders file is empty'), 'the exit code and last error line');
  check(await badge(page, 'broken.sh') === 'failed', 'badge');
  await page.click('tr[data-script="broken.sh"] button:has-text("Runs")');
  await page.waitForSelector('[data-history="broken.sh"] li');
  check(await page.getAttribute('tr[data-script="broken.sh"] button:has-text("Hide runs")', 'aria-expanded') === 'true', 'the toggle says it is open');
  check(!(await page.textContent('main')).includes('null'), 'no stray "null" on the page');
  await accessible(page, 'scripts');
  await screenshots(page, 'scripts');

  // the report's output, on its run page
  await Promise.all([page.waitForURL(/\/scripts\/reports%2Fdaily\.py\/logs\//), page.click('tr[data-script="reports/daily.py"] td[data-label="Last run"] a')]);
  await page.waitForFunction(() => document.querySelector('#stdout').textContent.includes('3 sources checked'));
  check((await page.textContent('#run-summary')).includes('exit code 0'), 'the exit code');
  check((await page.textContent('#stderr')).includes('(nothing)'), 'an empty stderr says so');
  check((await page.textContent('h1')).includes('reports/daily.py'), 'the heading names the script');
  await accessible(page, 'script run');
  check(!(await page.textContent('main')).includes('null'), 'no stray "null" on the run page');

  // a slow one, cancelled from its page while it prints
  await page.goto(base + '/scripts');
  await page.waitForSelector('tr[data-script="slow.sh"]');
  await page.click('tr[data-script="slow.sh"] button:has-text("Run")');
  await page.waitForSelector('tr[data-script="slow.sh"] button:has-text("Cancel")');
  await Promise.all([page.waitForURL(/\/scripts\/slow\.sh\/logs\//), page.click('tr[data-script="slow.sh"] td[data-label="Last run"] a')]);
  await page.waitForFunction(() => document.querySelector('#stdout').textContent.includes('tick 1'), null, { timeout: 15000 });
  await page.waitForSelector('#cancel-run:not([hidden])');
  await screenshots(page, 'script-run');
  await page.click('#cancel-run');
  await page.waitForFunction(() => document.querySelector('#run-summary .badge')?.textContent === 'cancelled', null, { timeout: 15000 });
  check(await page.isHidden('#cancel-run'), 'nothing left to cancel');
  check((await page.textContent('#run-summary')).includes('Cancelled by ' + email), 'who cancelled it');
  noProblems(page);
});
