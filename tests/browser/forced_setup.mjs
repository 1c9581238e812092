// On a platform that requires 2FA, a new user signs in with the temporary password an
// admin gave them: every page sends them to /setup until they have chosen a password and
// enrolled an authenticator from the QR code the server drew. Then they sign in with a
// code and land on the overview. Too many wrong passwords later lock the account, and
// the sign-in form counts down to when trying again can work.
import { base, check, newPage, noProblems, accessible, screenshots, run, totp } from './lib.mjs';

const email = process.env.DANGO_EMAIL;
const temporary = process.env.DANGO_PASSWORD;
const chosen = 'Chosen-Horse-2026';

run(async (browser) => {
  const page = await newPage(browser);
  await page.goto(base + '/login');
  await page.fill('#email', email);
  await page.fill('#password', temporary);
  await Promise.all([page.waitForURL(base + '/setup'), page.click('#password-form button[type=submit]')]);
  check(await page.getAttribute('.setup', 'data-needs-2fa') === 'true', 'setup knows 2FA is due: ' + await page.getAttribute('.setup', 'data-needs-2fa'));
  check(!(await page.isHidden('#password-step')) && await page.isHidden('#tfa-step'), 'the password comes first');
  await accessible(page, 'setup: password');
  // nothing else opens yet: pages come back here, the API says why
  await page.goto(base + '/sources');
  check(page.url() === base + '/setup', 'a page sends the user back to setup: ' + page.url());
  const refused = await page.evaluate(() => fetch('/api/sources').then(async (r) => [r.status, (await r.json()).detail]));
  check(refused[0] === 403, 'the API refuses until setup is done: ' + refused);

  await page.fill('#current', temporary);
  await page.fill('#next', chosen);
  await page.click('#password-step button[type=submit]');
  // the password is carried into the enrolment; the QR code is the server's SVG
  await page.waitForSelector('#tfa-enrol:not([hidden]), #error:not(:empty)', { timeout: 5000 }).catch(() => check(false, 'no enrolment: ' + page.url() + ' ' + page.problems.join('; ')));
  check(await page.textContent('#error') === '', 'no error: ' + await page.textContent('#error'));
  const qr = await page.getAttribute('#tfa-qr', 'src');
  check(qr.startsWith('data:image/svg+xml;base64,'), 'a server-drawn QR code');
  check(await page.locator('#tfa-qr').evaluate((img) => img.complete && img.naturalWidth > 0), 'the QR code loads under the CSP');
  const refusedStill = await page.evaluate(() => fetch('/api/sources').then((r) => r.status));
  check(refusedStill === 403, 'a new password alone is not enough: ' + refusedStill);
  check(await page.locator('#tfa-codes li').count() >= 8, 'recovery codes are shown');
  await accessible(page, 'setup: 2FA');
  await screenshots(page, 'setup');
  const secret = (await page.textContent('#tfa-secret')).replace(/\s/g, '');
  await page.fill('#tfa-code', totp(secret));
  await Promise.all([page.waitForURL(base + '/'), page.click('#tfa-verify button[type=submit]')]);
  await page.waitForSelector('#stats .stat-card');
  noProblems(page, ['403 (Forbidden)']);

  // signing in again takes the new password and a code
  const again = await newPage(browser);
  await again.goto(base + '/login');
  await again.fill('#email', email);
  await again.fill('#password', chosen);
  await again.click('#password-form button[type=submit]');
  await again.waitForSelector('#code-form:not([hidden])');
  await again.fill('#code', totp(secret, Math.floor(Date.now() / 30000) + 1));
  await Promise.all([again.waitForURL(base + '/'), again.click('#code-form button[type=submit]')]);
  await accessible(again, 'overview after setup');
  noProblems(again);

  const locked = await newPage(browser);
  await locked.goto(base + '/login');
  await locked.fill('#email', email);
  for (let attempt = 0; attempt < 6; attempt += 1) {
    await locked.fill('#password', 'Wrong-Horse-' + attempt);
    await locked.click('#password-form button[type=submit]');
    await locked.waitForFunction(() => document.getElementById('error').textContent !== '');
    if ((await locked.textContent('#error')).includes('Try again in')) break;
    await locked.evaluate(() => { document.getElementById('error').textContent = ''; });
  }
  const message = await locked.textContent('#error');
  check(/locked.*Try again in \d+ min \d+ s/.test(message), 'the lockout counts down: ' + message);
  check(await locked.isDisabled('#password-form button[type=submit]'), 'signing in waits for the lockout');
  await accessible(locked, 'sign-in while locked');
  noProblems(locked, ['400 (Bad Request)', '401 (Unauthorized)', '423 (Locked)', '429 (Too Many Requests)']);
});
