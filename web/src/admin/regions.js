// regions.js - /admin and /admin/regions: seed 002's management dashboard.
// Total consumption per region for a month or period: summary numbers, a
// bar chart and a table; each region leads to its devices, ranked.  The
// period stays in the URL.  New readings refresh the numbers when the
// period reaches today.
import { all, get, qs } from '../api.js';
import { barChart } from '../client/chart.js';
import { empty, h, kwh, mount, num, pageHead, table } from '../ui.js';
import { apiParams, periodLabel, periodPhrase, periodQuery, periodView } from './period.js';

const pct = new Intl.NumberFormat(undefined, { style: 'percent', maximumFractionDigits: 1 });

// Most consumption first; equal ones by name, "(none)" last.
export function byConsumption(a, b) {
	return b.total_kwh - a.total_kwh || (a.region === '(none)') - (b.region === '(none)') || a.region.localeCompare(b.region);
}

export function regionName(r) {
	return r === '(none)' ? '(no region)' : r;
}

export function share(part, whole) {
	return whole > 0 ? part / whole : null;
}

export function shareCell(s) {
	if (s == null) return h('span', { class: 'muted' }, '—');
	const bar = h('span', { class: 'share-bar', 'aria-hidden': 'true' }, h('span', {}));
	bar.firstChild.style.width = `${Math.max(0, Math.min(100, s * 100))}%`;
	return h('span', { class: 'share' }, bar, h('span', { class: 'share-num' }, pct.format(s)));
}

export function stat(label, value, sub) {
	return h('div', { class: 'stat-card' }, h('span', { class: 'stat-label' }, label), h('strong', { class: 'stat-value' }, value), sub && h('span', { class: 'stat-sub muted' }, sub));
}

export default async function page(ctx) {
	let deviceCounts = null; // region -> number of devices (read once)
	const view = periodView(ctx, {
		fetchData: (period) => Promise.all([get(`/api/v1/regions/consumption${qs({ ...apiParams(period), step: 'day' })}`, { signal: ctx.signal }), counts()]),
		render,
		// New readings refresh the numbers; a reconnect the device counts too.
		resynced: () => (deviceCounts = null),
	});
	const { body } = view;

	mount(ctx.main, pageHead('Consumption by region'), view.controls, body);

	async function counts() {
		if (deviceCounts) return deviceCounts;
		const devices = await all('/api/v1/devices', 'devices', { signal: ctx.signal });
		const m = new Map();
		for (const d of devices) m.set(d.region || '(none)', (m.get(d.region || '(none)') || 0) + 1);
		deviceCounts = { byRegion: m, total: devices.length };
		return deviceCounts;
	}

	function render([res, c], period) {
		const label = periodLabel(period, res.from, res.to);
		const q = periodQuery(period);
		const regions = [...res.regions].sort(byConsumption);
		const total = regions.reduce((s, r) => s + r.total_kwh, 0);
		if (regions.length === 0) {
			mount(
				body,
				empty('No regions yet', 'Devices are grouped by their region. Give your devices a region and their consumption shows here.', h('p', {}, h('a', { class: 'button primary', href: '/admin/devices' }, 'Go to devices'))),
			);
			return null; // no chart
		}
		const busiest = regions[0];
		const idle = regions.filter((r) => r.total_kwh === 0).length;
		const chartBox = h('div', { class: 'chart-slot' });
		mount(
			body,
			h(
				'section',
				{ class: 'stats', 'aria-label': `Summary for ${label}`, 'aria-live': 'polite' },
				stat('Total', kwh(total), label),
				stat('Regions', num(regions.length), `${num(regions.filter((r) => r.total_kwh > 0).length)} with consumption`),
				stat('Devices', num(c.total), c.total ? `${kwh(total / c.total, 1)} on average` : null),
				stat('Largest region', total > 0 ? regionName(busiest.region) : '—', total > 0 ? `${pct.format(busiest.total_kwh / total)} of the total` : 'no consumption'),
			),
			h(
				'section',
				{ class: 'card', 'aria-labelledby': 'chart-h' },
				h('h2', { id: 'chart-h' }, `Total kWh per region · ${label}`),
				total > 0 ? chartBox : empty(`No consumption recorded for ${periodPhrase(period, res.from, res.to)}`, 'None of the devices sent readings for these days. Pick another period above.'),
				total > 0 && idle > 0 && h('p', { class: 'muted small chart-note' }, `${num(idle)} ${idle === 1 ? 'region' : 'regions'} without consumption in this period ${idle === 1 ? 'is' : 'are'} not drawn; the table lists ${idle === 1 ? 'it' : 'them'}.`),
			),
			h('h2', { id: 'table-h' }, 'Regions'),
			table(
				`Consumption per region, ${label}`,
				[
					['Region', (r) => h('a', { href: `/admin/regions/${encodeURIComponent(r.region)}?${q}` }, regionName(r.region))],
					['Devices', (r) => num(c.byRegion.get(r.region) ?? 0), 'num'],
					[h('span', {}, 'Total ', h('span', { class: 'unit' }, 'kWh')), (r) => h('span', { 'data-value': String(r.total_kwh) }, num(r.total_kwh)), 'num'],
					['Share', (r) => shareCell(share(r.total_kwh, total)), 'share-col'],
				],
				regions,
				{ rowClick: (r) => ctx.navigate(`/admin/regions/${encodeURIComponent(r.region)}?${q}`) },
			),
		);
		body.querySelector('table')?.classList.add('regions-table');
		if (total > 0) {
			const used = regions.filter((r) => r.total_kwh > 0);
			return barChart(chartBox, {
				labels: used.map((r) => regionName(r.region)),
				values: used.map((r) => r.total_kwh),
				unit: 'kWh',
				mode: 'bars',
				limit: null,
				title: `Total kWh per region, ${label}`,
				xTitle: 'Region',
			});
		}
	}

	await view.load();
}
