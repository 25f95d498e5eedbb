// alerts.test.mjs - over-limit alerts in the browser, end to end: a real
// reading over a device's max_hourly_kwh, committed by a real kilowatt,
// pushed over the real /ws, shown as a toast and in the bell with the
// server's unread count; opening the bell marks it read in the API; and
// the "e-mail me alerts" choice in the account menu is saved.
//
// The server side is tested black-box in tests/integration/test_63_alerts.py;
// live.test.mjs covers the bell against a fake socket.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, login, newPage, shot, startKilowatt, until } from './harness.mjs';

const H = 3600 * 1000;
const TZ = 'Europe/Brussels';
let kw, browser, lea;

before(async () => {
	kw = await startKilowatt();
	browser = await launchBrowser();
	lea = kw.user('lea@example.test', 'client-password-5', { name: 'Léa Client' });
	const users = await kw.api('GET', '/api/v1/users?q=lea%40example.test');
	lea.id = users.users[0].id;
});

after(async () => {
	await browser?.close();
	await kw?.stop();
});

// A device of Léa's with an hourly limit.
async function meter(name, limit) {
	const serial = `m-${Math.random().toString(36).slice(2, 9)}`;
	const d = await kw.api('POST', '/api/v1/devices', { name, serial, timezone: TZ, max_hourly_kwh: limit });
	await kw.api('POST', '/api/v1/mappings', { user_id: lea.id, device_id: serial });
	return d;
}

function ingest(device, readings) {
	return kw.api(
		'POST',
		'/api/v1/measurements',
		readings.map(([t, v]) => ({ timestamp: t, device_id: device.serial, measurement_value: v })),
	);
}

// "14:00" in the device's zone.
function hhmm(t) {
	return new Intl.DateTimeFormat('en-GB', { timeZone: TZ, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(new Date(t));
}

// The start of the UTC hour n hours back (a whole local hour in Brussels).
function hourAgo(n) {
	return (Math.floor(Date.now() / H) - n) * H;
}

async function myNotifications(page) {
	const res = await page.request.get('/api/v1/notifications');
	assert.equal(res.status(), 200);
	return res.json();
}

test('a reading over the limit shows as a toast and in the bell, and opening it marks it read', async () => {
	const dev = await meter('Kitchen meter', 2.0);
	const page = await newPage(browser, kw);
	await login(page, lea);
	const bell = page.getByRole('button', { name: /^Notifications/ });
	await until('the live channel', async () => (await page.locator('.live-dot').getAttribute('data-state')) === 'live');
	assert.equal(await bell.getAttribute('aria-label'), 'Notifications, none unread');

	// 1.0 + 0.8 + 0.9 = 2.7 kWh in one hour: over 2.0.
	const h = hourAgo(2);
	await ingest(dev, [
		[h + 10 * 60000, 1.0],
		[h + 20 * 60000, 0.8],
	]);
	await ingest(dev, [[h + 30 * 60000, 0.9]]);
	// An hour of another local day (just after midnight) names its date.
	const day = (t) => new Intl.DateTimeFormat('en-CA', { timeZone: TZ }).format(new Date(t));
	const on = day(h) === day(Date.now()) ? '' : ` on ${day(h)}`;
	const text = `Kitchen meter used 2.7 kWh between ${hhmm(h)} and ${hhmm(h + H)}${on}, above its 2.0 kWh limit`;
	await page.locator('.toast').filter({ hasText: text }).waitFor({ timeout: 5000 });
	await until('the bell to count it', async () => (await bell.getAttribute('aria-label')) === 'Notifications, 1 unread');
	assert.equal(await page.locator('.bell .count').textContent(), '1');
	let doc = await myNotifications(page);
	assert.equal(doc.unread, 1);
	assert.equal(doc.notifications[0].text, text);
	await shot(page, 'alert-toast');

	// More readings in the same hour: no second alert.
	await ingest(dev, [[h + 40 * 60000, 1.0]]);
	await new Promise((r) => setTimeout(r, 1200));
	assert.equal(await page.locator('.toast').filter({ hasText: 'Kitchen meter used' }).count(), 1);
	assert.equal(await bell.getAttribute('aria-label'), 'Notifications, 1 unread');

	await bell.click();
	const entry = page.locator('.bell-list li').filter({ hasText: text });
	await entry.waitFor();
	assert.equal(await entry.getByRole('link').getAttribute('href'), `/app/devices/${dev.id}`);
	assert.equal(await bell.getAttribute('aria-label'), 'Notifications, none unread');
	await shot(page, 'alert-bell-open');
	await until('the API to have it read', async () => (await myNotifications(page)).unread === 0);
	doc = await myNotifications(page);
	assert.ok(doc.notifications[0].read_at);

	// A new page load shows it from the server, read.
	await page.reload();
	await page.locator('.bell-list').getByText(text, { exact: false }).waitFor({ state: 'attached' });
	assert.equal(await bell.getAttribute('aria-label'), 'Notifications, none unread');
	assert.deepEqual(page.problems, []);
	await page.context().close();
});

test('the unread count on arrival is the server’s, and the e-mail choice is saved', async () => {
	const dev = await meter('Garage meter', 0.5);
	const h = hourAgo(3);
	await ingest(dev, [
		[h + 15 * 60000, 1.0],
		[h + H + 15 * 60000, 1.0],
	]); // two hours over: two alerts while Léa is away

	const page = await newPage(browser, kw, { phone: true });
	await login(page, lea);
	const bell = page.getByRole('button', { name: /^Notifications/ });
	await until('the count from the API', async () => (await bell.getAttribute('aria-label')) === 'Notifications, 2 unread');
	await shot(page, 'alert-count-phone');

	await page.locator('.account summary').click();
	const box = page.getByLabel('E-mail me alerts about my devices');
	assert.equal(await box.isChecked(), false);
	await box.check();
	await shot(page, 'alert-email-choice');
	await until('the choice to be saved', async () => {
		const me = await (await page.request.get('/api/v1/me')).json();
		return me.user.email_alerts === true;
	});
	await page.reload();
	await page.locator('.account summary').click();
	assert.equal(await page.getByLabel('E-mail me alerts about my devices').isChecked(), true);
	assert.deepEqual(page.problems, []);
	await page.context().close();
});
