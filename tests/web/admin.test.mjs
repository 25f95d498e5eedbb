// admin.test.mjs - the admin area in a real browser (issue 4, "Admin"):
// an admin creates a client and a device through the forms, maps them, and
// the client then finds the device through the API; API validation errors
// appear next to their field; a password reset shows a working password
// once; a token is shown once, works, and stops working when revoked; the
// audit log filters by object type; the region dashboard shows the API's
// numbers for a chosen month and drills into a region's ranking.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, login, newPage, shot, startKilowatt } from './harness.mjs';

let kw, browser, admin;

before(async () => {
	kw = await startKilowatt();
	browser = await launchBrowser();
	admin = kw.user('ada@example.test', 'admin-password-1', { name: 'Ada Admin', role: 'admin' });
	// A realistic customer base: more users than one page holds, some
	// disabled, and a few devices with owners.
	for (const [i, name] of CUSTOMERS.entries()) {
		const email = `${name.toLowerCase().replace(/[^a-z]+/g, '.')}@example.test`;
		await kw.api('POST', '/api/v1/users', { name, email, customer_ref: `C-${2001 + i}`, disabled: i % 11 === 7 });
	}
	const owners = (await kw.api('GET', '/api/v1/users?limit=5')).users.filter((u) => u.role === 'client');
	for (const [i, [name, serial, region, tz, max]] of [
		['Bakery oven line', 'BE-2231-0001', 'BE-Brussels', 'Europe/Brussels', 12],
		['Town hall', 'BE-2231-0002', 'BE-Brussels', 'Europe/Brussels', null],
		['Marina Bay office', 'SG-77-0100', 'SG', 'Asia/Singapore', 40],
		['Heat pump', '100000017', 'NL-Utrecht', 'Europe/Amsterdam', 4.5],
	].entries()) {
		const d = await kw.api('POST', '/api/v1/devices', { name, serial, region, timezone: tz, max_hourly_kwh: max });
		await kw.api('POST', '/api/v1/mappings', { user_id: owners[i % owners.length].id, device_id: d.id });
	}
});

const CUSTOMERS = [
	'Emma Peeters', 'Lucas Janssens', 'Noor Maes', 'Louis Jacobs', 'Olivia Mertens', 'Arthur Willems', 'Mila Claes', 'Jules Goossens',
	'Elise Wouters', 'Victor De Smet', 'Marie Dupont', 'Hugo Lambert', 'Camille Dubois', 'Finn Hermans', 'Nina Vermeulen', 'Tom Pauwels',
	'Wei Ling Tan', 'Rajesh Kumar', 'Siti Nurhaliza', 'Kenji Sato', 'Ines Moreau', 'Jan De Vries', 'Sofie Smit', 'Pieter Visser',
	'Anouk Bos', 'Ruben Mulder', 'Fleur Meijer', 'Daan De Jong', 'Julia Van Dijk', 'Sem Bakker',
];


after(async () => {
	await browser?.close();
	await kw?.stop();
});

// Logs in through the API, as the client's own program would; answers the
// session cookie, or the HTTP status when the login fails.
async function apiLogin(email, password) {
	const res = await fetch(`${kw.url}/api/v1/login`, {
		method: 'POST',
		headers: { 'Content-Type': 'application/json' },
		body: JSON.stringify({ email, password }),
		signal: AbortSignal.timeout(10000),
	});
	if (res.status !== 200) return { status: res.status };
	const cookie = res.headers
		.getSetCookie()
		.map((c) => c.split(';')[0])
		.join('; ');
	return { status: 200, cookie };
}

async function asClient(cookie, path) {
	const res = await fetch(kw.url + path, { headers: { Cookie: cookie, Accept: 'application/json' }, signal: AbortSignal.timeout(10000) });
	assert.equal(res.status, 200, `${path} as the client`);
	return res.json();
}

async function userId(email) {
	const { users } = await kw.api('GET', `/api/v1/users?q=${encodeURIComponent(email)}`);
	return users.find((u) => u.email === email).id;
}

// The text of each cell of the first table in `scope`, row by row.
async function tableRows(scope) {
	return scope.locator('table').first().evaluate((t) => [...t.tBodies[0].rows].map((r) => [...r.cells].map((c) => c.textContent.trim())));
}

// A fresh page, logged in as the admin (and opened at path, if given).
async function adminPage(path, opts) {
	const page = await newPage(browser, kw, opts);
	await login(page, admin);
	if (path) await page.goto(path);
	return page;
}

// The end of a test: the page logged no error, and closes.
async function closeClean(page) {
	assert.deepEqual(page.problems, []);
	await page.context().close();
}

async function confirmDialog(page, action) {
	const dlg = page.getByRole('dialog');
	await dlg.waitFor();
	await dlg.getByRole('button', { name: action, exact: true }).click();
	await dlg.waitFor({ state: 'detached' });
}

test('admin flow: a client and a device made in the forms, mapped, and the client sees the device through the API', async () => {
	const page = await adminPage();
	assert.equal(new URL(page.url()).pathname, '/admin');

	// The client, with a generated password shown once.
	await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Users' }).click();
	await page.getByRole('heading', { name: 'Users', level: 1 }).waitFor();
	await page.getByRole('button', { name: 'New user' }).click();
	const form = page.getByRole('region', { name: 'New user' });
	await form.getByLabel('Name').fill('Léa Dubois');
	await form.getByLabel('Email').fill('lea@example.test');
	await form.getByLabel('Customer reference').fill('C-1001');
	await form.getByRole('button', { name: 'Create user' }).click();
	await form.getByRole('heading', { name: 'User created' }).waitFor();
	const password = await form.locator('input.secret').inputValue();
	assert.ok(password.length >= 10, `generated password "${password}"`);
	assert.ok(await form.getByRole('button', { name: 'Copy' }).isVisible());
	await form.getByRole('button', { name: 'Done' }).click();
	await shot(page, 'admin-users');
	// The new user is found by its customer reference.
	await page.getByLabel('Search users').fill('C-1001');
	const leaRow = page.locator('tbody tr', { hasText: 'lea@example.test' });
	await leaRow.waitFor();
	assert.match(await leaRow.textContent(), /Léa Dubois.*Client.*C-1001.*Active/);

	// The device, with a serial and every field.
	await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Devices' }).click();
	await page.getByRole('button', { name: 'New device' }).click();
	const dform = page.getByRole('region', { name: 'New device' });
	await dform.getByLabel('Name').fill('Kitchen meter');
	await dform.getByLabel('Serial').fill('SN-100200');
	await dform.getByLabel('Region').fill('BE-Flanders');
	await dform.getByLabel('Max hourly consumption (kWh)').fill('3.5');
	await dform.getByLabel('Time zone').fill('Europe/Brussels');
	await dform.getByLabel('Reading type').selectOption('counter');
	await dform.getByLabel('Address').fill('Rue de la Loi 16, Brussels');
	await dform.getByLabel('Claim code').fill('claim-me-1');
	await dform.getByRole('button', { name: 'Create device' }).click();
	await page.waitForURL(/\/admin\/devices\/[0-9a-f-]{36}$/);
	await page.getByRole('heading', { name: 'Kitchen meter', level: 1 }).waitFor();
	const dev = await kw.api('GET', '/api/v1/devices/SN-100200');
	assert.deepEqual(
		{ name: dev.name, region: dev.region, tz: dev.timezone, type: dev.reading_type, max: dev.max_hourly_kwh, address: dev.address, claim: dev.has_claim_code },
		{ name: 'Kitchen meter', region: 'BE-Flanders', tz: 'Europe/Brussels', type: 'counter', max: 3.5, address: 'Rue de la Loi 16, Brussels', claim: true },
	);
	assert.equal(new URL(page.url()).pathname, `/admin/devices/${dev.id}`);
	await page.getByText('Claim code:').getByText('set', { exact: true }).waitFor();

	// Map them from the device's page.
	const owners = page.getByRole('region', { name: 'Owners' });
	await owners.getByLabel('Assign to a user').fill('lea');
	await owners.getByRole('button', { name: 'Assign Léa Dubois' }).click();
	await owners.getByRole('table').getByRole('link', { name: 'Léa Dubois' }).waitFor();
	await owners.getByRole('button', { name: 'Léa Dubois: already assigned' }).waitFor();

	// The client, logged in with the password the form showed, finds the device.
	const lea = await apiLogin('lea@example.test', password);
	assert.equal(lea.status, 200);
	const mine = await asClient(lea.cookie, '/api/v1/devices');
	assert.deepEqual(
		mine.devices.map((d) => d.serial),
		['SN-100200'],
	);

	// The devices list shows the owner.
	await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Devices' }).click();
	const row = page.locator('tbody tr', { hasText: 'SN-100200' });
	await row.waitFor();
	const cells = await row.locator('td').allTextContents();
	assert.deepEqual(cells, ['Kitchen meter', 'SN-100200', 'BE-Flanders', 'Europe/Brussels', '3.5 kWh/h', 'Léa Dubois']);
	await shot(page, 'admin-devices');

	// From the user's page: assign a second device, then remove it again.
	await kw.api('POST', '/api/v1/devices', { name: 'Garage meter', serial: 'SN-100201', region: 'BE-Wallonia', timezone: 'Europe/Brussels' });
	const leaId = await userId('lea@example.test');
	await page.goto(`/admin/users/${leaId}`);
	const devs = page.getByRole('region', { name: 'Devices' });
	await devs.getByRole('table').getByRole('link', { name: 'Kitchen meter' }).waitFor();
	await devs.getByLabel('Assign a device').fill('SN-100201');
	await devs.getByRole('button', { name: 'Assign Garage meter' }).click();
	await devs.getByRole('table').getByRole('link', { name: 'Garage meter' }).waitFor();
	assert.deepEqual((await asClient(lea.cookie, '/api/v1/devices')).devices.map((d) => d.serial).sort(), ['SN-100200', 'SN-100201']);
	await devs.getByRole('button', { name: 'Remove Garage meter' }).click();
	await confirmDialog(page, 'Remove');
	await devs.getByRole('table').getByRole('link', { name: 'Garage meter' }).waitFor({ state: 'detached' });
	assert.deepEqual((await asClient(lea.cookie, '/api/v1/devices')).devices.map((d) => d.serial), ['SN-100200']);

	await closeClean(page);
});

test('an API validation error (an email in use) appears next to the email field', async () => {
	const page = await adminPage('/admin/users');
	await page.getByRole('button', { name: 'New user' }).click();
	const form = page.getByRole('region', { name: 'New user' });
	await form.getByLabel('Name').fill('Someone Else');
	await form.getByLabel('Email').fill('ADA@example.test');
	await form.getByRole('button', { name: 'Create user' }).click();
	const email = form.getByLabel('Email');
	await page.waitForFunction((el) => el.getAttribute('aria-invalid') === 'true', await email.elementHandle());
	const errId = await email.getAttribute('aria-describedby');
	const message = await form.locator(`[id="${errId}"]`).textContent();
	assert.match(message, /email exists/i);
	assert.equal(await form.locator('.form-error').textContent(), '', 'the message is at the field, not at the top');
	// A too-short password is named at the password field.
	await email.fill('someone@example.test');
	await form.getByLabel('Password').fill('short');
	await form.getByRole('button', { name: 'Create user' }).click();
	const pw = form.getByLabel('Password');
	await page.waitForFunction((el) => el.getAttribute('aria-invalid') === 'true', await pw.elementHandle());
	assert.match(await form.locator(`[id="${await pw.getAttribute('aria-describedby')}"]`).textContent(), /at least 10/);
	assert.equal(await email.getAttribute('aria-invalid'), null);
	await closeClean(page);
});

test('search is debounced into ?q=, and a password reset shows a new password once that logs in', async () => {
	await kw.api('POST', '/api/v1/users', { name: 'Bob Martin', email: 'bob@example.test', password: 'bob-password-1' });
	const page = await adminPage('/admin/users');
	await page.getByRole('link', { name: 'Ada Admin' }).waitFor();
	// Paging: 25 a page, "Next" and back with "Previous".
	const emails = async () => (await tableRows(page.getByRole('main'))).map((r) => r[1]);
	const first = await emails();
	assert.equal(first.length, 25);
	const pages = page.getByRole('navigation', { name: 'Pages of users' });
	assert.equal(await pages.getByRole('button', { name: '← Previous' }).isDisabled(), true);
	await pages.getByRole('button', { name: 'Next →' }).click();
	await pages.getByText('Page 2').waitFor();
	await page.waitForFunction(() => !document.querySelector('main .list[aria-busy]'));
	const second = await emails();
	const { users: all } = await kw.api('GET', '/api/v1/users?limit=1000');
	assert.deepEqual([...first, ...second], all.map((u) => u.email).slice(0, first.length + second.length));
	await pages.getByRole('button', { name: '← Previous' }).click();
	await pages.getByText('Page 1').waitFor();
	await page.waitForFunction(() => !document.querySelector('main .list[aria-busy]'));
	assert.deepEqual(await emails(), first);

	await page.getByLabel('Search users').fill('bob');
	await page.waitForURL((u) => u.searchParams.get('q') === 'bob');
	await page.getByRole('link', { name: 'Ada Admin' }).waitFor({ state: 'detached' });
	assert.deepEqual((await tableRows(page.getByRole('main'))).map((r) => r[1]), ['bob@example.test']);
	await page.getByRole('link', { name: 'Bob Martin' }).click();
	await page.getByRole('heading', { name: 'Bob Martin', level: 1 }).waitFor();

	await page.getByRole('button', { name: 'Reset password' }).click();
	await confirmDialog(page, 'Reset password');
	const box = page.locator('.secret-box');
	await box.waitFor();
	const fresh = await box.locator('input.secret').inputValue();
	assert.ok(fresh.length >= 10);
	assert.ok(await box.getByRole('button', { name: 'Copy' }).isVisible());
	assert.equal((await apiLogin('bob@example.test', 'bob-password-1')).status, 401, 'the old password stops working');
	assert.equal((await apiLogin('bob@example.test', fresh)).status, 200, 'the new password works');
	// Shown once: it is gone after a reload.
	await page.reload();
	await page.getByRole('heading', { name: 'Bob Martin', level: 1 }).waitFor();
	assert.equal(await page.locator('.secret-box').count(), 0);
	assert.equal(await page.getByRole('main').evaluate((m, pw) => m.textContent.includes(pw) || [...m.querySelectorAll('input')].some((i) => i.value === pw), fresh), false);
	await closeClean(page);
});

test('a user is edited, disabled and deleted through its page', async () => {
	await kw.api('POST', '/api/v1/users', { name: 'Carl Ng', email: 'carl@example.test', password: 'carl-password-1' });
	const carlId = await userId('carl@example.test');
	const page = await adminPage(`/admin/users/${carlId}`);
	const details = page.getByRole('region', { name: 'Details' });
	await details.getByLabel('Name').fill('Carl Nguyen');
	await details.getByLabel('Customer reference').fill('C-3003');
	await details.getByRole('button', { name: 'Save changes' }).click();
	await details.getByText('Saved.').waitFor();
	await page.getByRole('heading', { name: 'Carl Nguyen', level: 1 }).waitFor();
	let { user } = await kw.api('GET', `/api/v1/users/${carlId}`);
	assert.deepEqual([user.name, user.customer_ref, user.disabled], ['Carl Nguyen', 'C-3003', false]);

	// Disabled: the account can no longer log in.
	await details.getByLabel(/^Disabled/).check();
	await details.getByRole('button', { name: 'Save changes' }).click();
	await details.getByText('Saved.').waitFor();
	await page.locator('.subhead').getByText('Disabled').waitFor();
	({ user } = await kw.api('GET', `/api/v1/users/${carlId}`));
	assert.equal(user.disabled, true);
	assert.equal((await apiLogin('carl@example.test', 'carl-password-1')).status, 401);

	// An admin's own page does not offer to demote, disable or delete it.
	const adaId = await userId(admin.email);
	await page.goto(`/admin/users/${adaId}`);
	await page.getByText('This is your own account').waitFor();
	assert.equal(await page.getByRole('button', { name: 'Delete user' }).isDisabled(), true);
	assert.equal(await page.getByRole('region', { name: 'Details' }).getByLabel('Role').isDisabled(), true);

	// Deleted, after a confirmation; "Cancel" keeps it.
	await page.goto(`/admin/users/${carlId}`);
	await page.getByRole('button', { name: 'Delete user' }).click();
	await confirmDialog(page, 'Cancel');
	assert.equal((await kw.api('GET', `/api/v1/users/${carlId}`)).user.id, carlId);
	await page.getByRole('button', { name: 'Delete user' }).click();
	await confirmDialog(page, 'Delete user');
	await page.waitForURL((u) => u.pathname === '/admin/users');
	const gone = await fetch(`${kw.url}/api/v1/users/${carlId}`, { headers: { Authorization: `Bearer ${kw.admin}` } });
	assert.equal(gone.status, 404);
	await closeClean(page);
});

test('a device is edited, its claim code set and cleared, and it is deleted with its readings', async () => {
	const d = await kw.api('POST', '/api/v1/devices', { name: 'Shed meter', serial: 'SN-EDIT-1', region: 'BE-Flanders', timezone: 'Europe/Brussels', max_hourly_kwh: 2 });
	await kw.api('POST', '/api/v1/measurements', [{ timestamp: '2025-02-08T10:00:00Z', device_id: 'SN-EDIT-1', measurement_value: 1.25 }]);
	const page = await adminPage('/admin/devices?q=shed');
	await page.getByLabel('Search devices').waitFor();
	assert.equal(await page.getByLabel('Search devices').inputValue(), 'shed');
	await page.getByRole('link', { name: 'Shed meter' }).click();
	await page.getByRole('heading', { name: 'Shed meter', level: 1 }).waitFor();
	// The zone and reading type are shown, not editable, and the page says why.
	assert.equal(await page.locator('input[name="timezone"], [name="reading_type"]').count(), 0);
	await page.getByText('Changing either would leave the stored totals wrong').waitFor();
	assert.equal(await page.getByRole('link', { name: 'Consumption chart' }).getAttribute('href'), `/app/devices/${d.id}`);

	const details = page.getByRole('region', { name: 'Details' });
	await details.getByLabel('Name').fill('Garden shed');
	await details.getByLabel('Region').fill('BE-Wallonia');
	await details.getByLabel('Max hourly consumption (kWh)').fill('');
	await details.getByRole('button', { name: 'Save changes' }).click();
	await details.getByText('Saved.').waitFor();
	let dev = await kw.api('GET', `/api/v1/devices/${d.id}`);
	assert.deepEqual([dev.name, dev.region, dev.max_hourly_kwh, dev.serial], ['Garden shed', 'BE-Wallonia', null, 'SN-EDIT-1']);
	// A serial another device has is named at the serial field.
	await details.getByLabel('Serial').fill('SN-100200');
	await details.getByRole('button', { name: 'Save changes' }).click();
	const serial = details.getByLabel('Serial');
	await page.waitForFunction((el) => el.getAttribute('aria-invalid') === 'true', await serial.elementHandle());
	assert.notEqual(await details.locator(`[id="${await serial.getAttribute('aria-describedby')}"]`).textContent(), '');

	const claim = page.getByRole('region', { name: 'Claim code' });
	await claim.getByText('not set').waitFor();
	await claim.getByLabel('New claim code').fill('s3cret-claim');
	await claim.getByRole('button', { name: 'Set claim code' }).click();
	await claim.locator('.badge', { hasText: /^set$/ }).waitFor();
	assert.equal((await kw.api('GET', `/api/v1/devices/${d.id}`)).has_claim_code, true);
	assert.equal(await claim.getByLabel('New claim code').inputValue(), '', 'the code is not kept on the page');
	await claim.getByRole('button', { name: 'Clear' }).click();
	await claim.getByText('not set').waitFor();
	assert.equal((await kw.api('GET', `/api/v1/devices/${d.id}`)).has_claim_code, false);

	await page.getByRole('button', { name: 'Delete device' }).click();
	const dlg = page.getByRole('dialog');
	assert.match(await dlg.textContent(), /all its readings/);
	await confirmDialog(page, 'Delete device');
	await page.waitForURL((u) => u.pathname === '/admin/devices');
	const res = await fetch(`${kw.url}/api/v1/devices/SN-EDIT-1/readings?from=2025-02-08&to=2025-02-08`, { headers: { Authorization: `Bearer ${kw.admin}` } });
	assert.equal(res.status, 404);
	await closeClean(page);
});

test('a token is shown once with a copy button, works, and answers 401 once revoked', async () => {
	await kw.api('POST', '/api/v1/devices', { name: 'Feeder test', serial: 'SN-TOK-1', timezone: 'UTC' });
	const page = await adminPage('/admin/tokens');
	await page.getByRole('button', { name: 'New token' }).click();
	const form = page.getByRole('region', { name: 'New token' });
	await form.getByLabel('Name').fill('gateway north');
	await form.getByLabel('Scope').selectOption('ingest');
	await form.getByRole('button', { name: 'Create token' }).click();
	await form.getByRole('heading', { name: 'Token created' }).waitFor();
	const token = await form.locator('input.secret').inputValue();
	assert.match(token, /^kw_[A-Za-z0-9_-]{43}$/);
	await form.getByRole('button', { name: 'Copy' }).click();
	await form.getByText('Copied').waitFor();

	const ingest = (tok) =>
		fetch(`${kw.url}/api/v1/measurements`, {
			method: 'POST',
			headers: { Authorization: `Bearer ${tok}`, 'Content-Type': 'application/json' },
			body: JSON.stringify({ timestamp: '2025-01-15T10:00:00Z', device_id: 'SN-TOK-1', measurement_value: 0.5 }),
			signal: AbortSignal.timeout(10000),
		});
	assert.equal((await ingest(token)).status, 200, 'the new token may send readings');

	const row = page.locator('tbody tr', { hasText: 'gateway north' });
	await row.waitFor();
	assert.match(await row.textContent(), /Ingest.*Active/);
	// A device token names its device.
	await page.getByRole('button', { name: 'Done' }).click();
	await page.getByRole('button', { name: 'New token' }).click();
	await form.getByLabel('Name').fill('meter 1');
	await form.getByLabel('Scope').selectOption('device');
	await form.getByLabel('Device (serial or id)').fill('no-such-meter');
	await form.getByRole('button', { name: 'Create token' }).click();
	await form.getByText("no device 'no-such-meter'").waitFor();
	await form.getByLabel('Device (serial or id)').fill('SN-TOK-1');
	await form.getByRole('button', { name: 'Create token' }).click();
	await form.getByRole('heading', { name: 'Token created' }).waitFor();
	await page.locator('tbody tr', { hasText: 'meter 1' }).getByRole('link', { name: 'Feeder test' }).waitFor();

	await row.getByRole('button', { name: 'Revoke gateway north' }).click();
	await confirmDialog(page, 'Revoke');
	await page.locator('tbody tr', { hasText: 'gateway north' }).getByText('Revoked').waitFor();
	assert.equal((await ingest(token)).status, 401, 'a revoked token is refused at once');
	// The secret never comes back.
	await page.reload();
	await page.locator('tbody tr', { hasText: 'gateway north' }).waitFor();
	assert.equal(await page.locator('input.secret').count(), 0);
	assert.equal((await page.content()).includes(token), false);
	await closeClean(page);
});

test('the audit log filters by object type, and shows what changed', async () => {
	const page = await adminPage('/admin/audit');
	await page.getByRole('table').waitFor();
	await page.getByLabel('Object type').selectOption('token');
	await page.waitForURL((u) => u.searchParams.get('object_type') === 'token');
	const api = await kw.api('GET', '/api/v1/audit?object_type=token&limit=50');
	assert.ok(api.entries.length >= 3, 'two tokens created, one revoked');
	const main = page.getByRole('main');
	await page.waitForFunction((n) => document.querySelectorAll('main tbody tr').length === n && !document.querySelector('main .list[aria-busy]'), api.entries.length);
	const rows = await tableRows(main);
	assert.deepEqual(
		rows.map((r) => r[2]),
		api.entries.map((e) => ({ 'token.create': 'Created token', 'token.revoke': 'Revoked token' })[e.action]),
	);
	// The revocation shows the changed key, with the raw JSON folded away.
	const revoke = main.locator('tbody tr', { hasText: 'Revoked token' });
	assert.match(await revoke.locator('ul.diff').textContent(), /revoked\s*false\s*→\s*true/);
	assert.equal(await revoke.locator('details.raw').getAttribute('open'), null);
	assert.match(await revoke.locator('details.raw pre').textContent(), /"revoked": true/);

	// Devices only; then by user: everything by or about Léa.
	await page.getByLabel('Object type').selectOption('device');
	await page.waitForURL((u) => u.searchParams.get('object_type') === 'device');
	const devApi = await kw.api('GET', '/api/v1/audit?object_type=device&limit=50');
	await page.waitForFunction((n) => document.querySelectorAll('main tbody tr').length === n && !document.querySelector('main .list[aria-busy]'), devApi.entries.length);
	for (const r of await tableRows(main)) assert.match(r[2], /device$/);

	const leaId = await userId('lea@example.test');
	await page.goto(`/admin/audit?user_id=${leaId}`);
	const byLea = await kw.api('GET', `/api/v1/audit?user_id=${leaId}&limit=50`);
	await page.waitForFunction((n) => document.querySelectorAll('main tbody tr').length === n, byLea.entries.length);
	assert.equal(await page.getByLabel('User').inputValue(), 'lea@example.test');
	const leaRows = await tableRows(main);
	assert.ok(leaRows.length >= 1);
	for (const r of leaRows) assert.ok(r[1] === 'Léa Dubois' || r[3].includes('lea@example.test'), `an entry not about Léa: ${r.join(' | ')}`);
	await closeClean(page);
});

test('region dashboard: a chosen month shows the API totals per region, and a region ranks its devices', async () => {
	// Two regions with readings in March 2025 (and one reading outside it).
	const made = {};
	for (const [name, serial, region, tz] of [
		['North A', 'RG-N1', 'North', 'Europe/Brussels'],
		['North B', 'RG-N2', 'North', 'Europe/Brussels'],
		['North C', 'RG-N3', 'North', 'Europe/Brussels'],
		['South A', 'RG-S1', 'South', 'Asia/Singapore'],
		['South B', 'RG-S2', 'South', 'Asia/Singapore'],
	])
		made[serial] = await kw.api('POST', '/api/v1/devices', { name, serial, region, timezone: tz });
	const readings = [];
	const perDay = { 'RG-N1': 1.5, 'RG-N2': 4.25, 'RG-N3': 0.75, 'RG-S1': 2, 'RG-S2': 0.5 };
	for (const [serial, v] of Object.entries(perDay))
		for (let day = 1; day <= 31; day += 3) readings.push({ timestamp: `2025-03-${String(day).padStart(2, '0')}T10:00:00Z`, device_id: serial, measurement_value: v * (1 + (day % 4)) });
	readings.push({ timestamp: '2025-04-02T10:00:00Z', device_id: 'RG-N1', measurement_value: 99 });
	await kw.api('POST', '/api/v1/measurements', readings);

	const page = await adminPage();
	await page.getByRole('heading', { name: 'Consumption by region' }).waitFor();
	await page.getByLabel('Month', { exact: true }).fill('2025-03');
	await page.waitForURL((u) => u.searchParams.get('month') === '2025-03');
	await page.getByRole('heading', { name: 'Total kWh per region · March 2025' }).waitFor();

	const tz = 'Europe/Brussels';
	const api = await kw.api('GET', `/api/v1/regions/consumption?from=2025-03-01&to=2025-03-31&step=day&tz=${encodeURIComponent(tz)}`);
	const shown = (r) => (r === '(none)' ? '(no region)' : r);
	const want = Object.fromEntries(api.regions.map((r) => [shown(r.region), r.total_kwh]));
	assert.ok(want.North > 0 && want.South > 0);
	const table = page.locator('table.regions-table');
	const got = await table.evaluate((t) => Object.fromEntries([...t.tBodies[0].rows].map((r) => [r.cells[0].textContent.trim(), Number(r.querySelector('[data-value]').dataset.value)])));
	assert.deepEqual(got, want);
	// Highest first, with shares adding up.
	const none = (r) => (r.region === '(none)' ? 1 : 0);
	const order = [...api.regions].sort((a, b) => b.total_kwh - a.total_kwh || none(a) - none(b) || a.region.localeCompare(b.region)).map((r) => shown(r.region));
	assert.deepEqual(Object.keys(got), order);
	// The chart holds the same numbers.
	const chartData = await page.locator('.chart-data').evaluate((t) => [...t.tBodies[0].rows].map((r) => [r.cells[0].textContent, Number(r.cells[1].dataset.value)]));
	assert.deepEqual(chartData, order.filter((r) => want[r] > 0).map((r) => [r, want[r]]));
	const total = Object.values(want).reduce((a, b) => a + b, 0);
	assert.match(await page.locator('.stats').textContent(), new RegExp(`${new Intl.NumberFormat('en-GB', { maximumFractionDigits: 3 }).format(total)} kWh`));
	await shot(page, 'admin-region-dashboard');

	// Drill into North: its devices ranked, with the API's values.
	await table.getByRole('link', { name: 'North' }).click();
	await page.waitForURL((u) => u.pathname === '/admin/regions/North' && u.searchParams.get('month') === '2025-03');
	await page.getByRole('heading', { name: 'North', level: 1 }).waitFor();
	await page.locator('table.ranking').waitFor();
	const north = await kw.api('GET', `/api/v1/regions/North/devices?from=2025-03-01&to=2025-03-31&tz=${encodeURIComponent(tz)}`);
	const ranking = await page.locator('table.ranking').evaluate((t) => [...t.tBodies[0].rows].map((r) => [r.cells[0].textContent.trim(), r.cells[1].textContent.trim(), r.cells[2].textContent.trim(), Number(r.querySelector('[data-value]').dataset.value)]));
	assert.deepEqual(
		ranking,
		north.devices.map((d, i) => [String(i + 1), d.name, d.serial, d.total_kwh]),
	);
	assert.deepEqual(
		ranking.map((r) => r[1]),
		['North B', 'North A', 'North C'],
	);
	assert.equal(await page.locator('table.ranking').getByRole('link', { name: 'North B' }).getAttribute('href'), `/admin/devices/${made['RG-N2'].id}`);
	await shot(page, 'admin-region-devices');

	// Another period keeps the region; a week with no readings says so.
	await page.getByRole('button', { name: 'This week' }).click();
	await page.waitForURL((u) => u.pathname === '/admin/regions/North' && u.searchParams.get('period') === 'current-week');
	await page.getByText(/No consumption recorded for this week/).waitFor();
	await page.getByRole('link', { name: '← All regions' }).click();
	await page.waitForURL((u) => u.pathname === '/admin/regions' && u.searchParams.get('period') === 'current-week');
	await page.getByText(/No consumption recorded for this week/).waitFor();
	await closeClean(page);
});

test('on a 360-px phone the users list is legible without sideways scrolling', async () => {
	const page = await adminPage('/admin/users', { phone: true });
	await page.getByRole('link', { name: 'Ada Admin' }).waitFor();
	assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), 'no horizontal page scroll');
	await shot(page, 'phone-admin-users');
	await page.goto('/admin?month=2025-03');
	await page.getByRole('heading', { name: 'Total kWh per region · March 2025' }).waitFor();
	assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), 'no horizontal page scroll on the dashboard');
	await shot(page, 'phone-admin-region-dashboard');
	await closeClean(page);
});
