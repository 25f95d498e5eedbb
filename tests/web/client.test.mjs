// client.test.mjs - the customer's side of the web app (issue 4, "Client"
// and "Live"): My devices, the device page's day chart picked from the
// calendar (24 bars on an ordinary day, 23 and 25 on daylight-saving days,
// each equal to the API's hourly number), the line toggle and the limit
// line, the CSV download, the week summary and its comparison, the empty
// and error states, and live updates of the total without a reload.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { launchBrowser, login, newPage, shot, startKilowatt } from './harness.mjs';

let kw, browser, client, meter, silent;

// The seeded past day and week (Europe/Brussels, UTC+01:00 in February).
const DAY = '2025-02-12'; // a Wednesday
const WEEK = ['2025-02-10', '2025-02-16'];
const PREV_WEEK = ['2025-02-03', '2025-02-09'];
// Hour h of DAY gets two readings, h:15 and h:45, adding up to hourKwh(h):
// 24 distinct values.
const hourKwh = (h) => Math.round((0.25 + h * 0.05 + (h % 3) * 0.011) * 1000) / 1000;
// The other days of the week get one reading at 12:30, the previous week too.
const WEEK_DAY_KWH = 3.5;
const PREV_WEEK_DAY_KWH = 4;

const close = (a, b) => Math.abs(a - b) < 1e-6;
const brussels = (date, hm, offset = '+01:00') => `${date}T${hm}:00${offset}`;

function addDays(d, n) {
	const t = new Date(`${d}T00:00:00Z`);
	t.setUTCDate(t.getUTCDate() + n);
	return t.toISOString().slice(0, 10);
}

async function consumption(id, q) {
	return kw.api('GET', `/api/v1/devices/${id}/consumption?${new URLSearchParams(q)}`);
}

// The chart's accessible table: [label, value-or-null] per bucket.
async function chartRows(page) {
	return page.locator('.chart-data tbody tr').evaluateAll((rows) =>
		rows.map((r) => {
			const v = r.querySelector('td').dataset.value;
			return [r.querySelector('th').textContent, v === '' ? null : Number(v)];
		}),
	);
}

async function waitRows(page, n) {
	await page.waitForFunction((n) => document.querySelectorAll('.chart-data tbody tr').length === n && !document.querySelector('.chart-box.stale'), n);
}

before(async () => {
	kw = await startKilowatt();
	browser = await launchBrowser();
	client = kw.user('lea@example.test', 'client-password-1', { name: 'Léa Dubois' });
	const { users } = await kw.api('GET', `/api/v1/users?q=${encodeURIComponent(client.email)}`);
	client.id = users[0].id;

	meter = await kw.api('POST', '/api/v1/devices', { name: 'Rue Haute 12', serial: 'BE-0042-7781', timezone: 'Europe/Brussels', max_hourly_kwh: 2 });
	silent = await kw.api('POST', '/api/v1/devices', { name: 'Garden shed', serial: 'BE-0042-9910', timezone: 'Europe/Brussels' });
	for (const d of [meter, silent]) await kw.api('POST', '/api/v1/mappings', { user_id: client.id, device_id: d.id });

	const readings = [];
	const add = (timestamp, value) => readings.push({ timestamp, device_id: meter.serial, measurement_value: value });
	for (let h = 0; h < 24; h++) {
		const hh = String(h).padStart(2, '0');
		const v = hourKwh(h);
		const a = Math.round(v * 400) / 1000; // 40 % at :15, the rest at :45
		add(brussels(DAY, `${hh}:15`), a);
		add(brussels(DAY, `${hh}:45`), Math.round((v - a) * 1000) / 1000);
	}
	for (let d = WEEK[0]; d <= WEEK[1]; d = addDays(d, 1)) if (d !== DAY) add(brussels(d, '12:30'), WEEK_DAY_KWH);
	for (let d = PREV_WEEK[0]; d <= PREV_WEEK[1]; d = addDays(d, 1)) add(brussels(d, '12:30'), PREV_WEEK_DAY_KWH);
	// The daylight-saving days: a reading every half hour of UTC through
	// each local day (2025-03-30 starts 23:00Z the day before, 2025-10-26 at
	// 22:00Z), so every bucket has a value.
	for (const [start, hours] of [
		['2025-03-29T23:00:00Z', 23],
		['2025-10-25T22:00:00Z', 25],
	]) {
		const t0 = Date.parse(start);
		for (let i = 0; i < hours * 2; i++) add(t0 + (i * 30 + 10) * 60000, Math.round((0.1 + (i % 7) * 0.03) * 1000) / 1000);
	}
	const r = await kw.api('POST', '/api/v1/measurements', readings);
	assert.equal(r.accepted, readings.length);
});

after(async () => {
	await browser?.close();
	await kw?.stop();
});

test('client flow: the day picked from the calendar shows 24 bars equal to the API; DST days show 23 and 25', async () => {
	const page = await newPage(browser, kw);
	await login(page, client);
	await page.getByRole('link', { name: 'Rue Haute 12' }).first().click();
	await page.getByRole('heading', { level: 1, name: 'Rue Haute 12' }).waitFor();

	await page.getByLabel('Day', { exact: true }).fill(DAY);
	await page.getByRole('heading', { level: 2, name: 'Wednesday, 12 February 2025' }).waitFor();
	await waitRows(page, 24);
	const api = await consumption(meter.id, { from: DAY, to: DAY, step: 'hour' });
	assert.equal(api.buckets.length, 24);
	const rows = await chartRows(page);
	assert.deepEqual(
		rows.map(([, v]) => v),
		api.buckets.map((b) => b.kwh),
	);
	rows.forEach(([label, v], h) => {
		assert.equal(label, `${String(h).padStart(2, '0')}:00`);
		assert.ok(close(v, hourKwh(h)), `hour ${h}: ${v} != ${hourKwh(h)}`);
	});
	assert.equal(new Set(rows.map(([, v]) => v)).size, 24, 'the seeded hours are distinct');
	const url = new URL(page.url());
	assert.equal(url.searchParams.get('view'), 'day');
	assert.equal(url.searchParams.get('date'), DAY);

	// Hovering a bar shows its exact value.
	const over = page.locator('.u-over');
	const box = await over.boundingBox();
	await page.mouse.move(box.x + (box.width * 18.5) / 24, box.y + box.height / 2);
	await page.locator('.chart-tip').getByText('18:00').waitFor();
	await page.getByLabel('Day', { exact: true }).evaluate((e) => e.blur());
	assert.match(await page.locator('.chart-tip').textContent(), new RegExp(`${String(hourKwh(18)).replace('.', '\\.')} kWh`));
	await shot(page, 'client-day-chart');

	// The previous and next day buttons move by one day; next is disabled after today.
	await page.getByRole('button', { name: 'Next day' }).click();
	await page.getByRole('heading', { level: 2, name: 'Thursday, 13 February 2025' }).waitFor();
	await page.goBack();
	await page.getByRole('heading', { level: 2, name: 'Wednesday, 12 February 2025' }).waitFor();
	await page.getByRole('button', { name: 'Today' }).click();
	await page.waitForFunction(() => new URLSearchParams(location.search).get('date') !== '2025-02-12');
	assert.equal(await page.getByRole('button', { name: 'Next day' }).isDisabled(), true);

	// Spring forward: 23 hours, no 02:00.
	await page.getByLabel('Day', { exact: true }).fill('2025-03-30');
	await waitRows(page, 23);
	const spring = await chartRows(page);
	const springApi = await consumption(meter.id, { from: '2025-03-30', to: '2025-03-30', step: 'hour' });
	assert.deepEqual(
		spring.map(([, v]) => v),
		springApi.buckets.map((b) => b.kwh),
	);
	assert.ok(spring.every(([, v]) => v != null));
	assert.deepEqual(
		spring.slice(0, 3).map(([l]) => l),
		['00:00', '01:00', '03:00'],
	);

	// Fall back: 25 hours, the repeated 02:00 told apart by its offset.
	await page.getByLabel('Day', { exact: true }).fill('2025-10-26');
	await waitRows(page, 25);
	const fall = await chartRows(page);
	const fallApi = await consumption(meter.id, { from: '2025-10-26', to: '2025-10-26', step: 'hour' });
	assert.deepEqual(
		fall.map(([, v]) => v),
		fallApi.buckets.map((b) => b.kwh),
	);
	assert.deepEqual(
		fall.slice(1, 5).map(([l]) => l),
		['01:00', '02:00 (+02:00)', '02:00 (+01:00)', '03:00'],
	);

	// A reload shows the same day (the URL carries it).
	await page.reload();
	await waitRows(page, 25);
	assert.equal(await page.getByLabel('Day', { exact: true }).inputValue(), '2025-10-26');
	assert.deepEqual(page.problems, []);
	await page.context().close();
});

test("the day is the meter's own, whatever the browser's time zone", async () => {
	const page = await newPage(browser, kw, { tz: 'America/New_York' });
	await login(page, client);
	await page.goto(`/app/devices/${meter.serial}?view=day&date=${DAY}`);
	await waitRows(page, 24);
	const api = await consumption(meter.id, { from: DAY, to: DAY, step: 'hour' });
	const rows = await chartRows(page);
	assert.deepEqual(
		rows.map(([, v]) => v),
		api.buckets.map((b) => b.kwh),
	);
	assert.equal(rows[0][0], '00:00');
	assert.ok(close(rows[7][1], hourKwh(7)));
	await page.getByText("Times in the meter's zone, Europe/Brussels").waitFor();
	assert.deepEqual(page.problems, []);
	await page.context().close();
});

test('the line toggle switches the chart, the hourly limit is drawn, and the CSV is what the chart shows', async () => {
	const page = await newPage(browser, kw);
	await login(page, client);
	await page.goto(`/app/devices/${meter.id}?view=day&date=${DAY}`);
	await waitRows(page, 24);
	const chart = page.locator('.chart');
	assert.equal(await chart.getAttribute('data-mode'), 'bars');
	assert.equal(await chart.getAttribute('data-limit'), '2');
	await page.locator('.chart-legend').getByText('Max hourly limit: 2 kWh').waitFor();

	const toggle = page.getByRole('button', { name: 'Line chart' });
	assert.equal(await toggle.getAttribute('aria-pressed'), 'false');
	await toggle.click();
	assert.equal(await toggle.getAttribute('aria-pressed'), 'true');
	assert.equal(await chart.getAttribute('data-mode'), 'line');
	assert.equal(new URL(page.url()).searchParams.get('chart'), 'line');
	await toggle.click();
	assert.equal(await toggle.getAttribute('aria-pressed'), 'false');
	assert.equal(await chart.getAttribute('data-mode'), 'bars');

	// "Show as table" reveals the data table.
	const table = page.locator('.chart-data');
	assert.ok((await page.locator('.chart-table').boundingBox()).width <= 1, 'the data table is only for screen readers at first');
	await page.getByRole('button', { name: 'Show as table' }).click();
	assert.ok((await page.locator('.chart-table').boundingBox()).width > 100, 'the data table shows');
	assert.equal(await table.locator('tbody tr').count(), 24);
	assert.equal(await page.getByRole('button', { name: 'Hide table' }).getAttribute('aria-expanded'), 'true');

	const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download CSV' }).click()]);
	assert.equal(download.suggestedFilename(), `BE-0042-7781-${DAY}-hour.csv`);
	const csv = readFileSync(await download.path(), 'utf8').trim().split('\n');
	const api = await consumption(meter.id, { from: DAY, to: DAY, step: 'hour' });
	assert.equal(csv[0], 'start,kwh');
	assert.deepEqual(
		csv.slice(1),
		api.buckets.map((b) => `${b.start},${b.kwh ?? ''}`),
	);
	const rows = await chartRows(page);
	assert.deepEqual(
		csv.slice(1).map((l) => Number(l.split(',')[1])),
		rows.map(([, v]) => v),
	);

	// Daily charts have no hourly limit line.
	await page.getByRole('button', { name: 'Week', exact: true }).click();
	await waitRows(page, 7);
	assert.equal(await chart.getAttribute('data-limit'), '');
	assert.equal(await page.locator('.chart-legend .key.limit').count(), 0);
	assert.deepEqual(page.problems, []);
	await page.context().close();
});

test('the week summary: its total and the comparison with the week before', async () => {
	const page = await newPage(browser, kw);
	await login(page, client);
	await page.goto(`/app/devices/${meter.id}?view=week&date=${DAY}`);
	await waitRows(page, 7);
	await page.getByRole('heading', { level: 2, name: 'Week of 10 February 2025' }).waitFor();
	const dayTotal = Array.from({ length: 24 }, (_, h) => hourKwh(h)).reduce((a, b) => a + b, 0);
	const total = dayTotal + 6 * WEEK_DAY_KWH;
	const prev = 7 * PREV_WEEK_DAY_KWH;
	const api = await consumption(meter.id, { from: WEEK[0], to: WEEK[1], step: 'day' });
	assert.ok(close(api.total_kwh, total));

	const shown = page.locator('.summary-total');
	assert.ok(close(Number(await shown.getAttribute('data-value')), total));
	assert.equal(await shown.textContent(), `${total.toLocaleString('en-GB', { maximumFractionDigits: 3 })} kWh`);
	const rows = await chartRows(page);
	assert.deepEqual(
		rows.map(([, v]) => v),
		api.buckets.map((b) => b.kwh),
	);
	assert.equal(rows[0][0], 'Mon 10 Feb');

	const cmp = page.locator('.comparison');
	assert.ok(close(Number(await cmp.getAttribute('data-previous')), prev));
	const diff = Math.abs(total - prev);
	const pct = (((total - prev) / prev) * 100).toLocaleString('en-GB', { maximumFractionDigits: 1 });
	const text = await cmp.textContent();
	assert.ok(text.includes(`${diff.toLocaleString('en-GB', { maximumFractionDigits: 3 })} kWh`), text);
	assert.ok(text.includes(`${total > prev ? '+' : ''}${pct}%`), text);
	assert.ok(text.includes(total > prev ? 'more than the previous week' : 'less than the previous week'), text);
	assert.ok(text.includes('(28 kWh)'), text);

	// The week before has nothing before it to compare with.
	await page.getByRole('button', { name: 'Previous week' }).click();
	await page.getByRole('heading', { level: 2, name: 'Week of 3 February 2025' }).waitFor();
	await page.getByText('No readings for the previous week to compare with.').waitFor();
	assert.equal(await shown.getAttribute('data-value'), String(prev));
	assert.deepEqual(page.problems, []);
	await page.context().close();
});

test('empty states explain why there is no data, and API errors are shown with a retry', async () => {
	const page = await newPage(browser, kw);
	await login(page, client);
	await page.goto(`/app/devices/${silent.id}`);
	await page.getByRole('heading', { name: 'No readings yet' }).waitFor();
	await page.getByText('This meter has not sent any readings yet.').waitFor();
	assert.equal(await page.getByRole('button', { name: 'Download CSV' }).isDisabled(), true);

	await page.goto(`/app/devices/${meter.id}?view=day&date=2025-01-05`);
	await page.getByRole('heading', { name: 'No readings for this period' }).waitFor();
	await page.getByText('The meter sent no readings for Sunday, 5 January 2025.').waitFor();

	// The consumption API fails: the page says so and offers a retry.
	let fail = true;
	await page.route((u) => u.pathname.endsWith('/consumption'), (route) =>
		fail ? route.fulfill({ status: 500, contentType: 'application/json', body: '{"error":{"code":"internal","message":"database is locked"}}' }) : route.continue(),
	);
	await page.goto(`/app/devices/${meter.id}?view=day&date=${DAY}`);
	const alert = page.getByRole('alert').filter({ hasText: 'database is locked' });
	await alert.waitFor();
	fail = false;
	await alert.getByRole('button', { name: 'Try again' }).click();
	await waitRows(page, 24);
	assert.equal(await alert.count(), 0);
	assert.deepEqual(page.problems, []);

	// An unknown device, or one that is not the client's, is "not available".
	await page.goto('/app/devices/no-such-meter');
	await page.getByRole('heading', { name: 'This device is not available' }).waitFor();
	await page.context().close();
});

test('live: a reading posted for today changes the displayed total within 2 s, without a reload', async () => {
	const page = await newPage(browser, kw, { tz: 'Europe/Brussels' });
	await login(page, client);
	await page.goto(`/app/devices/${meter.id}`);
	await page.getByRole('heading', { level: 2, name: /^Today/ }).waitFor();
	await page.locator('.live-dot[data-state="live"]').waitFor();
	const total = page.locator('.summary-total');
	const before = Number((await total.getAttribute('data-value')) || 0);
	await page.evaluate(() => (window.__marker = 1));

	await kw.api('POST', '/api/v1/measurements', { timestamp: Date.now() - 1000, device_id: meter.serial, measurement_value: 0.777 });
	const t0 = Date.now();
	await page.waitForFunction((want) => Math.abs(Number(document.querySelector('.summary-total')?.dataset.value || 0) - want) < 1e-6, before + 0.777, { timeout: 2000 });
	assert.ok(Date.now() - t0 <= 2000);
	assert.equal(await page.evaluate(() => window.__marker), 1, 'the page did not reload');
	assert.equal(await page.locator('.chart-data tbody tr td[data-value]:not([data-value=""])').count() >= 1, true);
	assert.deepEqual(page.problems, []);
	await page.context().close();
});

test('My devices: one card per meter with the API numbers, updated live', async () => {
	await kw.api('POST', '/api/v1/measurements', { timestamp: Date.now() - 2000, device_id: meter.serial, measurement_value: 0.125 });
	const page = await newPage(browser, kw);
	await login(page, client);
	assert.equal(new URL(page.url()).pathname, '/app');
	const cards = page.locator('.device-card');
	await page.getByRole('heading', { level: 2, name: 'Garden shed' }).waitFor();
	assert.equal(await cards.count(), 2);

	const card = cards.filter({ has: page.getByRole('heading', { name: 'Rue Haute 12' }) });
	const shed = cards.filter({ has: page.getByRole('heading', { name: 'Garden shed' }) });
	await card.getByText('Serial BE-0042-7781').waitFor();
	await card.getByText('2 kWh per hour').waitFor();
	await shed.getByText('no limit set').waitFor();
	await shed.getByText('No readings received yet').waitFor();

	const today = await consumption(meter.id, { period: 'current-day', step: 'day' });
	const value = card.locator('.today');
	const shownToday = async () => Number(await value.getAttribute('data-value'));
	await page.waitForFunction(() => document.querySelector('.device-card .today')?.dataset.value !== undefined);
	assert.ok(today.total_kwh > 0);
	assert.ok(close(await shownToday(), today.total_kwh), `card ${await shownToday()} != API ${today.total_kwh}`);
	assert.equal(await value.textContent(), `${today.total_kwh.toLocaleString('en-GB', { maximumFractionDigits: 3 })} kWh`);
	assert.match(await card.locator('.last time').getAttribute('title'), /\d{4}/);
	await shot(page, 'client-home');

	await page.evaluate(() => (window.__marker = 1));
	const before = Number((await value.getAttribute('data-value')) || 0);
	await kw.api('POST', '/api/v1/measurements', { timestamp: Date.now() - 500, device_id: meter.serial, measurement_value: 0.5 });
	await page.waitForFunction((want) => Math.abs(Number(document.querySelector('.device-card .today')?.dataset.value || 0) - want) < 1e-6, before + 0.5, { timeout: 2000 });
	await card.getByText('just now').waitFor();
	assert.equal(await page.evaluate(() => window.__marker), 1);
	assert.deepEqual(page.problems, []);
	await page.context().close();
});

test('phone: My devices and the day chart fit 360 px', async () => {
	const page = await newPage(browser, kw, { phone: true });
	await login(page, client);
	await page.getByRole('heading', { level: 2, name: 'Garden shed' }).waitFor();
	await page.waitForFunction(() => [...document.querySelectorAll('.device-card .today')].every((e) => e.textContent !== '…'));
	const noScroll = () => page.evaluate(() => document.documentElement.scrollWidth <= document.documentElement.clientWidth);
	assert.ok(await noScroll(), 'My devices scrolls sideways at 360 px');
	await shot(page, 'phone-client-home');

	await page.goto(`/app/devices/${meter.id}?view=day&date=${DAY}`);
	await waitRows(page, 24);
	assert.ok(await noScroll(), 'the device page scrolls sideways at 360 px');
	const canvas = await page.locator('.chart-plot canvas').boundingBox();
	assert.ok(canvas.x >= 0 && canvas.x + canvas.width <= 360, `the chart is ${canvas.width} px wide at ${canvas.x}`);
	// A tap on a bar shows its value.
	await page.locator('.u-over').scrollIntoViewIfNeeded();
	const over = await page.locator('.u-over').boundingBox();
	await page.touchscreen.tap(over.x + (over.width * 12.5) / 24, over.y + over.height * 0.6);
	await page.locator('.chart-tip').getByText('12:00').waitFor();
	await page.evaluate(() => window.scrollTo(0, 0));
	await shot(page, 'phone-client-day-chart');
	assert.deepEqual(page.problems, []);
	await page.context().close();
});
