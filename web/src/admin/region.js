// region.js - /admin/regions/:region: one region's devices ranked by
// consumption for the period in the URL (the dashboard's), with a chart
// of the top devices.  "(none)" is the devices without a region.
import { get, qs } from '../api.js';
import { barChart } from '../client/chart.js';
import * as live from '../live.js';
import { debounce, empty, errorBox, h, kwh, mount, num, pageHead, spinner, table } from '../ui.js';
import { apiParams, isCurrent, periodControl, periodLabel, periodPhrase, periodQuery, readPeriod } from './period.js';
import { share, shareCell, stat } from './regions.js';

const TOP = 10;
const pct = new Intl.NumberFormat(undefined, { style: 'percent', maximumFractionDigits: 1 });
const SHOW = 100;

function short(name, n = 18) {
	return name.length > n ? `${name.slice(0, n - 1)}…` : name;
}

export default async function page(ctx) {
	const region = ctx.params.region;
	const title = region === '(none)' ? 'Devices without a region' : region;
	let period = readPeriod(ctx.query);
	const back = h('a', { href: `/admin/regions?${periodQuery(period)}` }, '← All regions');
	const controls = h('div');
	const body = h('div', { class: 'dash-body' });
	let chart = null;
	let showAll = false;

	mount(ctx.main, h('p', { class: 'crumb' }, back), pageHead(title), controls, body);

	function paintControls() {
		back.setAttribute('href', `/admin/regions?${periodQuery(period)}`);
		mount(
			controls,
			periodControl(period, (p) => {
				period = p;
				history.pushState(null, '', `${location.pathname}?${periodQuery(p)}`);
				paintControls();
				load();
			}),
		);
	}
	paintControls();

	let seq = 0;
	async function load({ quiet = false } = {}) {
		const mine = ++seq;
		if (!quiet) {
			if (body.childElementCount) body.setAttribute('aria-busy', 'true');
			else mount(body, spinner());
		}
		try {
			const res = await get(`/api/v1/regions/${encodeURIComponent(region)}/devices${qs(apiParams(period))}`, { signal: ctx.signal });
			if (mine !== seq) return;
			render(res);
		} catch (e) {
			if (e.name === 'AbortError' || e.status === 401 || mine !== seq) return;
			chart?.destroy();
			chart = null;
			if (e.status === 404 && e.field === 'region') mount(body, empty('No device in this region', `No device has the region “${region}” (any more). Devices get a region on their page.`, h('p', {}, h('a', { href: '/admin/devices' }, 'Go to devices'))));
			else mount(body, errorBox(e, () => load()));
		} finally {
			if (mine === seq) body.removeAttribute('aria-busy');
		}
	}

	function render(res) {
		const label = periodLabel(period, res.from, res.to);
		const devices = res.devices;
		const total = res.total_kwh;
		const active = devices.filter((d) => d.total_kwh > 0);
		chart?.destroy();
		chart = null;
		const top = active.slice(0, TOP);
		const chartBox = h('div', { class: 'chart-slot' });
		const rows = devices.map((d, i) => ({ ...d, rank: i + 1 }));
		const shown = showAll ? rows : rows.slice(0, SHOW);
		mount(
			body,
			h(
				'section',
				{ class: 'stats', 'aria-label': `Summary for ${label}`, 'aria-live': 'polite' },
				stat('Total', kwh(total), label),
				stat('Devices', num(devices.length), `${num(active.length)} with consumption`),
				stat('Per device', devices.length ? kwh(total / devices.length) : '—', label),
				stat('Top device', active[0] ? active[0].name : '—', active[0] ? `${kwh(active[0].total_kwh)} · ${pct.format(active[0].total_kwh / total)}` : 'no consumption'),
			),
			h(
				'section',
				{ class: 'card', 'aria-labelledby': 'chart-h' },
				h('h2', { id: 'chart-h' }, active.length > TOP ? `Top ${TOP} devices · ${label}` : `Devices by consumption · ${label}`),
				total > 0 ? chartBox : empty(`No consumption recorded for ${periodPhrase(period, res.from, res.to)}`, `No device in ${title === region ? region : 'this group'} sent readings for these days. Pick another period above.`),
			),
			h('h2', {}, 'Devices ranked by consumption'),
			table(
				`Devices of ${title} ranked by consumption, ${label}`,
				[
					['Rank', (d) => num(d.rank), 'num rank'],
					['Device', (d) => h('a', { href: `/admin/devices/${d.id}` }, d.name)],
					['Serial', (d) => (d.serial ? h('code', {}, d.serial) : h('span', { class: 'muted' }, '—'))],
					[h('span', { class: 'unit' }, 'kWh'), (d) => h('span', { 'data-value': String(d.total_kwh) }, num(d.total_kwh)), 'num'],
					['Share', (d) => shareCell(share(d.total_kwh, total)), 'share-col'],
				],
				shown,
				{ rowClick: (d) => ctx.navigate(`/admin/devices/${d.id}`) },
			),
			rows.length > shown.length &&
				h(
					'p',
					{ class: 'more' },
					h(
						'button',
						{
							type: 'button',
							onclick: () => {
								showAll = true;
								render(res);
							},
						},
						`Show all ${num(rows.length)} devices`,
					),
				),
		);
		body.querySelector('.table-wrap table')?.classList.add('ranking');
		if (total > 0) {
			chart = barChart(chartBox, {
				labels: top.map((d) => short(d.name)),
				values: top.map((d) => d.total_kwh),
				unit: 'kWh',
				mode: 'bars',
				limit: null,
				title: `Top devices of ${title}, ${label}`,
				xTitle: 'Device',
			});
		}
	}

	const refresh = debounce(() => isCurrent(period) && load({ quiet: true }), 3000);
	live.on('reading', refresh, ctx.signal);
	live.on('resync', () => load({ quiet: true }), ctx.signal);
	ctx.signal.addEventListener('abort', () => chart?.destroy(), { once: true });

	await load();
}
