// Every page propusk serves, checked by axe-core (WCAG 2.1 A and AA) twice: in the
// standard version and in the version for the visually impaired. The second
// pass switches the version on by the link in the header before signing in, and every
// page after that (through the forced password change, the rules, declining them and
// signing out, signing in again, the account, the refusal and logout pages) must still
// be in it: the choice is remembered across pages and after signing out.
//
// Environment: BASE_URL, LOGIN_STANDARD, PASSWORD_STANDARD, LOGIN_LOW_VISION,
// PASSWORD_LOW_VISION (issued passwords of two students), NEW_PASSWORD.

import { checkA11y, env, expect, isLowVision, pathOf, scenario, setLowVision, signIn, step } from './lib.mjs';

const REFUSED =
  '/authorize?client_id=moodle&redirect_uri=https%3A%2F%2Fmoodle.college.example%2Fcb&response_type=code&scope=openid';

async function pass(browser, mode, login, issued, fresh) {
  const on = mode === 'low-vision';
  const page = await browser.page();
  const check = async (label) => {
    expect((await isLowVision(page)) === on, `"${label}" is in the ${mode} version`);
    await checkA11y(page, `[${mode}] ${label}`);
  };
  const submit = (name) => Promise.all([page.waitForNavigation(), page.getByRole('button', { name }).click()]);

  step(`${mode}: public pages`);
  await page.goto('/sign-in');
  await setLowVision(page, on);
  expect(pathOf(page) === '/sign-in', 'the switch returns to the page it was used on');
  if (on) {
    const size = await page.evaluate(() => parseFloat(getComputedStyle(document.documentElement).fontSize));
    expect(size >= 24, `large type in the version for the visually impaired (${size}px)`);
    const colours = await page.evaluate(() => {
      const s = getComputedStyle(document.body);
      return [s.color, s.backgroundColor];
    });
    expect(colours[0] === 'rgb(0, 0, 0)' && colours[1] === 'rgb(255, 255, 255)', `black on white, got ${colours}`);
  }
  await check('sign-in');
  await signIn(page, login, 'not-the-password');
  await check('sign-in with an error');
  await page.goto('/compromised');
  await check('compromise form');
  const missing = await page.goto('/no-such-page');
  expect(missing.status() === 404, 'an unknown page is 404');
  await check('not found');

  step(`${mode}: first sign-in, forced password change`);
  await signIn(page, login, issued);
  expect(pathOf(page) === '/account/password', `forced change, at ${page.url()}`);
  await check('forced password change');
  await page.getByLabel('Текущий пароль').fill(issued);
  await page.getByLabel('Новый пароль', { exact: true }).fill(fresh);
  await page.getByLabel('Новый пароль ещё раз').fill(`${fresh}!`);
  await submit('Сменить пароль');
  await check('password change with an error');
  await page.getByLabel('Текущий пароль').fill(issued);
  await page.getByLabel('Новый пароль', { exact: true }).fill(fresh);
  await page.getByLabel('Новый пароль ещё раз').fill(fresh);
  await submit('Сменить пароль');

  step(`${mode}: the rules, declined, then accepted`);
  expect(pathOf(page) === '/rules', `the rules, at ${page.url()}`);
  await check('rules to accept');
  await submit('Не принимаю и выхожу');
  expect((await page.getByRole('status').textContent()).includes('не приняли'), 'declining is explained');
  await check('rules declined');
  await signIn(page, login, fresh);
  expect(pathOf(page) === '/rules', `asked again, at ${page.url()}`);
  await submit('Принимаю правила');
  expect(pathOf(page) === '/account', `the account, at ${page.url()}`);
  await check('personal account');

  step(`${mode}: the account's other pages`);
  await page.goto('/account/password');
  await check('password change');
  await page.goto('/account/compromised');
  await check('compromise report from the account');
  await page.goto('/rules');
  await check('rules already accepted');
  const refused = await page.goto(REFUSED);
  expect(refused.status() === 403, `the client refuses students, got ${refused.status()}`);
  await check('access refused');
  await page.goto('/logout');
  expect((await page.getByRole('heading', { level: 1 }).textContent()).includes('Выход'), 'the logout confirmation');
  await check('logout confirmation');

  step(`${mode}: in English`);
  await page.goto('/lang/en?next=/account');
  expect((await page.evaluate(() => document.documentElement.lang)) === 'en', 'English');
  await check('personal account in English');
  await page.goto('/rules');
  await check('rules in English');
  await page.goto('/lang/ru?next=/account');

  step(`${mode}: signing out keeps the choice`);
  await page.goto('/account');
  await submit('Выйти');
  expect(pathOf(page) === '/sign-in', `signed out, at ${page.url()}`);
  await check('signed out');
  await page.close();
  return on;
}

await scenario('a11y', async (browser) => {
  step('the checker itself fails a page with violations');
  const control = await browser.page();
  await control.setContent('<html><head><title>x</title></head><body><main><input type="text"><p style="color:#aaa">low</p></main></body></html>');
  const caught = await checkA11y(control, 'a page made to fail').then(() => null, (e) => e.message);
  expect(caught !== null && caught.includes('label') && caught.includes('color-contrast'), `violations are reported: ${caught}`);
  await control.close();

  const fresh = env('NEW_PASSWORD');
  await pass(browser, 'standard', env('LOGIN_STANDARD'), env('PASSWORD_STANDARD'), fresh);
  await pass(browser, 'low-vision', env('LOGIN_LOW_VISION'), env('PASSWORD_LOW_VISION'), fresh);
});
