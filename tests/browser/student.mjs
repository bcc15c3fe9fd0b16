// A student's first day (R-1, R-7, R-13, D-2): signs in with the issued password, is made
// to change it, accepts the rules of the environment, reaches the personal account and
// its launcher, ends a session opened on another device, and signs out. Every page on the
// way is checked by axe-core.
//
// Environment: BASE_URL, LOGIN, PASSWORD (the issued one), NEW_PASSWORD.

import { checkA11y, env, expect, pathOf, scenario, signIn, step } from './lib.mjs';

await scenario('student', async (browser) => {
  const [login, issued, fresh] = [env('LOGIN'), env('PASSWORD'), env('NEW_PASSWORD')];
  const page = await browser.page();

  step('the sign-in page');
  await page.goto('/');
  expect(pathOf(page) === '/sign-in', `/ leads to sign-in, not ${page.url()}`);
  expect((await page.title()).startsWith('Вход'), 'the title says where one is');
  await checkA11y(page, 'sign-in');

  step('a wrong password is announced and tied to the fields');
  await signIn(page, login, 'not-the-password');
  const alert = page.getByRole('alert');
  expect((await alert.textContent()).includes('Неверный логин или пароль'), 'the error is an alert');
  expect((await page.getByLabel('Логин').getAttribute('aria-describedby')).includes('form-error'), 'login field describes the error');
  expect((await page.getByLabel('Логин').getAttribute('aria-invalid')) === 'true', 'login field is marked invalid');
  await checkA11y(page, 'sign-in with an error');

  step('the issued password leads to the forced change');
  await signIn(page, login, issued);
  expect(pathOf(page) === '/account/password', `forced to change the password, at ${page.url()}`);
  await checkA11y(page, 'forced password change');

  step('a password that is too common is refused with a reason');
  await page.getByLabel('Текущий пароль').fill(issued);
  await page.getByLabel('Новый пароль', { exact: true }).fill('qwerty123');
  await page.getByLabel('Новый пароль ещё раз').fill('qwerty123');
  await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Сменить пароль' }).click()]);
  expect((await page.getByRole('alert').textContent()).length > 0, 'the refusal is announced');
  await checkA11y(page, 'password change with an error');

  step('a good new password');
  await page.getByLabel('Текущий пароль').fill(issued);
  await page.getByLabel('Новый пароль', { exact: true }).fill(fresh);
  await page.getByLabel('Новый пароль ещё раз').fill(fresh);
  await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Сменить пароль' }).click()]);
  expect(pathOf(page) === '/rules', `then the rules, at ${page.url()}`);
  expect((await page.getByRole('heading', { level: 1 }).textContent()).includes('Правила'), 'the rules page');
  await checkA11y(page, 'rules to accept');

  step('accepting the rules opens the personal account');
  await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Принимаю правила' }).click()]);
  expect(pathOf(page) === '/account', `the account, at ${page.url()}`);
  expect((await page.getByRole('status').first().textContent()).includes('Пароль изменён'), 'the password change is confirmed');
  const launcher = page.getByRole('region', { name: 'Мои ресурсы' });
  const tiles = await launcher.getByRole('listitem').count();
  expect(tiles > 0, 'the launcher lists resources');
  expect(await launcher.getByRole('link', { name: /Moodle|Портал/ }).count() > 0, 'the launcher links to the portal or Moodle');
  await checkA11y(page, 'personal account');

  step('a second device signs in and sees the account at once (rules accepted)');
  const phone = await browser.page({ viewport: { width: 390, height: 844 } });
  await phone.goto('/sign-in');
  await signIn(phone, login, fresh);
  expect(pathOf(phone) === '/account', `the phone reaches the account, at ${phone.url()}`);
  await checkA11y(phone, 'personal account on a narrow screen');

  step('the first device ends the phone\'s session');
  await page.goto('/account');
  const ends = page.getByRole('button', { name: /^Завершить:/ });
  expect((await ends.count()) === 1, 'one other session with its own button');
  await Promise.all([page.waitForNavigation(), ends.first().click()]);
  expect((await page.getByRole('status').first().textContent()).includes('Сеанс завершён'), 'the ending is confirmed');
  await checkA11y(page, 'account after ending a session');
  await phone.goto('/account');
  expect(pathOf(phone) === '/sign-in', `the phone is signed out, at ${phone.url()}`);

  step('signing out');
  await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Выйти' }).click()]);
  expect(pathOf(page) === '/sign-in', `back at sign-in, at ${page.url()}`);
  expect((await page.getByRole('status').textContent()).includes('Вы вышли'), 'signing out is confirmed');
  await checkA11y(page, 'signed out');
  await page.goto('/account');
  expect(pathOf(page) === '/sign-in', 'the account is closed after signing out');
});
