// The administrators' console in a real browser (R-5, R-6, R-19, R-20, D-5, D-11): an
// administrator signs in with a second factor (enrolled on the spot from the key the page
// shows), registers a group from a file (review, confirm), prints the slips, marks two
// of them handed over, looks at people, reports, journals, requests and announcements,
// and creates an inspector's account; a student signs in with a slip, changes the
// password and accepts the rules; a librarian exports the library list. Every page is
// checked by axe-core in the standard version and in the version for the visually
// impaired.
//
// Environment: BASE_URL, ADMIN, ADMIN_PASSWORD, LIBRARIAN, LIBRARIAN_PASSWORD, NEW_PASSWORD.

import { createHmac } from 'node:crypto';

import { checkA11y, env, expect, pathOf, scenario, setLowVision, signIn, step } from './lib.mjs';

/** RFC 4648 base32 to bytes (the key as the enrolment page writes it, in groups). */
function base32(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  const out = [];
  for (const c of text.replace(/[\s=]/g, '').toUpperCase()) {
    const v = alphabet.indexOf(c);
    if (v < 0) throw new Error(`not base32: ${c}`);
    value = ((value << 5) | v) & 0xfff;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((value >> bits) & 0xff);
    }
  }
  return Buffer.from(out);
}

/** RFC 6238 TOTP: HMAC-SHA1, 30-second steps, 6 digits. */
function totp(key, at = Date.now()) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(at / 1000 / 30)));
  const h = createHmac('sha1', key).update(counter).digest();
  const o = h[h.length - 1] & 0x0f;
  return String((h.readUInt32BE(o) & 0x7fffffff) % 1_000_000).padStart(6, '0');
}

/** Both versions of a page pass axe: standard, then for the visually impaired, then back. */
async function bothVersions(page, label) {
  await checkA11y(page, label);
  await setLowVision(page, true);
  await checkA11y(page, `${label} (visually impaired)`);
  await setLowVision(page, false);
}

/** Signs in an administrative account for the first time: password, second factor
 *  enrolment, the issued password changed, the rules accepted. */
async function firstSignIn(page, login, issued, fresh, label) {
  await signIn(page, login, issued);
  expect(pathOf(page) === '/sign-in/second-factor', `${label}: the second factor next, at ${page.url()}`);
  await checkA11y(page, `${label}: second factor enrolment`);
  const key = base32(await page.locator('code.secret').first().textContent());
  await page.locator('input[name="code"]').fill(totp(key));
  await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: /^(Подключить|Enable)/ }).click()]);
  await checkA11y(page, `${label}: recovery codes`);
  await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: /Я сохранил/ }).click()]);
  expect(pathOf(page) === '/account/password', `${label}: then the password, at ${page.url()}`);
  await page.getByLabel('Текущий пароль').fill(issued);
  await page.getByLabel('Новый пароль', { exact: true }).fill(fresh);
  await page.getByLabel('Новый пароль ещё раз').fill(fresh);
  await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Сменить пароль' }).click()]);
  expect(pathOf(page) === '/rules', `${label}: then the rules, at ${page.url()}`);
  await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Принимаю правила' }).click()]);
  expect(pathOf(page) === '/account', `${label}: the personal account, at ${page.url()}`);
}

const GROUP = [
  { external_id: 'b0001', full_name: 'Морозова Алиса Павловна', role: 'student', status: 'studying', effective: '2026-09-01' },
  { external_id: 'b0002', full_name: 'Лебедев Кирилл Андреевич', role: 'student', status: 'studying', effective: '2026-09-01' },
  { external_id: 'b0003', full_name: 'Козлова Ева Романовна', role: 'student', status: 'studying', effective: '2026-09-01' },
];

await scenario('console', async (browser) => {
  const fresh = env('NEW_PASSWORD');
  const page = await browser.page();

  step('"I cannot sign in": the public form files a request');
  const visitor = await browser.page();
  await visitor.goto('/sign-in');
  await Promise.all([visitor.waitForNavigation(), visitor.getByRole('link', { name: /Не могу войти/ }).click()]);
  expect(pathOf(visitor) === '/access-request', `the form, at ${visitor.url()}`);
  await bothVersions(visitor, 'I cannot sign in');
  await visitor.getByLabel(/Логин/).fill('zabyl.z');
  await visitor.getByLabel('ФИО').fill('Забывчивый Захар');
  await visitor.getByLabel(/Как с вами связаться/).fill('+7 900 111-22-33');
  await visitor.getByLabel('Что случилось').fill('Потерял лист с паролем');
  await Promise.all([visitor.waitForNavigation(), visitor.getByRole('button', { name: 'Отправить обращение' }).click()]);
  expect((await visitor.getByRole('status').textContent()).includes('Обращение принято'), 'the request is filed');
  await checkA11y(visitor, 'request filed');

  step('the administrator signs in with a second factor');
  await firstSignIn(page, env('ADMIN'), env('ADMIN_PASSWORD'), fresh, 'administrator');
  await page.goto('/admin');
  expect((await page.getByRole('heading', { level: 1 }).textContent()).includes('Консоль'), 'the console');
  await bothVersions(page, 'console');

  // Uploads `people` as a JSON register file for `group`, checks the review page, confirms
  // and checks the slips page; returns the first slip's login and password. The slips are
  // in the confirmation's answer only (leaving the page loses them, by design), so the
  // version for the visually impaired is chosen before, not on, these pages.
  async function registerGroup(people, group, version) {
    await page.goto('/admin/register');
    await page.getByLabel('Файл списка').setInputFiles({
      name: `${group}.json`,
      mimeType: 'application/json',
      buffer: Buffer.from(JSON.stringify(people)),
    });
    await page.getByLabel('Формат').selectOption('json');
    await page.getByLabel(/Учебная группа/).fill(group);
    await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Проверить список' }).click()]);
    expect((await page.getByRole('heading', { level: 1 }).textContent()).includes('Проверка'), 'the review page');
    expect((await page.getByRole('row').count()) === people.length + 1, 'one row per person');
    await checkA11y(page, `review the list${version}`);
    await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: /Подтвердить и создать/ }).click()]);
    const slips = page.locator('article.slip');
    expect((await slips.count()) === people.length, 'one slip per person');
    await checkA11y(page, `credential slips${version}`);
    const secrets = slips.first().locator('code.secret');
    return [(await secrets.nth(0).textContent()).trim(), (await secrets.nth(1).textContent()).trim()];
  }

  step('a group from a file: review, confirm, the slips shown once');
  await page.goto('/admin/register');
  await bothVersions(page, 'register a group');
  const [studentLogin, studentPassword] = await registerGroup(GROUP, 'ИС-27', '');

  step('two slips marked handed over');
  await Promise.all([page.waitForNavigation(), page.getByRole('link', { name: /Отметить выдачу/ }).click()]);
  await checkA11y(page, 'slips of one batch');
  const boxes = page.getByRole('checkbox');
  expect((await boxes.count()) === GROUP.length, 'a box per slip');
  await boxes.nth(0).check();
  await boxes.nth(1).check();
  await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: /Отметить выбранные/ }).click()]);
  expect((await page.getByRole('checkbox').count()) === GROUP.length - 2, 'two marked, the rest left');
  await checkA11y(page, 'slips after marking');

  step('another group in the version for the visually impaired');
  await setLowVision(page, true);
  const late = [{ external_id: 'b0101', full_name: 'Орлова Нина Петровна', role: 'student', status: 'studying', effective: '2026-09-01' }];
  await registerGroup(late, 'ИС-28', ' (visually impaired)');
  await page.goto('/admin');
  await setLowVision(page, false);

  step('people, one person, reports, journals, requests, announcements, library, inspectors');
  await page.goto(`/admin/users?q=${encodeURIComponent('морозова')}`);
  expect((await page.getByRole('link', { name: studentLogin }).count()) === 1, 'the search finds the new student');
  await bothVersions(page, 'users');
  await Promise.all([page.waitForNavigation(), page.getByRole('link', { name: studentLogin }).click()]);
  await bothVersions(page, 'one person');
  for (const [path, label] of [
    ['/admin/reports', 'reports'],
    ['/admin/journal', 'journals'],
    ['/admin/journal?log=journal', 'credential journal'],
    ['/admin/journal/verify', 'journals\' integrity'],
    ['/admin/requests', 'requests'],
    ['/admin/requests?all=true', 'all requests'],
    ['/admin/notices', 'announcements'],
    ['/admin/library', 'library access'],
    ['/admin/inspectors', 'inspectors'],
    ['/admin/slips', 'slip batches'],
    ['/admin/users/new', 'register a person'],
  ]) {
    await page.goto(path);
    await bothVersions(page, label);
  }
  await page.goto('/admin/journal/verify');
  expect((await page.getByRole('status').first().textContent()).includes('целы'), 'both journals intact');

  step('an inspector\'s account for 7 days');
  await page.goto('/admin/inspectors');
  await page.getByLabel('Логин').fill('proverka.r');
  await page.getByLabel('ФИО').fill('Проверкина Раиса');
  await page.getByLabel('Основание проверки').fill('Плановая проверка');
  await page.getByLabel(/Срок, дней/).fill('7');
  await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: /Создать учётную запись/ }).click()]);
  expect((await page.locator('article.slip').count()) === 1, 'the inspector\'s slip');
  await checkA11y(page, 'inspector created');

  step('the student signs in with the slip');
  const student = await browser.page();
  await signIn(student, studentLogin, studentPassword);
  expect(pathOf(student) === '/account/password', `the slip's password must be changed, at ${student.url()}`);
  await student.getByLabel('Текущий пароль').fill(studentPassword);
  await student.getByLabel('Новый пароль', { exact: true }).fill(fresh);
  await student.getByLabel('Новый пароль ещё раз').fill(fresh);
  await Promise.all([student.waitForNavigation(), student.getByRole('button', { name: 'Сменить пароль' }).click()]);
  expect(pathOf(student) === '/rules', `then the rules, at ${student.url()}`);
  await Promise.all([student.waitForNavigation(), student.getByRole('button', { name: 'Принимаю правила' }).click()]);
  expect(pathOf(student) === '/account', `the student's account, at ${student.url()}`);
  await student.goto('/admin');
  await checkA11y(student, 'console refused to a student');

  step('the slip shows as received');
  await page.goto('/admin/slips');
  const batches = [];
  for (const row of await page.getByRole('row').all()) {
    const cells = await row.getByRole('cell').allTextContents();
    if (cells.length === 5) batches.push(cells.slice(2).join('/'));
  }
  // Newest first: the one-person group, then the first group (3 slips, 2 handed over,
  // 1 received by the student's sign-in).
  expect(JSON.stringify(batches) === JSON.stringify(['1/0/0', '3/2/1']), `the batches' counts: ${batches}`);

  step('the librarian exports the library list');
  const librarian = await browser.page();
  await firstSignIn(librarian, env('LIBRARIAN'), env('LIBRARIAN_PASSWORD'), fresh, 'librarian');
  await librarian.goto('/admin');
  const sections = await librarian.getByRole('navigation', { name: 'Разделы консоли' }).getByRole('link').allTextContents();
  expect(sections.includes('Доступ к ЭБС') && !sections.includes('Пользователи'), `the librarian's sections: ${sections}`);
  await librarian.goto('/admin/library');
  await bothVersions(librarian, 'library access (librarian)');
  expect((await librarian.getByRole('cell', { name: studentLogin }).count()) === 1, 'the new student is entitled');
  const [download] = await Promise.all([
    librarian.waitForEvent('download'),
    librarian.getByRole('link', { name: 'Выгрузить CSV' }).click(),
  ]);
  const csv = await new Promise((resolve, reject) => {
    download.createReadStream().then((s) => {
      const chunks = [];
      s.on('data', (c) => chunks.push(c));
      s.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      s.on('error', reject);
    }, reject);
  });
  expect(csv.startsWith('"login","full_name"') && csv.includes(`"${studentLogin}"`), 'the CSV lists the student');
  await librarian.goto('/admin/users');
  expect((await librarian.locator('main').textContent()).includes('не разрешено'), 'the users are refused to a librarian');
});
