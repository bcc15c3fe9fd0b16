// A small library for driving propusk's pages in a real Chromium (headless) and checking
// them with axe-core against WCAG 2.1 A and AA. Each scenario is a script of its
// own (`node tests/browser/<scenario>.mjs`), started by `tests/browser.rs` with the
// server's address and the people's credentials in environment variables; it prints what
// it does and exits non-zero on the first failure.
//
//   import { env, launch, checkA11y, step, expect } from './lib.mjs';
//   const browser = await launch();
//   const page = await browser.page();            // a fresh context: its own cookies
//   await page.goto('/sign-in');
//   await checkA11y(page, 'sign-in');
//   await browser.close();

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

/** The WCAG 2.1 success criteria at levels A and AA, as axe-core tags them. */
export const WCAG21AA = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];

/** An environment variable the scenario cannot do without. */
export function env(name) {
  const v = process.env[name];
  if (v === undefined || v === '') {
    throw new Error(`the environment variable ${name} is not set`);
  }
  return v;
}

/** Prints a step of the scenario, so a failure's output shows how far it got. */
export function step(text) {
  console.log(`- ${text}`);
}

/** Fails the scenario with `message` unless `condition` holds. */
export function expect(condition, message) {
  if (!condition) {
    throw new Error(`expected: ${message}`);
  }
}

/**
 * Starts headless Chromium (Debian's, `/usr/bin/chromium`, or $CHROMIUM). The server's
 * certificate comes from the test's own CA, so HTTPS errors are ignored; everything else
 * (the content security policy included) is left as a browser enforces it.
 *
 * Returns `{ page(options), close() }`: `page()` opens a page in a new context (a new
 * cookie jar) whose relative addresses resolve against $BASE_URL. Console errors, failed
 * requests and content-security-policy violations on any page fail `checkA11y`.
 */
export async function launch() {
  const base = env('BASE_URL');
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
  });
  const contexts = [];
  return {
    async page(options = {}) {
      const context = await browser.newContext({
        baseURL: base,
        ignoreHTTPSErrors: true,
        locale: options.locale || 'ru-RU',
        viewport: options.viewport || { width: 1280, height: 900 },
        ...(options.contextOptions || {}),
      });
      contexts.push(context);
      const page = await context.newPage();
      page.problems = [];
      // A page answered with an error status is logged by Chromium as a failed load; that
      // is the page's own status (a 401 after a wrong password, a 404), checked by the
      // scenario. A stylesheet, icon or other subresource that fails is a problem.
      page.on('console', (m) => {
        if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) page.problems.push(`console: ${m.text()}`);
      });
      page.on('response', (r) => {
        if (r.status() >= 400 && r.request().resourceType() !== 'document') {
          page.problems.push(`subresource ${r.url()} answered ${r.status()}`);
        }
      });
      page.on('pageerror', (e) => page.problems.push(`page error: ${e.message}`));
      // A request cut short because the page moved on (net::ERR_ABORTED) is no fault.
      page.on('requestfailed', (r) => {
        const why = r.failure()?.errorText || '';
        if (!why.includes('ERR_ABORTED')) page.problems.push(`request failed: ${r.url()} ${why}`);
      });
      return page;
    },
    async close() {
      for (const c of contexts) await c.close().catch(() => {});
      await browser.close();
    },
  };
}

/**
 * Runs axe-core on the page as it is now, with the WCAG 2.1 A and AA rules, and fails
 * with every violation listed (rule, impact, the elements and what to fix) when there is
 * any. Also fails when the page logged an error (a blocked stylesheet, a CSP violation).
 * Page-level facts axe leaves to people are checked too: a `lang` on <html>, a title that
 * names the page, one <main>, a skip link to it. Returns axe's results. With
 * $SCREENSHOT_DIR set, a full-page screenshot of each checked page is saved there.
 */
export async function checkA11y(page, label) {
  // Evaluated through the DevTools protocol, so the page's strict CSP need not allow it.
  await page.evaluate(AXE_SOURCE);
  const results = await page.evaluate(async (tags) => {
    // eslint-disable-next-line no-undef
    return await axe.run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] });
  }, WCAG21AA);
  const problems = [...page.problems];
  page.problems.length = 0;
  for (const v of results.violations) {
    const nodes = v.nodes
      .slice(0, 5)
      .map((n) => `      ${n.target.join(' ')}: ${n.failureSummary.replace(/\s+/g, ' ')}`)
      .join('\n');
    problems.push(`${v.id} (${v.impact}): ${v.help}\n${nodes}`);
  }
  const facts = await page.evaluate(() => ({
    lang: document.documentElement.lang,
    title: document.title,
    mains: document.querySelectorAll('main').length,
    skip: document.querySelector('body > a[href="#main"]') !== null,
    h1: document.querySelector('h1')?.textContent?.trim() || '',
  }));
  if (!['ru', 'en'].includes(facts.lang)) problems.push(`<html lang> is ${JSON.stringify(facts.lang)}`);
  if (!facts.h1 || !facts.title.startsWith(facts.h1)) {
    problems.push(`the title ${JSON.stringify(facts.title)} does not name the page (h1 ${JSON.stringify(facts.h1)})`);
  }
  if (facts.mains !== 1) problems.push(`${facts.mains} <main> elements`);
  if (!facts.skip) problems.push('no skip link to #main as the first thing in <body>');
  if (problems.length > 0) {
    throw new Error(`accessibility of "${label}" (${page.url()}):\n  ${problems.join('\n  ')}`);
  }
  if (process.env.SCREENSHOT_DIR) {
    const file = `${process.env.SCREENSHOT_DIR}/${label.replace(/[^\p{L}\p{N}-]+/gu, '_')}.png`;
    await page.screenshot({ path: file, fullPage: true });
  }
  step(`axe: "${label}" has no WCAG 2.1 A/AA violation (${results.passes.length} rules passed)`);
  return results;
}

/** Whether the page is in the version for the visually impaired. */
export async function isLowVision(page) {
  return page.evaluate(() => document.documentElement.classList.contains('low-vision'));
}

/** Switches the version for the visually impaired on or off by its link in the header. */
export async function setLowVision(page, on) {
  if ((await isLowVision(page)) === on) return;
  const name = on ? /Версия для слабовидящих|Version for the visually impaired/ : /Обычная версия|Standard version/;
  await Promise.all([page.waitForNavigation(), page.getByRole('link', { name }).click()]);
  expect((await isLowVision(page)) === on, `the version for the visually impaired is ${on ? 'on' : 'off'}`);
}

/** Fills the sign-in form and submits it. */
export async function signIn(page, login, password) {
  if (!new URL(page.url(), 'https://x/').pathname.startsWith('/sign-in')) await page.goto('/sign-in');
  await page.getByLabel(/^(Логин|Login)$/).fill(login);
  await page.getByLabel(/^(Пароль|Password)$/).fill(password);
  await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: /^(Войти|Sign in)$/ }).click()]);
}

/** The path of the page's address. */
export function pathOf(page) {
  return new URL(page.url()).pathname;
}

/** Runs `body` and exits the process: 0 when it finished, 1 with the error otherwise. */
export async function scenario(name, body) {
  const browser = await launch();
  try {
    await body(browser);
    console.log(`${name}: passed`);
    await browser.close();
    process.exit(0);
  } catch (e) {
    console.error(`${name}: FAILED\n${e.stack || e}`);
    await browser.close().catch(() => {});
    process.exit(1);
  }
}
