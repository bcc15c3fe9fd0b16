// "My account is compromised" without signing in: from the sign-in page, with the
// login and the lock code printed with the credentials. A wrong code gets the same answer
// and changes nothing; the right one blocks the account, and the password then no longer
// opens it. Checked by axe-core in both versions of the site.
//
// Environment: BASE_URL, LOGIN, LOCK_CODE, PASSWORD (the issued one).

import { checkA11y, env, expect, pathOf, scenario, setLowVision, signIn, step } from './lib.mjs';

await scenario('compromise', async (browser) => {
  const [login, code, password] = [env('LOGIN'), env('LOCK_CODE'), env('PASSWORD')];
  const page = await browser.page();

  step('from the sign-in page to the form');
  await page.goto('/sign-in');
  await Promise.all([page.waitForNavigation(), page.getByRole('link', { name: 'Мою учётную запись взломали' }).click()]);
  expect(pathOf(page) === '/compromised', `the public form, at ${page.url()}`);
  await checkA11y(page, 'compromise form');

  const report = async (c) => {
    await page.getByLabel('Логин').fill(login);
    await page.getByLabel('Код блокировки').fill(c);
    await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Заблокировать учётную запись' }).click()]);
    return (await page.getByRole('status').textContent()).trim();
  };

  step('a wrong code: the same answer, nothing blocked');
  const wrong = await report('AAAA-BBBB-CCCC');
  expect(wrong.startsWith('Если логин и код указаны верно'), `the neutral answer, got ${wrong}`);
  await checkA11y(page, 'compromise answer');

  step('the same form in the version for the visually impaired');
  await setLowVision(page, true);
  expect(pathOf(page) === '/compromised', `the switch returns to the same page, at ${page.url()}`);
  await checkA11y(page, 'compromise form, version for the visually impaired');

  step('the right code blocks the account');
  const right = await report(code);
  expect(right === wrong, 'a right and a wrong code are answered alike');
  await checkA11y(page, 'compromise answer, version for the visually impaired');

  step('the password no longer opens the account');
  await page.goto('/sign-in');
  await signIn(page, login, password);
  expect(pathOf(page) === '/sign-in', `still at sign-in, at ${page.url()}`);
  const refusal = await page.getByRole('alert').textContent();
  expect(refusal.length > 0, 'the refusal is announced');
  await checkA11y(page, 'sign-in refused after the report, version for the visually impaired');
  await setLowVision(page, false);
  await checkA11y(page, 'sign-in refused after the report');
});
