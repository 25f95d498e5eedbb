// live.test.mjs - the browser side of the live channel (live.js, layout.js):
// notifications as a toast and in the bell with an unread count, and
// reconnecting with backoff, then resynchronising.
//
// The server side of /ws is tested black-box in tests/integration/
// test_40_ws.py; here the page's socket is answered by Playwright
// (page.routeWebSocket), so the test decides what arrives and when the
// connection drops, while every HTTP request still goes to a real kilowatt.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, login, newPage, shot, startKilowatt, until } from './harness.mjs';

let kw, browser, client;

before(async () => {
	kw = await startKilowatt();
	browser = await launchBrowser();
	client = kw.user('nora@example.test', 'client-password-2', { name: 'Nora Client' });
});

after(async () => {
	await browser?.close();
	await kw?.stop();
});

// Routes the page's /ws to a fake server; returns the open sockets, newest
// last, with the time each connected.
async function fakeHub(page) {
	const sockets = [];
	await page.routeWebSocket(/\/ws$/, (ws) => {
		sockets.push({ ws, at: Date.now() });
		ws.send(JSON.stringify({ type: 'hello', user: { id: 1, role: 'client' }, seq: 0 }));
	});
	return sockets;
}

test('an alert shows as a toast and in the bell, unread until the list is opened', async () => {
	const page = await newPage(browser, kw);
	const sockets = await fakeHub(page);
	await login(page, client);
	await until('the socket', () => sockets.length === 1);
	const bell = page.getByRole('button', { name: /^Notifications/ });
	assert.equal(await bell.getAttribute('aria-label'), 'Notifications, none unread');

	const text = 'Kitchen meter used 2.7 kWh between 14:00 and 15:00, above its 2.0 kWh limit';
	sockets[0].ws.send(JSON.stringify({ type: 'alert', seq: 1, title: 'Kitchen meter', text, href: '/app' }));
	await page.locator('.toast').filter({ hasText: text }).waitFor();
	assert.equal(await bell.getAttribute('aria-label'), 'Notifications, 1 unread');
	assert.equal(await page.locator('.bell .count').textContent(), '1');
	// Text from the server is shown as text, never as markup.
	sockets[0].ws.send(JSON.stringify({ type: 'notification', seq: 2, title: '<img src=x onerror=alert(1)>', text: '<b>bold?</b>' }));
	await page.locator('.toast').filter({ hasText: '<b>bold?</b>' }).waitFor();
	assert.equal(await page.locator('.toast img, .toast b').count(), 0);
	assert.equal(await bell.getAttribute('aria-label'), 'Notifications, 2 unread');
	await shot(page, 'notification-toast');

	await bell.click();
	assert.equal(await bell.getAttribute('aria-expanded'), 'true');
	const list = page.getByRole('region', { name: 'Notifications' }).locator('.bell-list li, li');
	await page.locator('.bell-list').getByText(text).waitFor();
	assert.equal(await page.locator('.bell-list li').count(), 2);
	assert.ok(list);
	assert.equal(await bell.getAttribute('aria-label'), 'Notifications, none unread');
	assert.equal(await page.locator('.bell .count').isVisible(), false);
	assert.deepEqual(page.problems, []);
	await page.context().close();
});

test('a dropped socket reconnects with growing delays and the page refetches what it shows', async () => {
	const page = await newPage(browser, kw);
	const sockets = await fakeHub(page);
	const deviceLists = [];
	page.on('request', (r) => new URL(r.url()).pathname === '/api/v1/devices' && deviceLists.push(Date.now()));
	await login(page, client);
	await until('the first socket', () => sockets.length === 1);
	const dot = page.locator('.live-dot');
	await until('the live state', async () => (await dot.getAttribute('data-state')) === 'live');
	await until('the device list', () => deviceLists.length >= 1);

	// Each reconnect waits base/2..base with base 1 s, 2 s, 4 s...
	const dropped = Date.now();
	sockets[0].ws.close({ code: 1011, reason: 'test' });
	await until('"Reconnecting…"', async () => (await dot.textContent()) === 'Reconnecting…');
	await until('a second socket', () => sockets.length === 2, 5000);
	const first = sockets[1].at - dropped;
	await until('the page to refetch its devices', () => deviceLists.length >= 2, 5000);
	await until('live again', async () => (await dot.getAttribute('data-state')) === 'live');

	// Only a server that says hello resets the backoff: a fake that closes
	// at once, twice, makes the delays grow.
	const closedAt = Date.now();
	await page.unrouteAll();
	let refusals = 0;
	await page.routeWebSocket(/\/ws$/, (ws) => {
		sockets.push({ ws, at: Date.now() });
		if (++refusals <= 2) ws.close({ code: 1011 });
		else ws.send(JSON.stringify({ type: 'hello', user: { id: 1, role: 'client' }, seq: 0 }));
	});
	sockets[1].ws.close({ code: 1011 });
	await until('three more attempts', () => sockets.length === 5, 15000);
	const gaps = [sockets[2].at - closedAt, sockets[3].at - sockets[2].at, sockets[4].at - sockets[3].at];
	assert.ok(first >= 400 && gaps[0] >= 400, `first retry after ${first} / ${gaps[0]} ms`);
	assert.ok(gaps[2] >= 1900, `the third retry waited only ${gaps[2]} ms (backoff 4 s: at least 2 s)`);
	await until('live after the retries', async () => (await dot.getAttribute('data-state')) === 'live');
	assert.deepEqual(page.problems.filter((p) => !/WebSocket/.test(p)), []);
	await page.context().close();
});
