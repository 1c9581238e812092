// What every browser test shares: Chromium from Debian (never downloaded), a page that
// fails the test on any script error, CSP violation or dialog (an XSS that ran), sign
// in, axe-core's accessibility check, and screenshots at desktop and phone sizes.
import { createHmac } from 'node:crypto';
import { createRequire } from 'node:module';
import { readFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';

const modules = process.env.DANGO_BROWSER_MODULES;
if (!modules) throw new Error('DANGO_BROWSER_MODULES must name a node_modules directory with playwright-core and axe-core');
const require = createRequire(path.join(modules, 'noop.js'));
const { chromium } = require('playwright-core');
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

export const base = process.env.DANGO_URL;
export const shots = process.env.DANGO_SCREENSHOTS || 'screenshots';
mkdirSync(shots, { recursive: true });

export function check(condition, message) {
  if (!condition) throw new Error('check failed: ' + message);
}

export async function launch() {
  const browser = await chromium.launch({
    executablePath: process.env.DANGO_CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
  return browser;
}

/// A new page in its own context; every problem the page reports fails the test.
export async function newPage(browser, { width = 1280, height = 800 } = {}) {
  const context = await browser.newContext({ viewport: { width, height }, acceptDownloads: true, timezoneId: 'Europe/Berlin' });
  const page = await context.newPage();
  page.problems = [];
  page.on('pageerror', (err) => page.problems.push('script error: ' + err.message));
  page.on('console', (msg) => { if (msg.type() === 'error') page.problems.push('console error: ' + msg.text()); });
  page.on('dialog', async (dialog) => {
    if (dialog.type() === 'confirm' && page.acceptConfirm) { await dialog.accept(); return; }
    page.problems.push(`unexpected ${dialog.type()} dialog: ${dialog.message()}`);
    await dialog.dismiss();
  });
  return page;
}

/// Fails on what the page reported so far, ignoring refusals the test caused on purpose.
export function noProblems(page, allowed = []) {
  const problems = page.problems.filter((p) => !allowed.some((a) => p.includes(a)));
  check(problems.length === 0, 'the page reported problems:\n  ' + problems.join('\n  '));
}

export async function signIn(page, email, password) {
  await page.goto(base + '/login');
  await page.fill('#email', email);
  await page.fill('#password', password);
  await Promise.all([page.waitForURL(base + '/'), page.click('#password-form button[type=submit]')]);
}

/// axe-core over the page: no serious or critical violation.
export async function accessible(page, label) {
  await page.evaluate(axeSource);
  const result = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }));
  });
  const bad = result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  check(bad.length === 0, `${label}: accessibility violations\n` + JSON.stringify(bad, null, 2));
  return result;
}

/// Screenshots of the page as it is at 1280×800 and 390×844, named `name`; at phone size
/// axe-core looks again (a layout can hide a name there) and nothing may be wider than
/// the screen (tables scroll inside their own box).
export async function screenshots(page, name) {
  const files = [];
  for (const [w, h] of [[1280, 800], [390, 844]]) {
    await page.setViewportSize({ width: w, height: h });
    await page.waitForTimeout(150);
    if (w < 500) {
      await accessible(page, `${name} at ${w}px`);
      const wide = await page.evaluate(() => document.documentElement.scrollWidth);
      check(wide <= w, `${name}: the page is ${wide}px wide at ${w}px`);
    }
    const file = path.join(shots, `${name}-${w}x${h}.png`);
    await page.screenshot({ path: file, fullPage: false });
    files.push(file);
  }
  await page.setViewportSize({ width: 1280, height: 800 });
  console.log('screenshots: ' + files.join(' '));
  return files;
}

// ---- RFC 6238 TOTP: HMAC-SHA1 over the 30-second step, 6 digits
function base32Decode(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  const bytes = [];
  for (const c of text.replace(/[\s=]/g, '').toUpperCase()) {
    const index = alphabet.indexOf(c);
    if (index < 0) throw new Error('not base32: ' + c);
    value = ((value << 5) | index) & 0xffff;
    bits += 5;
    if (bits >= 8) { bytes.push((value >>> (bits - 8)) & 0xff); bits -= 8; }
  }
  return Buffer.from(bytes);
}
export function totp(secret, step = Math.floor(Date.now() / 30000)) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac('sha1', base32Decode(secret)).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const number = ((mac[offset] & 0x7f) << 24) | (mac[offset + 1] << 16) | (mac[offset + 2] << 8) | mac[offset + 3];
  return String(number % 1_000_000).padStart(6, '0');
}
// The RFC's own test vector (secret "12345678901234567890", T = 59 s): 287082.
check(totp('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ', 1) === '287082', 'the TOTP helper matches RFC 6238');

/// Runs `test` and exits non-zero with the reason when it fails.
export async function run(test) {
  const browser = await launch();
  try {
    await test(browser);
    console.log('ok');
  } catch (err) {
    console.error(err.stack || String(err));
    process.exitCode = 1;
  } finally {
    await browser.close();
  }
}
