// roles.test.mjs - logging in lands on the role's page, a client cannot
// reach the admin area (neither its pages nor its API), an admin opening
// the customer app is pointed to the admin area, and an ended session
// returns to the login page and then to the page the user was on.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, login, newPage, shot, startKilowatt } from './harness.mjs';

let kw, browser, admin, client;

before(async () => {
	kw = await startKilowatt();
	browser = await launchBrowser();
	admin = kw.user('ada@example.test', 'admin-password-1', { name: 'Ada Admin', role: 'admin' });
	client = kw.user('lea@example.test', 'client-password-1', { name: 'Léa Dubois' });
});

after(async () => {
	await browser?.close();
	await kw?.stop();
});

test('the login page names a wrong password next to the field, then lands an admin on /admin', async () => {
	const page = await newPage(browser, kw);
	await page.goto('/');
	await page.waitForURL('**/login');
	await shot(page, 'login');
	await page.getByLabel('Email').fill(admin.email);
	await page.getByLabel('Password').fill('not-the-password');
	await page.getByRole('button', { name: 'Log in' }).click();
	await page.getByText('Wrong email or password.').waitFor();
	assert.equal(await page.getByLabel('Password').getAttribute('aria-invalid'), 'true');
	await page.getByLabel('Password').fill(admin.password);
	await page.getByRole('button', { name: 'Log in' }).click();
	await page.waitForURL('**/admin');
	await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Users' }).waitFor();
	assert.deepEqual(page.problems, []);
	await page.context().close();
});

test('a client lands on /app; /admin/users says "not allowed" and the admin API refuses it', async () => {
	const page = await newPage(browser, kw);
	await login(page, client);
	assert.equal(new URL(page.url()).pathname, '/app');
	const adminCalls = [];
	page.on('request', (r) => new URL(r.url()).pathname.startsWith('/api/v1/users') && adminCalls.push(r.url()));
	await page.goto('/admin/users');
	await page.getByRole('heading', { name: 'Not allowed' }).waitFor();
	assert.deepEqual(adminCalls, [], 'the not-allowed page must not call the admin API');
	const status = await page.evaluate(async () => (await fetch('/api/v1/users')).status);
	assert.ok(status === 403 || status === 404, `client fetch of /api/v1/users answered ${status}`);
	await shot(page, 'client-not-allowed');
	await page.context().close();
});

test('an admin opening /app sees a note with a link to the admin area', async () => {
	const page = await newPage(browser, kw);
	await login(page, admin);
	await page.goto('/app');
	const link = page.getByRole('main').getByRole('link', { name: /admin area/i });
	await link.waitFor();
	await link.click();
	await page.waitForURL('**/admin');
	await page.context().close();
});

test('when the session ends, the user logs in again and returns to the page they were on', async () => {
	const page = await newPage(browser, kw);
	await login(page, admin);
	await page.goto('/admin/tokens');
	await page.getByRole('heading', { level: 1 }).waitFor();
	// End the session behind the page's back, as an expiry would.
	await page.context().clearCookies();
	await page.getByRole('link', { name: 'Audit log' }).click();
	await page.waitForURL((u) => u.pathname === '/login' && u.searchParams.get('next') === '/admin/audit');
	await page.getByText('Your session has ended').waitFor();
	await page.getByLabel('Email').fill(admin.email);
	await page.getByLabel('Password').fill(admin.password);
	await page.getByRole('button', { name: 'Log in' }).click();
	await page.waitForURL('**/admin/audit');
	await page.context().close();
});
