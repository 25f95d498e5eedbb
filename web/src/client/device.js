// device.js - /app/devices/:id, one meter's consumption.
//
// Views: a day of hourly bars (the day picked from a calendar, in the
// meter's own time zone: 23 or 25 bars on daylight-saving days), a week or
// a month of daily bars, and the previous complete hour.  The quick picks
// are seed 002's periods.  A summary compares the shown period with the one
// before it; the CSV download is exactly what the chart shows.  The URL
// carries the view and the date (?view=day&date=2025-03-30&chart=line), so
// a reload, the back button or a shared link shows the same thing.  While
// the shown period includes now, the page refetches when a reading arrives.
import { get, qs } from '../api.js';
import * as live from '../live.js';
import { debounce, empty, errorBox, h, kwh, mount, pageHead, spinner } from '../ui.js';
import { barChart } from './chart.js';
import { absTime, since, addDays, addMonths, fmtDate, isDate, monthEnd, monthStart, parts, sameZoneAsBrowser, todayIn, weekStart } from './time.js';

const VIEWS = [
	['day', 'Day'],
	['week', 'Week'],
	['month', 'Month'],
];

const UNIT_WORD = { hour: 'hour', day: 'day', week: 'week', month: 'month' };

const pct = new Intl.NumberFormat(undefined, { style: 'percent', maximumFractionDigits: 1, signDisplay: 'exceptZero' });
const nf = new Intl.NumberFormat(undefined, { maximumFractionDigits: 3 });

export default async function page(ctx) {
	const { main, params, signal } = ctx;
	const id = params.id;
	mount(main, spinner('Loading the device…'));
	let device;
	try {
		device = await get(`/api/v1/devices/${encodeURIComponent(id)}`, { signal });
	} catch (e) {
		if (e.name === 'AbortError') return;
		if (e.status === 404) {
			mount(
				main,
				pageHead('Device not found'),
				empty('This device is not available', 'It does not exist, or it is not linked to your account.', h('p', {}, h('a', { href: '/app' }, 'Back to my devices'))),
			);
			return;
		}
		mount(main, pageHead('Device'), errorBox(e, () => ctx.navigate(location.pathname + location.search, { replace: true })));
		return;
	}
	const tz = device.timezone;
	const hasLimit = typeof device.max_hourly_kwh === 'number';

	// --- state, from and to the URL ------------------------------------------
	const st = readState(ctx.query, tz);

	function writeUrl(push) {
		const q = { view: st.view };
		if (st.view !== 'hour') q.date = st.view === 'month' ? st.date.slice(0, 7) : st.date;
		if (st.mode === 'line') q.chart = 'line';
		const url = location.pathname + qs(q);
		if (url !== location.pathname + location.search) history[push ? 'pushState' : 'replaceState'](null, '', url);
	}

	// --- the frame ----------------------------------------------------------------
	const lastLine = h('span', { class: 'last-reading' });
	const meta = h(
		'p',
		{ class: 'device-meta muted' },
		device.serial && h('span', {}, `Serial ${device.serial}`),
		h('span', {}, hasLimit ? `Max ${nf.format(device.max_hourly_kwh)} kWh per hour` : 'No hourly limit set'),
		h('span', {}, sameZoneAsBrowser(tz) ? `Times in ${tz}` : `Times in the meter's zone, ${tz}`),
		lastLine,
	);

	const viewButtons = VIEWS.map(([v, label]) => h('button', { type: 'button', 'data-view': v, onclick: () => go({ view: v }) }, label));
	const picks = [
		['Previous hour', { view: 'hour' }],
		['Today', () => ({ view: 'day', date: todayIn(tz) })],
		['This week', () => ({ view: 'week', date: todayIn(tz) })],
		['This month', () => ({ view: 'month', date: monthStart(todayIn(tz)) })],
		['Last month', () => ({ view: 'month', date: addMonths(todayIn(tz), -1) })],
	].map(([label, to]) => {
		const target = () => (typeof to === 'function' ? to() : to);
		return { target, button: h('button', { type: 'button', class: 'pick', onclick: () => go(target()) }, label) };
	});

	const prevBtn = h('button', { type: 'button', class: 'step prev', onclick: () => shift(-1) });
	const nextBtn = h('button', { type: 'button', class: 'step next', onclick: () => shift(1) });
	const dateId = `day-${Math.random().toString(36).slice(2, 7)}`;
	const dateLabel = h('label', { for: dateId });
	const dateInput = h('input', { id: dateId, type: 'date', required: true });
	dateInput.addEventListener('change', () => {
		const v = st.view === 'month' ? (dateInput.value ? `${dateInput.value}-01` : '') : dateInput.value;
		if (isDate(v)) go({ date: v });
	});
	const stepper = h('div', { class: 'stepper' }, prevBtn, h('div', { class: 'date-field' }, dateLabel, dateInput), nextBtn);

	const modeBtn = h('button', { type: 'button', class: 'mode', 'aria-pressed': 'false', onclick: () => setMode(st.mode === 'line' ? 'bars' : 'line') }, 'Line chart');
	const csvBtn = h('button', { type: 'button', class: 'csv', onclick: downloadCsv }, 'Download CSV');

	const heading = h('h2', { class: 'period-title', id: 'period-title' });
	const summary = h('div', { class: 'summary', 'aria-live': 'polite' });
	const chartBox = h('div', { class: 'chart-box' });
	const chartTitle = h('h3', { class: 'chart-title' });

	mount(
		main,
		h('p', { class: 'crumb' }, h('a', { href: '/app' }, '← My devices')),
		pageHead(device.name),
		meta,
		h(
			'section',
			{ class: 'card controls', 'aria-label': 'What to show' },
			h('div', { class: 'control-row' }, h('div', { class: 'segmented', role: 'group', 'aria-label': 'View' }, viewButtons), stepper),
			h('div', { class: 'picks', role: 'group', 'aria-label': 'Quick periods' }, h('span', { class: 'muted picks-label', 'aria-hidden': 'true' }, 'Quick:'), picks.map((p) => p.button)),
		),
		h(
			'section',
			{ class: 'card reading-card', 'aria-labelledby': 'period-title' },
			heading,
			summary,
			h('div', { class: 'chart-head' }, chartTitle, h('div', { class: 'actions' }, modeBtn, csvBtn)),
			chartBox,
		),
	);

	// --- behaviour -------------------------------------------------------------------
	let chart = null;
	let shown = null; // {current, previous, range}
	let loadSeq = 0;
	let loadAbort = null;

	function go(next) {
		Object.assign(st, next);
		if (st.view === 'month') st.date = monthStart(st.date);
		writeUrl(true);
		load();
	}

	function shift(n) {
		if (st.view === 'day') go({ date: addDays(st.date, n) });
		else if (st.view === 'week') go({ date: addDays(weekStart(st.date), 7 * n) });
		else if (st.view === 'month') go({ date: addMonths(st.date, n) });
	}

	function setMode(mode) {
		st.mode = mode;
		modeBtn.setAttribute('aria-pressed', String(mode === 'line'));
		writeUrl(false);
		chart?.setMode(mode);
	}

	function syncControls() {
		const today = todayIn(tz);
		for (const b of viewButtons) b.setAttribute('aria-pressed', String(b.dataset.view === st.view));
		const r = rangeOf(st, tz);
		for (const { target, button } of picks) {
			const t = target();
			const same = t.view === st.view && (t.view === 'hour' || rangeOf({ ...st, ...t }, tz).from === r.from);
			button.setAttribute('aria-pressed', String(same));
		}
		stepper.hidden = st.view === 'hour';
		const word = UNIT_WORD[st.view];
		prevBtn.textContent = `‹ Previous ${word}`;
		nextBtn.textContent = `Next ${word} ›`;
		if (st.view === 'month') {
			dateLabel.textContent = 'Month';
			dateInput.type = 'month';
			dateInput.max = today.slice(0, 7);
			dateInput.value = st.date.slice(0, 7);
		} else {
			dateLabel.textContent = st.view === 'week' ? 'Week of' : 'Day';
			dateInput.type = 'date';
			dateInput.max = today;
			dateInput.value = st.view === 'week' ? weekStart(st.date) : st.date;
		}
		nextBtn.disabled = st.view !== 'hour' && r.nextFrom > today;
		modeBtn.setAttribute('aria-pressed', String(st.mode === 'line'));
	}

	async function load({ quiet = false } = {}) {
		const mine = ++loadSeq;
		loadAbort?.abort();
		const ac = (loadAbort = new AbortController());
		syncControls();
		const r = rangeOf(st, tz);
		heading.textContent = r.title;
		chartTitle.textContent = r.step === 'hour' ? 'kWh per hour' : 'kWh per day';
		if (!quiet) {
			if (chart) chartBox.classList.add('stale');
			else mount(chartBox, spinner('Loading consumption…'));
		}
		try {
			const path = `/api/v1/devices/${encodeURIComponent(device.id)}/consumption`;
			const current = await get(path + qs(r.query), { signal: ac.signal });
			const pq = r.view === 'hour' ? { from: new Date(new Date(current.from).getTime() - 3600e3).toISOString(), to: current.from, step: 'hour' } : r.prevQuery;
			const previous = await get(path + qs(pq), { signal: ac.signal });
			if (mine !== loadSeq) return;
			if (r.view === 'hour') heading.textContent = `The previous hour, ${parts(current.from).hm}–${parts(current.to).hm}`;
			shown = { current, previous, range: r };
			draw();
		} catch (e) {
			if (e.name === 'AbortError' || mine !== loadSeq) return;
			if (chart) chart.destroy();
			chart = null;
			shown = null;
			mount(summary);
			csvBtn.disabled = modeBtn.disabled = true;
			mount(chartBox, errorBox(e, () => load()));
		} finally {
			if (mine === loadSeq) chartBox.classList.remove('stale');
		}
	}

	function draw() {
		const { current, previous, range } = shown;
		showLast(current.last_reading_at);
		const buckets = current.buckets;
		const values = buckets.map((b) => b.kwh);
		const hasData = values.some((v) => v != null);
		mount(summary, summaryOf(current, previous, range, hasData));
		csvBtn.disabled = modeBtn.disabled = !hasData;
		if (!hasData) {
			chart?.destroy();
			chart = null;
			mount(chartBox, emptyState(range, current));
			return;
		}
		const opts = {
			labels: labelsOf(buckets, range.step, range.view),
			values,
			unit: 'kWh',
			mode: st.mode,
			limit: range.step === 'hour' && hasLimit ? device.max_hourly_kwh : null,
			title: `${range.step === 'hour' ? 'kWh per hour' : 'kWh per day'}, ${range.title}`,
			xTitle: range.step === 'hour' ? 'Hour' : 'Day',
		};
		if (chart) chart.update(opts);
		else {
			chartBox.replaceChildren();
			chart = barChart(chartBox, opts);
		}
	}

	function showLast(at) {
		if (!at) return mount(lastLine, 'No reading received yet');
		mount(lastLine, 'Last reading ', h('time', { datetime: at, title: absTime(at, tz) }, since(at, tz)));
	}

	function emptyState(range, current) {
		const today = todayIn(tz);
		if (!current.last_reading_at)
			return empty(
				'No readings yet',
				'This meter has not sent any readings yet. Once it is connected and reporting, its consumption appears here within seconds of each reading.',
			);
		if (range.from > today) return empty('This is in the future', `${range.title} has not happened yet, so there is nothing to show. Pick an earlier ${UNIT_WORD[range.view]}.`);
		const last = absTime(current.last_reading_at, tz);
		if (range.includesNow) {
			const now = { day: 'today', week: 'this week', month: 'this month' }[range.view];
			return empty(
				`No readings yet ${now}`,
				`Nothing has arrived from this meter ${now} so far. Its last reading arrived ${since(current.last_reading_at, tz)} (${last}); new readings show up here as soon as they arrive.`,
			);
		}
		return empty('No readings for this period', `The meter sent no readings for ${range.title}. Its last reading arrived ${last}.`);
	}

	function downloadCsv() {
		if (!shown) return;
		const { current, range } = shown;
		const rows = ['start,kwh', ...current.buckets.map((b) => `${b.start},${b.kwh == null ? '' : b.kwh}`)];
		const blob = new Blob([rows.join('\n') + '\n'], { type: 'text/csv;charset=utf-8' });
		const base = (device.serial || device.name).replace(/[^\w.-]+/g, '_').replace(/^_+|_+$/g, '') || 'device';
		const a = h('a', { href: URL.createObjectURL(blob), download: `${base}-${parts(current.from).date || range.from}-${range.step}.csv`, hidden: true });
		document.body.append(a);
		a.click();
		a.remove();
		setTimeout(() => URL.revokeObjectURL(a.href), 10000);
	}

	// --- live -----------------------------------------------------------------
	const refetch = debounce(() => {
		if (shown?.range.includesNow || st.view === 'hour') load({ quiet: true });
	}, 300);
	live.on('reading', (ev) => (ev.device_id === device.id || !ev.device_id || ev.many) && refetch(), signal);
	live.on('resync', () => load({ quiet: true }), signal);
	const tick = setInterval(() => shown && showLast(shown.current.last_reading_at), 30000);
	signal.addEventListener('abort', () => clearInterval(tick), { once: true });
	signal.addEventListener(
		'abort',
		() => {
			loadAbort?.abort();
			chart?.destroy();
		},
		{ once: true },
	);

	// A bare /app/devices/ID means today: keep it so, so a bookmark stays "today".
	if (ctx.query.toString()) writeUrl(false);
	await load();
}

// The view and date from the query; anything missing or odd means today.
function readState(q, tz) {
	const today = todayIn(tz);
	let view = q.get('view');
	if (!['day', 'week', 'month', 'hour'].includes(view)) view = 'day';
	let date = q.get('date') || '';
	if (/^\d{4}-\d{2}$/.test(date)) date += '-01';
	if (!isDate(date)) date = today;
	if (view === 'month') date = monthStart(date);
	return { view, date, mode: q.get('chart') === 'line' ? 'line' : 'bars' };
}

// What to ask the API for the state, and for the period before it.
function rangeOf(st, tz) {
	const today = todayIn(tz);
	if (st.view === 'hour') return { view: 'hour', step: 'hour', from: today, to: today, nextFrom: today, query: { period: 'prev-hour', step: 'hour' }, title: 'The previous hour', includesNow: false };
	let from, to, nextFrom, prevFrom, prevTo, title;
	if (st.view === 'day') {
		from = to = st.date;
		nextFrom = addDays(from, 1);
		prevFrom = prevTo = addDays(from, -1);
		title = from === today ? `Today, ${fmtDate(from, { day: 'numeric', month: 'long', year: 'numeric' })}` : fmtDate(from);
	} else if (st.view === 'week') {
		from = weekStart(st.date);
		to = addDays(from, 6);
		nextFrom = addDays(from, 7);
		prevFrom = addDays(from, -7);
		prevTo = addDays(from, -1);
		title = `Week of ${fmtDate(from, { day: 'numeric', month: 'long', year: 'numeric' })}`;
	} else {
		from = monthStart(st.date);
		to = monthEnd(from);
		nextFrom = addMonths(from, 1);
		prevFrom = addMonths(from, -1);
		prevTo = monthEnd(prevFrom);
		title = fmtDate(from, { month: 'long', year: 'numeric' });
	}
	const step = st.view === 'day' ? 'hour' : 'day';
	return {
		view: st.view,
		step,
		from,
		to,
		nextFrom,
		title,
		includesNow: from <= today && today <= to,
		query: { from, to, step },
		prevQuery: { from: prevFrom, to: prevTo, step },
	};
}

// Bar labels: the local hour as the API wrote it ('02:00'); when an hour
// repeats (the night clocks go back) both get their UTC offset.
function labelsOf(buckets, step, view) {
	const p = buckets.map((b) => parts(b.start));
	if (step === 'hour') {
		const seen = new Map();
		for (const x of p) seen.set(x.hm, (seen.get(x.hm) || 0) + 1);
		return p.map((x) => (seen.get(x.hm) > 1 ? `${x.hm} (${x.offset})` : x.hm));
	}
	return p.map((x) => fmtDate(x.date, view === 'week' ? { weekday: 'short', day: 'numeric', month: 'short' } : { day: 'numeric', month: 'short' }));
}

function sum(buckets) {
	let t = 0;
	let any = false;
	for (const b of buckets)
		if (b.kwh != null) {
			t += b.kwh;
			any = true;
		}
	return any ? t : null;
}

// Total, comparison with the period before, and a few facts.
function summaryOf(current, previous, range, hasData) {
	const word = UNIT_WORD[range.view];
	const total = hasData ? current.total_kwh : null;
	// While the period is running, compare with the same stretch of the
	// previous one (today so far vs. yesterday up to the same hour).
	const running = current.buckets.findIndex((b) => b.complete === false);
	const partial = running >= 0 && range.includesNow;
	const prevBuckets = partial ? previous.buckets.slice(0, running + 1) : previous.buckets;
	const prevTotal = sum(prevBuckets);
	const prevName = range.view === 'day' && range.includesNow ? 'yesterday' : `the previous ${word}`;
	const prevLabel = partial ? `${prevName} up to the same ${range.step === 'hour' ? 'hour' : 'day'}` : prevName;

	let comparison;
	if (total == null && prevTotal == null) comparison = `No data for this ${word} or ${prevName}.`;
	else if (prevTotal == null) comparison = `No readings for ${prevName} to compare with.`;
	else if (total == null) comparison = `${cap(prevName)} used ${kwh(prevTotal)}.`;
	else {
		const diff = total - prevTotal;
		const rel = prevTotal > 0 ? ` (${pct.format(diff / prevTotal)})` : '';
		if (Math.abs(diff) < 0.0005) comparison = `The same as ${prevLabel} (${kwh(prevTotal)}).`;
		else comparison = `${kwh(Math.abs(diff))}${rel} ${diff > 0 ? 'more' : 'less'} than ${prevLabel} (${kwh(prevTotal)}).`;
	}
	const diffClass = total != null && prevTotal != null ? (total - prevTotal > 0.0005 ? 'up' : total - prevTotal < -0.0005 ? 'down' : 'same') : 'none';

	const facts = [];
	if (hasData) {
		let peak = -1;
		current.buckets.forEach((b, i) => b.kwh != null && (peak < 0 || b.kwh > current.buckets[peak].kwh) && (peak = i));
		const at = parts(current.buckets[peak].start);
		facts.push(['Peak', `${kwh(current.buckets[peak].kwh)} ${range.step === 'hour' ? `at ${at.hm}` : `on ${fmtDate(at.date, { weekday: 'short', day: 'numeric', month: 'short' })}`}`]);
		const lim = current.device?.max_hourly_kwh;
		if (range.step === 'hour' && typeof lim === 'number') {
			const over = current.buckets.filter((b) => b.kwh != null && b.kwh > lim).length;
			facts.push(['Over the limit', over ? `${over} ${over === 1 ? 'hour' : 'hours'}` : 'never']);
		}
		if (range.step === 'day') {
			const days = current.buckets.filter((b) => b.kwh != null).length;
			facts.push(['Daily average', kwh(current.total_kwh / days)]);
		}
	}

	return [
		h(
			'div',
			{ class: 'total' },
			h('span', { class: 'total-label' }, partial ? 'Total so far' : 'Total'),
			h('strong', { class: `summary-total${total == null ? ' none' : ''}`, 'data-value': total == null ? '' : String(total) }, total == null ? 'No data' : kwh(total)),
		),
		h('p', { class: `comparison ${diffClass}`, 'data-previous': prevTotal == null ? '' : String(prevTotal) }, (diffClass === 'up' || diffClass === 'down') && h('span', { class: 'arrow', 'aria-hidden': 'true' }, diffClass === 'up' ? '▲ ' : '▼ '), comparison),
		facts.length > 0 && h('dl', { class: 'stats inline' }, facts.map(([k, v]) => h('div', { class: 'fact' }, h('dt', {}, k), h('dd', {}, v)))),
	];
}

function cap(s) {
	return s[0].toUpperCase() + s.slice(1);
}
