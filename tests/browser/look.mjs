// Development aid, not a test: signs in and saves screenshots of the pages named on the
// command line, printing what each page reported and axe-core's findings.
import { base, newPage, signIn, accessible, screenshots, launch } from './lib.mjs';

const browser = await launch();
try {
  const page = await newPage(browser);
  await signIn(page, process.env.DANGO_EMAIL, process.env.DANGO_PASSWORD);
  for (const target of process.argv.slice(2)) {
    const [path, waitFor] = target.split('@');
    await page.goto(base + path);
    if (waitFor) await page.waitForSelector(waitFor, { timeout: 10000 });
    await page.waitForTimeout(500);
    try { await accessible(page, path); } catch (err) { console.log(err.message); }
    await screenshots(page, path.replace(/[^a-z0-9]+/gi, '_') || 'root');
  }
  console.log('problems:', page.problems);
} finally {
  await browser.close();
}
