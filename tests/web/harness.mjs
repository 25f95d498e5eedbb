// harness.mjs - what the browser tests share: a real kilowatt on loopback
// with its own data directory, an admin token for seeding through the API,
// users created with the CLI, and Debian's chromium driven by
// playwright-core.
//
//   const kw = await startKilowatt();          // kw.url, kw.api(), kw.user()
//   const browser = await launchBrowser();
//   ... await shot(page, 'login');              // $KW_ARTIFACTS/login.png
//   await browser.close(); await kw.stop();
//
// Every wait is bounded; the daemon listens on 127.0.0.1 on a port the
// kernel picks; stop() fails the test if the daemon did not exit 0 or a
// sanitizer reported anything.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import assert from 'node:assert/strict';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../..');
const require = createRequire(join(repo, 'web', 'package.json'));
const { chromium } = require('playwright-core');

export const BIN = resolve(process.env.KILOWATT_BIN || join(repo, 'build-test', 'kilowatt'));
export const ARTIFACTS = resolve(process.env.KW_ARTIFACTS || join(repo, 'build-test', 'artifacts'));
const CHROMIUM = process.env.KW_CHROMIUM || '/usr/bin/chromium';

function env(extra = {}) {
	const e = {};
	for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('KILOWATT_')) e[k] = v;
	return { ...e, ASAN_OPTIONS: 'detect_leaks=1:abort_on_error=1', UBSAN_OPTIONS: 'print_stacktrace=1:halt_on_error=1', LC_ALL: 'C', ...extra };
}

function cli(data, args, input) {
	const p = spawnSync(BIN, [...args, '--data', data], { env: env(), input: input ?? '', encoding: 'utf8', timeout: 60000 });
	if (p.status !== 0) throw new Error(`kilowatt ${args.join(' ')} failed (${p.status}): ${p.stderr}`);
	return p.stdout;
}

function sanitizerReport(text) {
	return /ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:/.test(text);
}

// Starts `kilowatt serve`; settings are KILOWATT_* environment overrides
// such as { AUTH_SESSION_IDLE: '60s' }.
export async function startKilowatt(settings = {}) {
	const dir = mkdtempSync(join(tmpdir(), 'kw-web-'));
	const data = join(dir, 'data');
	const admin = cli(data, ['token', 'create', '--name', 'test-admin', '--scope', 'admin']).split('\n')[0].trim();
	const extra = {};
	for (const [k, v] of Object.entries(settings)) extra[`KILOWATT_${k}`] = String(v);
	const proc = spawn(BIN, ['serve', '--listen', '127.0.0.1:0', '--data', data], { env: env(extra), stdio: ['ignore', 'pipe', 'pipe'] });
	let log = '';
	proc.stdout.on('data', (b) => (log += b));
	proc.stderr.on('data', (b) => (log += b));
	const exited = new Promise((res) => proc.on('exit', (code, sig) => res({ code, sig })));
	const port = await new Promise((res, rej) => {
		const t = setTimeout(() => rej(new Error(`kilowatt did not start within 60 s:\n${log}`)), 60000);
		const check = () => {
			const m = /msg="listening" addr=\S+:(\d+)/.exec(log);
			if (m) {
				clearTimeout(t);
				res(Number(m[1]));
			}
		};
		proc.stderr.on('data', check);
		proc.stdout.on('data', check);
		exited.then(({ code }) => rej(new Error(`kilowatt exited (${code}) before listening:\n${log}`)));
	});
	const url = `http://127.0.0.1:${port}`;

	// The JSON API with the admin token (or token: null / another token).
	async function api(method, path, body, { token = admin } = {}) {
		const headers = { Accept: 'application/json' };
		if (token) headers.Authorization = `Bearer ${token}`;
		if (body !== undefined) headers['Content-Type'] = 'application/json';
		const res = await fetch(url + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(30000) });
		const text = await res.text();
		const json = text ? JSON.parse(text) : null;
		if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
		return json;
	}

	// A user made with `kilowatt user add` (its password on stdin).
	function user(email, password, { name = email.split('@')[0], role = 'client' } = {}) {
		cli(data, ['user', 'add', '--email', email, '--name', name, '--role', role], `${password}\n`);
		return { email, password, name, role };
	}

	async function stop() {
		if (proc.exitCode === null) proc.kill('SIGTERM');
		const t = setTimeout(() => proc.kill('SIGKILL'), 30000);
		const { code, sig } = await exited;
		clearTimeout(t);
		rmSync(dir, { recursive: true, force: true });
		if (code !== 0 || sanitizerReport(log)) throw new Error(`kilowatt exited with ${code ?? sig}:\n${log.slice(-4000)}`);
	}

	return { url, port, data, admin, api, user, stop, log: () => log };
}

export async function launchBrowser() {
	return chromium.launch({
		executablePath: CHROMIUM,
		args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-dev-shm-usage'],
		timeout: 60000,
	});
}

// A fresh browser context (its own cookies) and page; phone: 360x740.
export async function newPage(browser, kw, { phone = false, tz = 'Europe/Brussels' } = {}) {
	const ctx = await browser.newContext({
		baseURL: kw.url,
		viewport: phone ? { width: 360, height: 740 } : { width: 1280, height: 860 },
		deviceScaleFactor: 1,
		isMobile: phone,
		hasTouch: phone,
		timezoneId: tz,
		locale: 'en-GB',
	});
	ctx.setDefaultTimeout(10000);
	const page = await ctx.newPage();
	const problems = [];
	page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
	// The browser logs every 4xx/5xx answer as "Failed to load resource":
	// the app's own handling of them is what the tests check.
	page.on('console', (m) => m.type() === 'error' && !/^Failed to load resource/.test(m.text()) && problems.push(`console: ${m.text()}`));
	page.problems = problems;
	return page;
}

// Logs in through the login page and waits for the landing page.
export async function login(page, who) {
	await page.goto('/login');
	await page.getByLabel('Email').fill(who.email);
	await page.getByLabel('Password').fill(who.password);
	await page.getByRole('button', { name: 'Log in' }).click();
	await page.waitForURL((u) => !u.pathname.startsWith('/login'));
}

export async function shot(page, name) {
	mkdirSync(ARTIFACTS, { recursive: true });
	await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

// Polls f (async or not) every 50 ms until it is true; fails the test
// naming `what` after ms.
export async function until(what, f, ms = 10000) {
	const end = Date.now() + ms;
	while (Date.now() < end) {
		if (await f()) return;
		await new Promise((r) => setTimeout(r, 50));
	}
	assert.fail(`timed out waiting for ${what}`);
}
