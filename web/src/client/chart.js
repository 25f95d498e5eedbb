// chart.js - one bar (or line) chart of kWh per bucket, drawn by uPlot.
//
//   const c = barChart(container, { labels, values, unit: 'kWh', mode: 'bars',
//                                   limit: 2 | null, title, xTitle });
//   c.update(opts)  c.setMode('bars' | 'line')  c.destroy()
//
// The canvas is for the eye; the same numbers are in a <table
// class="chart-data"> (one row per bucket, the value cell's data-value is
// the exact number or "" for no data) that screen readers read and a
// "Show as table" button reveals.  Hovering or tapping a bucket shows its
// exact value in a tooltip.  Colours come from the page's CSS variables,
// so dark mode follows; the chart resizes with its container.
import uPlot from 'uplot';
import { h, mount } from '../ui.js';

const exact = new Intl.NumberFormat(undefined, { maximumFractionDigits: 6 });
const short = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });

function colours() {
	const s = getComputedStyle(document.documentElement);
	const v = (name, dflt) => s.getPropertyValue(name).trim() || dflt;
	return {
		brand: v('--brand', '#0b6e4f'),
		soft: v('--brand-soft', '#e3f1ec'),
		text: v('--muted', '#5b665f'),
		line: v('--line', '#dde2de'),
		danger: v('--danger', '#b42318'),
		font: `12px ${v('--font', 'system-ui, sans-serif')}`,
	};
}

// The chart's height for its width: wide screens get a calmer aspect.
function heightFor(width) {
	return Math.round(Math.max(220, Math.min(340, width * 0.42)));
}

export function barChart(container, options) {
	let opts = { mode: 'bars', unit: 'kWh', limit: null, title: '', xTitle: '', ...options };
	let plot = null;

	const plotBox = h('div', { class: 'chart-plot', 'aria-hidden': 'true' });
	const tip = h('div', { class: 'chart-tip', hidden: true });
	const legend = h('ul', { class: 'chart-legend' });
	const tableBox = h('div', { class: 'chart-table sr-only' });
	const toggle = h(
		'button',
		{ type: 'button', class: 'chart-table-toggle link', 'aria-expanded': 'false', onclick: () => showTable(toggle.getAttribute('aria-expanded') !== 'true') },
		'Show as table',
	);
	const root = h('div', { class: 'chart' }, plotBox, h('div', { class: 'chart-foot' }, legend, toggle), tableBox);
	mount(container, root);

	function showTable(on) {
		toggle.setAttribute('aria-expanded', String(on));
		toggle.textContent = on ? 'Hide table' : 'Show as table';
		tableBox.classList.toggle('sr-only', !on);
	}

	function fmt(v) {
		return v == null ? 'no data' : `${exact.format(v)} ${opts.unit}`;
	}

	function renderTable() {
		mount(
			tableBox,
			h(
				'table',
				{ class: 'chart-data' },
				h('caption', {}, opts.title),
				h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, opts.xTitle || 'Period'), h('th', { scope: 'col', class: 'num' }, opts.unit))),
				h(
					'tbody',
					{},
					opts.labels.map((l, i) => {
						const v = opts.values[i];
						return h('tr', {}, h('th', { scope: 'row' }, l), h('td', { class: 'num', 'data-value': v == null ? '' : String(v) }, v == null ? 'no data' : exact.format(v)));
					}),
				),
			),
		);
	}

	function renderLegend(c) {
		const hasLimit = typeof opts.limit === 'number';
		root.dataset.mode = opts.mode;
		root.dataset.limit = hasLimit ? String(opts.limit) : '';
		mount(
			legend,
			h('li', { class: `key ${opts.mode}` }, h('span', { class: 'swatch', 'aria-hidden': 'true' }), `${opts.unit} per ${opts.xTitle ? opts.xTitle.toLowerCase() : 'period'}`),
			hasLimit && h('li', { class: 'key limit', 'data-limit': String(opts.limit) }, h('span', { class: 'swatch', 'aria-hidden': 'true' }), `Max hourly limit: ${exact.format(opts.limit)} ${opts.unit}`),
		);
		legend.querySelectorAll('.swatch').forEach((s, i) => (s.style.background = i === 0 ? c.brand : c.danger));
	}

	// Which labels fit under the x axis: hours and days skip evenly; a few
	// named categories (regions, devices) all show, shortened if need be.
	const CHAR = 7;
	function room(u) {
		return u.bbox.width / (devicePixelRatio || 1);
	}

	function xSplits(u) {
		const n = opts.labels.length;
		if (!n) return [];
		const chars = Math.max(...opts.labels.map((l) => l.length));
		const widest = chars * CHAR + 16;
		const all = n <= 12 && (fitChars(u, n) >= chars || (shortens() && fitChars(u, n) >= 6));
		const every = all ? 1 : Math.max(1, Math.ceil((n * widest) / Math.max(room(u), 1)));
		const out = [];
		for (let i = 0; i < n; i += every) out.push(i);
		return out;
	}

	// Dates and hours are never shortened (every other one is clearer);
	// names are.
	function shortens() {
		return opts.labels.some((l) => !/\d/.test(l));
	}

	// How many characters fit under each of k labels.
	function fitChars(u, k) {
		return Math.floor((room(u) / Math.max(k, 1) - 8) / CHAR);
	}

	function xValues(u, splits) {
		const fit = shortens() ? Math.max(4, fitChars(u, splits.length)) : Infinity;
		return splits.map((i) => {
			const l = opts.labels[i] ?? '';
			return l.length > fit ? `${l.slice(0, fit - 1)}…` : l;
		});
	}

	function build() {
		plot?.destroy();
		plot = null;
		renderTable();
		const c = colours();
		renderLegend(c);
		const n = opts.labels.length;
		if (!n) return;
		const hasLimit = typeof opts.limit === 'number';
		const xs = opts.labels.map((_, i) => i);
		const data = [xs, opts.values.map((v) => (v == null ? null : v))];
		const bars = opts.mode === 'bars';
		const series = [
			{},
			{
				label: opts.unit,
				stroke: c.brand,
				fill: bars ? c.brand : undefined,
				width: bars ? 0 : 2,
				paths: bars ? uPlot.paths.bars({ size: [0.72, 64], align: 0, radius: [0.15, 0] }) : uPlot.paths.linear(),
				points: { show: !bars, size: 6, fill: c.brand, stroke: c.brand },
				spanGaps: false,
			},
		];
		const width = Math.max(200, plotBox.clientWidth || container.clientWidth || 600);
		const axis = { stroke: c.text, font: c.font, grid: { stroke: c.line, width: 1 }, ticks: { show: false } };
		plot = new uPlot(
			{
				width,
				height: heightFor(width),
				legend: { show: false },
				padding: [12, 20, 0, 0],
				cursor: {
					drag: { x: false, y: false },
					points: { show: false },
					y: false,
				},
				scales: {
					x: { time: false, range: () => [-0.5, n - 0.5] },
					y: {
						range: (u, lo, hi) => {
							const top = Math.max(hi || 0, hasLimit ? opts.limit : 0);
							return [0, top > 0 ? top * 1.12 : 1];
						},
					},
				},
				axes: [
					{ ...axis, grid: { show: false }, splits: xSplits, values: xValues, gap: 6 },
					{ ...axis, values: (u, sp) => sp.map((v) => short.format(v)), size: 48 },
				],
				series,
				hooks: {
					// The limit: a dashed line across the whole plot.
					draw: [
						(u) => {
							if (!hasLimit) return;
							const r = devicePixelRatio || 1;
							const y = Math.round(u.valToPos(opts.limit, 'y', true)) + 0.5;
							const g = u.ctx;
							g.save();
							g.strokeStyle = c.danger;
							g.lineWidth = 1.5 * r;
							g.setLineDash([6 * r, 4 * r]);
							g.beginPath();
							g.moveTo(u.bbox.left, y);
							g.lineTo(u.bbox.left + u.bbox.width, y);
							g.stroke();
							g.restore();
						},
					],
					setCursor: [
						(u) => {
							const i = u.cursor.idx;
							if (i == null || u.cursor.left < 0) return void (tip.hidden = true);
							tip.hidden = false;
							const over = hasLimit && opts.values[i] != null && opts.values[i] > opts.limit;
							mount(tip, h('strong', {}, opts.labels[i]), h('span', {}, fmt(opts.values[i])), over && h('span', { class: 'over' }, 'over the limit'));
							const x = u.valToPos(i, 'x');
							const v = opts.values[i];
							const y = u.valToPos(v == null ? 0 : v, 'y');
							const box = u.over.clientWidth;
							const tw = tip.offsetWidth;
							tip.style.left = `${Math.min(Math.max(0, x - tw / 2), Math.max(0, box - tw))}px`;
							tip.style.top = `${Math.max(0, y - tip.offsetHeight - 10)}px`;
						},
					],
				},
			},
			data,
			plotBox,
		);
		plot.over.append(tip);
		// A tap on a touch screen shows the bucket under the finger.
		plot.over.addEventListener('pointerdown', (e) => {
			const r = plot.over.getBoundingClientRect();
			plot.setCursor({ left: e.clientX - r.left, top: e.clientY - r.top });
		});
	}

	const resize = new ResizeObserver(() => {
		if (!plot) return;
		const w = Math.max(200, plotBox.clientWidth);
		if (Math.abs(w - plot.width) > 1) plot.setSize({ width: w, height: heightFor(w) });
	});
	resize.observe(plotBox);
	const dark = matchMedia('(prefers-color-scheme: dark)');
	const recolour = () => build();
	dark.addEventListener('change', recolour);

	build();

	return {
		element: root,
		update(next) {
			opts = { ...opts, ...next };
			build();
		},
		setMode(mode) {
			opts.mode = mode;
			build();
		},
		destroy() {
			resize.disconnect();
			dark.removeEventListener('change', recolour);
			plot?.destroy();
			plot = null;
			root.remove();
		},
	};
}
