// home.js - /app, "My devices": one card per meter the user may see, with
// today's kWh so far, when the last reading arrived and the hourly limit.
// Cards refresh themselves when the server says a reading arrived for
// their device, and all of them after a reconnect (resync).
import { all, get } from '../api.js';
import * as live from '../live.js';
import { debounce, empty, errorBox, h, kwh, mount, pageHead, spinner } from '../ui.js';
import { absTime, since } from './time.js';

export default async function page(ctx) {
	const { main, me, signal } = ctx;
	if (me.user.role === 'admin') {
		mount(
			main,
			pageHead('My devices'),
			h(
				'div',
				{ class: 'notice admin-note' },
				h('p', {}, 'You are logged in as an administrator. This page is where customers see their own meters; administrators have no devices of their own here.'),
				h('p', {}, h('a', { href: '/admin', class: 'button primary' }, 'Go to the admin area')),
			),
		);
		return;
	}

	const body = h('div', { class: 'home-body' });
	mount(main, pageHead('My devices'), body);
	const cards = new Map(); // device id -> {refresh}

	// quiet: after a reconnect, keep the cards on screen and refresh them
	// (redrawing only when the list of devices itself changed).
	async function load({ quiet = false } = {}) {
		if (!quiet) mount(body, spinner('Loading your devices…'));
		let devices;
		try {
			devices = await all('/api/v1/devices', 'devices', { signal });
		} catch (e) {
			if (e.name === 'AbortError') return;
			mount(body, errorBox(e, () => load()));
			return;
		}
		if (quiet && cards.size && devices.length === cards.size && devices.every((d) => cards.has(d.id))) {
			for (const c of cards.values()) c.refresh();
			return;
		}
		cards.clear();
		if (!devices.length) {
			mount(
				body,
				empty(
					'No meter linked yet',
					'Your meter has not been linked to your account yet, so there is nothing to show. Your energy provider links it once your installation is registered; this usually happens within one working day.',
					h('p', {}, 'If it has been longer, contact your energy provider and give them your email address (', h('strong', {}, me.user.email), ') and the serial number printed on your meter.'),
				),
			);
			return;
		}
		const grid = h('ul', { class: 'device-cards', 'aria-label': 'Your devices' });
		for (const d of devices) {
			const c = card(d, signal);
			cards.set(d.id, c);
			grid.append(c.el);
		}
		mount(body, h('p', { class: 'muted intro' }, devices.length === 1 ? 'Your meter, updated live as readings arrive.' : `Your ${devices.length} meters, updated live as readings arrive.`), grid);
	}

	live.on(
		'reading',
		(ev) => {
			if (ev.device_id && cards.has(ev.device_id)) cards.get(ev.device_id).refresh();
			else if (!ev.device_id || ev.many) for (const c of cards.values()) c.refresh();
		},
		signal,
	);
	live.on('resync', () => load({ quiet: true }), signal);
	// "5 min ago" keeps telling the truth while the page stays open.
	const tick = setInterval(() => {
		for (const c of cards.values()) c.tick();
	}, 30000);
	signal.addEventListener('abort', () => clearInterval(tick), { once: true });

	await load();
}

function card(device, signal) {
	const today = h('dd', { class: 'today', 'aria-live': 'polite' }, '…');
	const last = h('dd', { class: 'last' }, '…');
	const limit = h('dd', { class: 'limit' }, device.max_hourly_kwh == null ? 'no limit set' : `${kwh(device.max_hourly_kwh)} per hour`);
	const status = h('div', { class: 'card-status' });
	let lastAt = null;
	const el = h(
		'li',
		{ class: 'card device-card', 'data-device': device.id },
		h('h2', {}, h('a', { href: `/app/devices/${encodeURIComponent(device.id)}` }, device.name)),
		h('p', { class: 'muted serial' }, device.serial ? `Serial ${device.serial}` : 'No serial number'),
		h(
			'dl',
			{ class: 'stats' },
			h('div', { class: 'fact big' }, h('dt', {}, 'Today so far'), today),
			h('div', { class: 'fact' }, h('dt', {}, 'Last reading'), last),
			h('div', { class: 'fact' }, h('dt', {}, 'Max hourly limit'), limit),
		),
		status,
		h('a', { class: 'button card-link', href: `/app/devices/${encodeURIComponent(device.id)}`, 'aria-label': `See the consumption of ${device.name}` }, 'See consumption →'),
	);

	function showLast() {
		if (!lastAt) return mount(last, 'never');
		mount(last, h('time', { datetime: lastAt, title: absTime(lastAt, device.timezone) }, since(lastAt, device.timezone)), h('small', { class: 'muted abs' }, absTime(lastAt, device.timezone)));
	}

	let seq = 0;
	async function refresh() {
		const mine = ++seq;
		el.setAttribute('aria-busy', 'true');
		try {
			const c = await get(`/api/v1/devices/${encodeURIComponent(device.id)}/consumption?period=current-day&step=day`, { signal });
			if (mine !== seq) return;
			const hasData = c.buckets.some((b) => b.kwh != null);
			today.dataset.value = hasData ? String(c.total_kwh) : '';
			mount(today, hasData ? kwh(c.total_kwh) : h('span', { class: 'none' }, c.last_reading_at ? 'No readings yet today' : 'No readings received yet'));
			lastAt = c.last_reading_at;
			showLast();
			mount(status);
		} catch (e) {
			if (e.name === 'AbortError' || mine !== seq) return;
			mount(status, errorBox(e, refresh));
		} finally {
			if (mine === seq) el.removeAttribute('aria-busy');
		}
	}

	refresh();
	return { el, refresh: debounce(refresh, 300), tick: showLast };
}
