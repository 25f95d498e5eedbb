// chat.test.mjs - the support chat in two browsers at once, end to end
// over a real kilowatt and its real /ws: a client writes, the admin's
// inbox shows it unread with the client's name, opening it marks it read
// (the client sees "Read"), the admin's typing shows at the client, the
// reply arrives live; a second client writes meanwhile and gets its own
// answer; markup in a message shows as text.
//
// The server side is tested black-box in tests/integration.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, login, newPage, shot, startKilowatt, until } from './harness.mjs';

let kw, browser, ann, ben, ada;

before(async () => {
	kw = await startKilowatt();
	browser = await launchBrowser();
	ann = kw.user('ann@example.test', 'client-password-1', { name: 'Ann Client' });
	ben = kw.user('ben@example.test', 'client-password-2', { name: 'Ben Client' });
	ada = kw.user('ada@example.test', 'admin-password-1', { name: 'Ada Admin', role: 'admin' });
});

after(async () => {
	await browser?.close();
	await kw?.stop();
});

async function liveOn(page) {
	await until('the live channel', async () => (await page.locator('.live-dot').getAttribute('data-state')) === 'live');
}

async function openPanel(page) {
	await page.getByRole('button', { name: /^Chat with support/ }).click();
	await page.getByRole('dialog', { name: 'Chat with support' }).waitFor();
	return page.getByRole('dialog', { name: 'Chat with support' });
}

test('a client and an admin chat live: unread, read, typing, replies, two clients at once, text only', async () => {
	const client = await newPage(browser, kw);
	await login(client, ann);
	await liveOn(client);
	const other = await newPage(browser, kw, { phone: true });
	await login(other, ben);
	await liveOn(other);

	// Ann writes.
	let panel = await openPanel(client);
	await panel.getByLabel('Message to support').fill('Why was Tuesday so high?');
	await panel.getByRole('button', { name: 'Send' }).click();
	await panel.locator('.chat-msg.mine:not(.pending)').filter({ hasText: 'Why was Tuesday so high?' }).waitFor();
	assert.equal(await panel.locator('.chat-msg.mine .chat-status').first().textContent(), 'Sent');

	// The admin's inbox: Ann's conversation, unread, with her name.
	const admin = await newPage(browser, kw);
	await login(admin, ada);
	await admin.goto('/admin/support');
	await liveOn(admin);
	const annItem = admin.locator('.chat-inbox-item').filter({ hasText: 'Ann Client' });
	await annItem.waitFor();
	assert.match(await annItem.textContent(), /ann@example\.test/);
	assert.equal(await annItem.locator('.count').textContent(), '1');

	// Ben writes at the same time; the inbox lists him first (newest).
	const benPanel = await openPanel(other);
	// On a 360 px phone the open panel fills the screen.
	const box = await benPanel.boundingBox();
	assert.ok(box.width >= 359 && box.height >= 700, JSON.stringify(box));
	await benPanel.getByLabel('Message to support').fill('Hello from Ben');
	await benPanel.getByLabel('Message to support').press('Enter');
	const benItem = admin.locator('.chat-inbox-item').filter({ hasText: 'Ben Client' });
	await benItem.waitFor();
	await until('Ben first in the list', async () => /Ben Client/.test(await admin.locator('.chat-inbox-item').first().textContent()));
	await shot(admin, 'chat-admin-inbox');

	// The admin opens Ann's: it is read, and Ann sees "Read HH:MM".
	await annItem.click();
	const annPane = admin.locator('.chat-pane').filter({ hasText: 'ann@example.test' });
	await annPane.getByText('Why was Tuesday so high?').waitFor();
	await until('the unread count to go', async () => (await annItem.locator('.count').count()) === 0);
	await until('Ann to see it read', async () => /^Read \d\d:\d\d$/.test((await panel.locator('.chat-msg.mine .chat-status').first().textContent()) || ''));

	// The admin types: Ann sees "Support is typing…".
	const reply = annPane.getByLabel('Message to Ann Client');
	await reply.pressSequentially('Let me look', { delay: 20 });
	await panel.getByText('Support is typing…').waitFor();
	await annPane.getByRole('button', { name: 'Send' }).click();
	const got = panel.locator('.chat-msg.theirs').filter({ hasText: 'Let me look' });
	await got.waitFor();
	assert.match(await got.locator('.chat-who').textContent(), /Ada Admin/);
	await until('the typing line to go', async () => ((await panel.locator('.chat-typing').textContent()) || '') === '');

	// Both conversations open at once: the admin answers Ben too.
	await benItem.click();
	const benPane = admin.locator('.chat-pane').filter({ hasText: 'ben@example.test' });
	await benPane.getByText('Hello from Ben').waitFor();
	assert.equal(await admin.locator('.chat-pane').count(), 2);
	await benPane.getByLabel('Message to Ben Client').fill('Hi Ben, how can I help?');
	await benPane.getByRole('button', { name: 'Send' }).click();
	await benPanel.locator('.chat-msg.theirs').filter({ hasText: 'Hi Ben, how can I help?' }).waitFor();
	await shot(other, 'chat-client-phone');
	// Each answer went to its own client only.
	assert.equal(await panel.getByText('Hi Ben, how can I help?').count(), 0);
	assert.equal(await benPanel.getByText('Let me look').count(), 0);

	// Markup is text.
	for (const evil of ['<script>alert(1)</script>', '<img src=x onerror=alert(1)>']) {
		await panel.getByLabel('Message to support').fill(evil);
		await panel.getByRole('button', { name: 'Send' }).click();
		await panel.locator('.chat-msg.mine:not(.pending) .chat-body').filter({ hasText: evil }).waitFor();
		await annPane.locator('.chat-body').filter({ hasText: evil }).waitFor();
	}
	for (const p of [client, admin]) {
		assert.equal(await p.locator('.chat-msgs script, .chat-msgs img').count(), 0);
	}
	await shot(client, 'chat-client');

	// Closed panel: a new reply shows as an unread badge on the button.
	await panel.getByRole('button', { name: 'Close the chat' }).click();
	await annPane.getByLabel('Message to Ann Client').fill('Anything else?');
	await annPane.getByLabel('Message to Ann Client').press('Enter');
	const fab = client.getByRole('button', { name: /^Chat with support/ });
	await until('the badge', async () => (await fab.getAttribute('aria-label')) === 'Chat with support, 1 unread');
	await fab.click();
	await until('the badge to go', async () => (await fab.getAttribute('aria-label')) === 'Chat with support');

	// A reload shows the same history, once each.
	await client.reload();
	panel = await openPanel(client);
	await panel.getByText('Anything else?').waitFor();
	assert.equal(await panel.locator('.chat-msg').filter({ hasText: 'Why was Tuesday so high?' }).count(), 1);
	assert.equal(await panel.locator('.chat-msg').count(), 5);

	for (const p of [client, other, admin]) assert.deepEqual(p.problems, []);
	for (const p of [client, other, admin]) await p.context().close();
});

test('a client attaches a device and a day; the admin follows the link to that chart', async () => {
	const cleo = kw.user('cleo@example.test', 'client-password-3', { name: 'Cleo Client' });
	const userId = (await kw.api('GET', '/api/v1/users?q=cleo')).users[0].id;
	const pump = await kw.api('POST', '/api/v1/devices', { name: 'Heat pump', serial: 'CHAT-1', timezone: 'Europe/Brussels' });
	const garage = await kw.api('POST', '/api/v1/devices', { name: 'Garage', serial: 'CHAT-2', timezone: 'Europe/Brussels' });
	for (const d of [garage, pump]) await kw.api('POST', '/api/v1/mappings', { user_id: userId, device_id: d.id });

	// Opened from the heat pump's day chart, the control defaults to it.
	const client = await newPage(browser, kw);
	await login(client, cleo);
	await client.goto(`/app/devices/${pump.id}?view=day&date=2026-11-17`);
	await liveOn(client);
	const panel = await openPanel(client);
	await panel.getByRole('button', { name: 'Attach a chart' }).click();
	assert.equal(await panel.getByLabel('Chart of device').inputValue(), pump.id);
	assert.equal(await panel.getByLabel('Chart of day').inputValue(), '2026-11-17');
	await panel.getByLabel('Chart of day').fill('2026-11-10');
	await panel.getByLabel('Message to support').fill('Why was Tuesday so high?');
	await panel.getByRole('button', { name: 'Send' }).click();
	const mine = panel.locator('.chat-msg.mine:not(.pending)').filter({ hasText: 'Why was Tuesday so high?' });
	await mine.getByRole('link', { name: 'Chart: Heat pump, 2026-11-10' }).waitFor();
	// Attached to that one message only.
	assert.equal(await panel.getByLabel('Chart of device').isVisible(), false);
	await panel.getByLabel('Message to support').fill('Thanks');
	await panel.getByRole('button', { name: 'Send' }).click();
	const next = panel.locator('.chat-msg.mine:not(.pending)').filter({ hasText: 'Thanks' });
	await next.waitFor();
	assert.equal(await next.locator('a').count(), 0);

	// The admin sees the link and it opens that chart on that day.
	const admin = await newPage(browser, kw);
	await login(admin, ada);
	await admin.goto('/admin/support');
	await liveOn(admin);
	await admin.locator('.chat-inbox-item').filter({ hasText: 'Cleo Client' }).click();
	const pane = admin.locator('.chat-pane').filter({ hasText: 'cleo@example.test' });
	const link = pane.getByRole('link', { name: 'Chart: Heat pump, 2026-11-10' });
	await link.waitFor();
	await link.click();
	await until('the chart page', async () => new URL(admin.url()).pathname === `/app/devices/${pump.id}`);
	const q = new URL(admin.url()).searchParams;
	assert.equal(q.get('view'), 'day');
	assert.equal(q.get('date'), '2026-11-10');
	await until('the day input', async () => (await admin.locator('input[type=date]').first().inputValue()) === '2026-11-10');

	for (const p of [client, admin]) assert.deepEqual(p.problems, []);
	for (const p of [client, admin]) await p.context().close();
});
