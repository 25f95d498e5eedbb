// a11y.test.mjs - every page of the app, as an admin and as a client, on a
// desktop and on a 360-px phone: one <h1>, headings that do not skip a
// level, every control and link with an accessible name, no sideways
// scrolling of the page, and the login done with the keyboard alone.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, login, newPage, startKilowatt } from './harness.mjs';

let kw, browser, admin, client, device, userId;

before(async () => {
	kw = await startKilowatt();
	browser = await launchBrowser();
	admin = kw.user('ada@example.test', 'admin-password-1', { name: 'Ada Admin', role: 'admin' });
	client = kw.user('lea@example.test', 'client-password-1', { name: 'Léa Dubois' });
	device = await kw.api('POST', '/api/v1/devices', { name: 'Rue Haute 12', serial: 'A11Y-1', region: 'North', timezone: 'Europe/Brussels', max_hourly_kwh: 2 });
	userId = (await kw.api('GET', '/api/v1/users?q=lea')).users[0].id;
	await kw.api('POST', '/api/v1/mappings', { user_id: userId, device_id: device.id });
	const t = Date.now() - 2 * 3600e3;
	await kw.api('POST', '/api/v1/measurements', [0, 1, 2, 3].map((i) => ({ timestamp: t + i * 600e3, device_id: 'A11Y-1', measurement_value: 0.25 })));
});

after(async () => {
	await browser?.close();
	await kw?.stop();
});

// What is wrong with the page as shown, as a list of sentences.
function audit(page) {
	return page.evaluate(() => {
		const problems = [];
		const visible = (el) => {
			const r = el.getBoundingClientRect();
			const s = getComputedStyle(el);
			return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && !el.closest('[hidden], .sr-only, dialog:not([open])');
		};
		const named = (el) => {
			if (el.getAttribute('aria-label')?.trim()) return true;
			const by = el.getAttribute('aria-labelledby');
			if (by && by.split(/\s+/).some((id) => document.getElementById(id)?.textContent.trim())) return true;
			if (el.labels && [...el.labels].some((l) => l.textContent.trim())) return true;
			if (['BUTTON', 'A', 'SUMMARY'].includes(el.tagName) && el.textContent.trim()) return true;
			return !!el.getAttribute('title')?.trim();
		};
		const h1 = [...document.querySelectorAll('h1')].filter(visible);
		if (h1.length !== 1) problems.push(`${h1.length} visible <h1>`);
		let last = 0;
		for (const hd of [...document.querySelectorAll('h1, h2, h3, h4, h5, h6')].filter(visible)) {
			const level = Number(hd.tagName[1]);
			if (level > last + 1) problems.push(`heading "${hd.textContent.trim()}" jumps from h${last} to h${level}`);
			last = level;
		}
		for (const el of document.querySelectorAll('input:not([type=hidden]), select, textarea, button, a[href], summary')) {
			if (visible(el) && !named(el)) problems.push(`a ${el.tagName.toLowerCase()} without an accessible name: ${el.outerHTML.slice(0, 120)}`);
		}
		if (document.documentElement.scrollWidth > window.innerWidth + 1)
			problems.push(`the page scrolls sideways: ${document.documentElement.scrollWidth} px wide in ${window.innerWidth}`);
		return problems;
	});
}

async function settle(page) {
	await page.locator('main h1').first().waitFor();
	await page.waitForLoadState('networkidle');
}

for (const phone of [false, true]) {
	const size = phone ? 'phone' : 'desktop';

	test(`client pages on a ${size}`, async () => {
		const page = await newPage(browser, kw, { phone });
		await login(page, client);
		for (const path of ['/app', `/app/devices/${device.id}`, `/app/devices/${device.id}?view=month`, '/admin/users']) {
			await page.goto(path);
			await settle(page);
			assert.deepEqual(await audit(page), [], `${path} (${size})`);
		}
		assert.deepEqual(page.problems, []);
		await page.context().close();
	});

	test(`admin pages on a ${size}`, async () => {
		const page = await newPage(browser, kw, { phone });
		await login(page, admin);
		const paths = ['/admin', '/admin/regions/North', '/admin/users', `/admin/users/${userId}`, '/admin/devices', `/admin/devices/${device.id}`, '/admin/tokens', '/admin/audit', '/admin/support', '/app'];
		for (const path of paths) {
			await page.goto(path);
			await settle(page);
			assert.deepEqual(await audit(page), [], `${path} (${size})`);
		}
		assert.deepEqual(page.problems, []);
		await page.context().close();
	});
}

test('the login page passes the audit and works with the keyboard alone', async () => {
	const page = await newPage(browser, kw);
	await page.goto('/login');
	await settle(page);
	assert.deepEqual(await audit(page), []);
	// The email field has focus on arrival; Tab moves through the form in order.
	assert.equal(await page.evaluate(() => document.activeElement.name), 'email');
	await page.keyboard.type(client.email);
	await page.keyboard.press('Tab');
	assert.equal(await page.evaluate(() => document.activeElement.name), 'password');
	await page.keyboard.type(client.password);
	await page.keyboard.press('Tab');
	assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Log in');
	await page.keyboard.press('Enter');
	await page.waitForURL('**/app');
	// The new page's heading takes the focus, for screen readers.
	await page.locator('main h1').waitFor();
	await page.waitForFunction(() => document.activeElement?.tagName === 'H1');
	assert.deepEqual(page.problems, []);
	await page.context().close();
});

test('the audit itself finds an unnamed control, a skipped heading level and sideways scrolling', async () => {
	const page = await newPage(browser, kw, { phone: true });
	await page.goto('/login');
	await settle(page);
	await page.evaluate(() => {
		const main = document.querySelector('main');
		main.append(document.createElement('input'), document.createElement('h4'), document.createElement('button'));
		main.querySelector('h4').textContent = 'Deep';
		const wide = document.createElement('div');
		wide.style.width = '2000px';
		wide.style.height = '10px';
		main.append(wide);
	});
	const found = await audit(page);
	assert.equal(found.length, 4, found.join('\n'));
	assert.match(found.join('\n'), /jumps from h\d to h4/);
	assert.match(found.join('\n'), /scrolls sideways/);
	await page.context().close();
});
