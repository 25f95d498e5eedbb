// period.js - the period the region pages show (seed 002's periods, a
// month, or custom dates), kept in the URL so a view can be shared:
//   ?period=current-week | current-month | prev-month | current-day
//   ?month=2025-02
//   ?from=2025-02-01&to=2025-02-14        (dates, both included)
// Periods are taken in the browser's time zone (the API's tz parameter).
// periodView() is the frame of a page that shows one period.
import * as live from '../live.js';
import { debounce, errorBox, h, mount, spinner } from '../ui.js';
import { browserZone } from './devform.js';

export const PERIODS = [
	['current-day', 'Today'],
	['current-week', 'This week'],
	['current-month', 'This month'],
	['prev-month', 'Last month'],
];
const NAMES = Object.fromEntries(PERIODS);

const MONTH = /^\d{4}-(0[1-9]|1[0-2])$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;

export function readPeriod(query) {
	const m = query.get('month');
	if (m && MONTH.test(m)) return { kind: 'month', month: m };
	const from = query.get('from');
	const to = query.get('to');
	if (from && to && DATE.test(from) && DATE.test(to)) return from <= to ? { kind: 'range', from, to } : { kind: 'range', from: to, to: from };
	const p = query.get('period');
	if (p && NAMES[p]) return { kind: 'period', period: p };
	return { kind: 'period', period: 'current-month' };
}

// The URL query of a period: "period=current-week".
export function periodQuery(p) {
	const u = new URLSearchParams();
	if (p.kind === 'month') u.set('month', p.month);
	else if (p.kind === 'range') {
		u.set('from', p.from);
		u.set('to', p.to);
	} else u.set('period', p.period);
	return u.toString();
}

function lastDay(month) {
	const [y, m] = month.split('-').map(Number);
	return `${month}-${String(new Date(Date.UTC(y, m, 0)).getUTCDate()).padStart(2, '0')}`;
}

// The API parameters of a period.
export function apiParams(p) {
	const tz = browserZone();
	if (p.kind === 'month') return { from: `${p.month}-01`, to: lastDay(p.month), tz };
	if (p.kind === 'range') return { from: p.from, to: p.to, tz };
	return { period: p.period, tz };
}

function thisMonth(offset = 0) {
	const d = new Date();
	const x = new Date(d.getFullYear(), d.getMonth() + offset, 1);
	return `${x.getFullYear()}-${String(x.getMonth() + 1).padStart(2, '0')}`;
}

const utc = (s) => new Date(`${s}T12:00:00Z`);
const monthFmt = new Intl.DateTimeFormat(undefined, { month: 'long', year: 'numeric', timeZone: 'UTC' });
const dayFmt = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short', year: 'numeric', timeZone: 'UTC' });

function span(from, to) {
	if (!from || !to) return '';
	if (from === to) return dayFmt.format(utc(from));
	if (from.endsWith('-01') && to === lastDay(from.slice(0, 7))) return monthFmt.format(utc(from));
	return dayFmt.formatRange ? dayFmt.formatRange(utc(from), utc(to)) : `${dayFmt.format(utc(from))} – ${dayFmt.format(utc(to))}`;
}

// "October 2026", "This week (17–23 Nov 2026)"; from/to are the dates the
// API answered with (they are exact even for a named period).
export function periodLabel(p, from, to) {
	if (p.kind === 'month') return monthFmt.format(utc(`${p.month}-01`));
	if (p.kind === 'range') return span(p.from, p.to);
	const s = span(from, to);
	return s ? `${NAMES[p.period]} (${s})` : NAMES[p.period];
}

// The label inside a sentence: "No consumption recorded for this week (…)".
export function periodPhrase(p, from, to) {
	const l = periodLabel(p, from, to);
	return p.kind === 'period' ? l.charAt(0).toLowerCase() + l.slice(1) : l;
}

// Does the period reach today (so new readings change it)?
export function isCurrent(p) {
	if (p.kind === 'period') return p.period !== 'prev-month';
	const d = new Date();
	const today = `${thisMonth()}-${String(d.getDate()).padStart(2, '0')}`;
	if (p.kind === 'month') return p.month === thisMonth();
	return p.to >= today;
}

// The period picker.  onChange(period) runs when the user picks another.
export function periodControl(p, onChange) {
	const buttons = PERIODS.map(([value, label]) =>
		h('button', { type: 'button', 'aria-pressed': String(p.kind === 'period' && p.period === value), onclick: () => onChange({ kind: 'period', period: value }) }, label),
	);
	const monthValue = p.kind === 'month' ? p.month : p.kind === 'period' && p.period === 'current-month' ? thisMonth() : p.kind === 'period' && p.period === 'prev-month' ? thisMonth(-1) : '';
	const month = h('input', {
		type: 'month',
		id: 'period-month',
		name: 'month',
		value: monthValue,
		max: thisMonth(),
		class: p.kind === 'month' ? 'active' : '',
	});
	month.addEventListener('change', () => MONTH.test(month.value) && onChange({ kind: 'month', month: month.value }));
	const from = h('input', { type: 'date', id: 'period-from', name: 'from', value: p.kind === 'range' ? p.from : '', required: true });
	const to = h('input', { type: 'date', id: 'period-to', name: 'to', value: p.kind === 'range' ? p.to : '', required: true });
	const err = h('small', { class: 'field-error', role: 'alert' });
	const custom = h(
		'details',
		{ class: 'custom-range', open: p.kind === 'range' },
		h('summary', {}, 'Custom dates'),
		h(
			'form',
			{
				class: 'range-form',
				onsubmit: (e) => {
					e.preventDefault();
					if (!from.value || !to.value) return void (err.textContent = 'Pick both dates.');
					if (from.value > to.value) return void (err.textContent = 'The first date must not be after the last.');
					err.textContent = '';
					onChange({ kind: 'range', from: from.value, to: to.value });
				},
			},
			h('div', { class: 'field' }, h('label', { for: 'period-from' }, 'From'), from),
			h('div', { class: 'field' }, h('label', { for: 'period-to' }, 'To (included)'), to),
			h('button', { type: 'submit', class: 'primary' }, 'Show'),
			err,
		),
	);
	return h(
		'div',
		{ class: 'period-bar', role: 'group', 'aria-label': 'Period' },
		h('div', { class: 'seg', role: 'group', 'aria-label': 'Periods' }, buttons),
		h('div', { class: 'field month-field' }, h('label', { for: 'period-month' }, 'Month'), month),
		custom,
	);
}

// The frame of a page that shows one period (the region pages): the
// picker in view.controls (a pick goes into the URL, runs changed(period)
// and reloads) and view.body, which view.load() fills with what
// render(data, period) draws from fetchData(period): a spinner the first
// time, dimmed while it reloads, the error with a retry (or failed(e),
// when that answers something).  render() answers the chart it drew, if
// any, destroyed before the next render.  New readings reload quietly (at
// most every 3 s) when the period reaches today, and so does a reconnect,
// after resynced().
export function periodView(ctx, { fetchData, render, failed, changed, resynced }) {
	let chart = null;
	let seq = 0;
	const view = { period: readPeriod(ctx.query), controls: h('div'), body: h('div', { class: 'dash-body' }), load, show };
	const { body } = view;

	function paintControls() {
		mount(
			view.controls,
			periodControl(view.period, (p) => {
				view.period = p;
				history.pushState(null, '', `${location.pathname}?${periodQuery(p)}`);
				changed?.(p);
				paintControls();
				load();
			}),
		);
	}

	function dropChart() {
		chart?.destroy();
		chart = null;
	}

	// Draws data (again, for region.js's "Show all"), with a new chart.
	function show(data) {
		dropChart();
		chart = render(data, view.period) ?? null;
	}

	async function load({ quiet = false } = {}) {
		const mine = ++seq;
		if (!quiet) {
			if (body.childElementCount) body.setAttribute('aria-busy', 'true');
			else mount(body, spinner());
		}
		try {
			const data = await fetchData(view.period);
			if (mine !== seq) return;
			show(data);
		} catch (e) {
			if (e.name === 'AbortError' || e.status === 401 || mine !== seq) return;
			dropChart();
			mount(body, failed?.(e) || errorBox(e, () => load()));
		} finally {
			if (mine === seq) body.removeAttribute('aria-busy');
		}
	}

	paintControls();
	const refresh = debounce(() => isCurrent(view.period) && load({ quiet: true }), 3000);
	live.on('reading', refresh, ctx.signal);
	live.on(
		'resync',
		() => {
			resynced?.();
			load({ quiet: true });
		},
		ctx.signal,
	);
	ctx.signal.addEventListener('abort', () => chart?.destroy(), { once: true });
	return view;
}
