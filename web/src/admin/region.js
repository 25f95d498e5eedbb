// region.js - /admin/regions/:region: one region's devices ranked by
// consumption for the period in the URL (the dashboard's), with a chart
// of the top devices.  "(none)" is the devices without a region.
import { get, qs } from '../api.js';
import { barChart } from '../client/chart.js';
import { empty, h, kwh, mount, num, pageHead, table } from '../ui.js';
import { apiParams, periodLabel, periodPhrase, periodQuery, periodView } from './period.js';
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
	let showAll = false;
	const view = periodView(ctx, {
		fetchData: (period) => get(`/api/v1/regions/${encodeURIComponent(region)}/devices${qs(apiParams(period))}`, { signal: ctx.signal }),
		render,
		failed: (e) => e.status === 404 && e.field === 'region' && empty('No device in this region', `No device has the region “${region}” (any more). Devices get a region on their page.`, h('p', {}, h('a', { href: '/admin/devices' }, 'Go to devices'))),
		changed: (p) => back.setAttribute('href', `/admin/regions?${periodQuery(p)}`),
	});
	const { body } = view;
	const back = h('a', { href: `/admin/regions?${periodQuery(view.period)}` }, '← All regions');

	mount(ctx.main, h('p', { class: 'crumb' }, back), pageHead(title), view.controls, body);

	function render(res, period) {
		const label = periodLabel(period, res.from, res.to);
		const devices = res.devices;
		const total = res.total_kwh;
		const active = devices.filter((d) => d.total_kwh > 0);
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
								view.show(res);
							},
						},
						`Show all ${num(rows.length)} devices`,
					),
				),
		);
		body.querySelector('.table-wrap table')?.classList.add('ranking');
		if (total > 0) {
			return barChart(chartBox, {
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

	await view.load();
}
