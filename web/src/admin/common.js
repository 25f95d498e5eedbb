// common.js - pieces the admin pages share: a search box that keeps its
// text in the URL, a cursor pager with "Previous", a loader that shows a
// spinner and then the data or the error (with a retry), a picker that
// searches users or devices to assign, and small labels (badges, owners).
import { ApiError } from '../api.js';
import { debounce, errorBox, h, mount, spinner } from '../ui.js';

// Sets (or removes) query parameters in the address bar without
// re-rendering the page: the URL stays shareable and reload-proof.
export function setQuery(params) {
	const u = new URL(location.href);
	for (const [k, v] of Object.entries(params)) {
		if (v == null || v === '') u.searchParams.delete(k);
		else u.searchParams.set(k, v);
	}
	history.replaceState(history.state, '', u.pathname + u.search);
}

// <input type=search> with a visible label; onSearch(text) runs 250 ms
// after the last keystroke (and at once on Enter).
export function searchBox({ label, placeholder, value = '', onSearch, id = 'search' }) {
	const input = h('input', { type: 'search', id, name: 'q', value, placeholder, autocomplete: 'off', spellcheck: 'false' });
	let last = value;
	const fire = () => {
		const q = input.value.trim();
		if (q === last) return;
		last = q;
		onSearch(q);
	};
	const later = debounce(fire, 250);
	input.addEventListener('input', later);
	input.addEventListener('keydown', (e) => {
		if (e.key === 'Enter') {
			e.preventDefault();
			fire();
		}
	});
	return h('div', { class: 'field search', role: 'search' }, h('label', { for: id }, label), input);
}

// Paging with opaque cursors: the cursors of the pages before this one are
// kept on a stack, so "Previous" goes back exactly.  load(cursor) fetches
// a page and returns its next_cursor.
export function pager(load, what = 'results') {
	const state = { cursor: null, stack: [], next: null };
	const prev = h('button', { type: 'button', onclick: () => go(state.stack.pop() ?? null, false) }, '← Previous');
	const next = h('button', { type: 'button', onclick: () => go(state.next, true) }, 'Next →');
	const label = h('span', { class: 'pager-label muted', 'aria-live': 'polite' });
	const el = h('nav', { class: 'pager', 'aria-label': `Pages of ${what}` }, label, prev, next);

	function paint() {
		prev.disabled = state.stack.length === 0;
		next.disabled = !state.next;
		label.textContent = `Page ${state.stack.length + 1}`;
		el.hidden = state.stack.length === 0 && !state.next;
	}

	async function go(cursor, forward) {
		if (forward) state.stack.push(state.cursor);
		state.cursor = cursor;
		prev.disabled = next.disabled = true;
		try {
			state.next = (await load(cursor)) ?? null;
		} finally {
			paint();
		}
	}

	return {
		el,
		// Back to the first page (after a new search).
		reset: () => {
			state.stack = [];
			return go(null, false);
		},
		reload: () => go(state.cursor, false),
	};
}

// Fills el with a spinner, then with what render(data) returns, or with
// the error and a "Try again" button.  Aborts (leaving the page) are quiet.
// When el already shows data, it stays (dimmed, aria-busy) until the new
// data arrives: no flicker while typing a search or turning a page.
export async function loadInto(el, fetcher, render) {
	if (el.dataset.loaded) el.setAttribute('aria-busy', 'true');
	else mount(el, spinner());
	try {
		const data = await fetcher();
		mount(el, render(data));
		el.dataset.loaded = '1';
		el.removeAttribute('aria-busy');
		return data;
	} catch (e) {
		if (e.name === 'AbortError') return undefined;
		if (e.status === 401) return undefined;
		el.removeAttribute('aria-busy');
		delete el.dataset.loaded;
		mount(el, errorBox(e, () => loadInto(el, fetcher, render)));
		return undefined;
	}
}

// A message for an action outside a form (delete, reset, revoke): shown
// in a role=alert paragraph the caller placed.
export function failInto(el, e) {
	if (e?.name === 'AbortError') return;
	el.textContent = e instanceof ApiError || e?.message ? e.message : String(e);
}

export function roleBadge(u) {
	return h('span', { class: `badge ${u.role === 'admin' ? 'admin' : ''}` }, u.role === 'admin' ? 'Admin' : 'Client');
}

export function statusBadge(u) {
	return u.disabled ? h('span', { class: 'badge off' }, 'Disabled') : h('span', { class: 'badge ok' }, 'Active');
}

export function ownersList(owners) {
	if (!owners || owners.length === 0) return h('span', { class: 'muted' }, 'No owner');
	return h(
		'ul',
		{ class: 'inline-list' },
		owners.map((o) => h('li', {}, h('a', { href: `/admin/users/${o.id}`, title: o.email }, o.name || o.email))),
	);
}

// "12.5 kWh/h" for a device's hourly limit.
export function limitText(v) {
	return v == null ? '—' : `${new Intl.NumberFormat(undefined, { maximumFractionDigits: 3 }).format(v)} kWh/h`;
}

// A search-and-assign widget: type to search (search(q) → items), each
// result has an "Assign" button (or says it is assigned already).
//   picker({ label, placeholder, search, describe: item => [title, sub],
//            taken: item => bool, onPick: async item => void })
export function picker({ id, label, placeholder, search, describe, taken, onPick, signal }) {
	const results = h('ul', { class: 'pick-list', 'aria-label': 'Search results' });
	const status = h('p', { class: 'muted pick-status', role: 'status' });
	const error = h('p', { class: 'form-error', role: 'alert' });
	let seq = 0;
	async function run(q) {
		const mine = ++seq;
		status.textContent = 'Searching…';
		error.textContent = '';
		try {
			const items = await search(q, signal);
			if (mine !== seq) return;
			status.textContent = items.length ? '' : q ? `Nothing matches “${q}”.` : 'Nothing to assign yet.';
			mount(
				results,
				items.map((it) => {
					const [title, sub] = describe(it);
					const isTaken = taken(it);
					const btn = h(
						'button',
						{
							type: 'button',
							class: isTaken ? '' : 'primary',
							disabled: isTaken,
							'aria-label': isTaken ? `${title}: already assigned` : `Assign ${title}`,
							onclick: async () => {
								btn.disabled = true;
								error.textContent = '';
								try {
									await onPick(it);
								} catch (e) {
									failInto(error, e);
									btn.disabled = false;
								}
							},
						},
						isTaken ? 'Assigned' : 'Assign',
					);
					return h('li', {}, h('div', { class: 'pick-text' }, h('strong', {}, title), sub && h('small', { class: 'muted' }, sub)), btn);
				}),
			);
		} catch (e) {
			if (e.name === 'AbortError' || mine !== seq) return;
			status.textContent = '';
			failInto(error, e);
		}
	}
	const box = searchBox({ id, label, placeholder, onSearch: run });
	const input = box.querySelector('input');
	let started = false;
	input.addEventListener('focus', () => {
		if (!started) {
			started = true;
			run(input.value.trim());
		}
	});
	return {
		el: h('div', { class: 'picker' }, box, error, status, results),
		refresh: () => started && run(input.value.trim()),
		open: () => {
			started = true;
			return run(input.value.trim());
		},
	};
}

// Makes a table (ui.js table()) stack into one card per row on a phone:
// each cell is labelled with its column's header (data-label).
export function stacked(wrap) {
	const t = wrap.querySelector('table');
	const heads = [...t.tHead.rows[0].cells].map((c) => c.textContent.trim());
	t.classList.add('stacked');
	for (const r of t.tBodies[0].rows) [...r.cells].forEach((c, i) => c.setAttribute('data-label', heads[i] || ''));
	return wrap;
}

// A panel that opens below the page head (the "New …" forms).
export function panel(title, ...body) {
	return h('section', { class: 'card panel', 'aria-label': title }, h('h2', {}, title), ...body);
}

// Lists the changes between two objects: [{key, before, after}].
export function changes(before, after) {
	const out = [];
	const keys = new Set([...Object.keys(before || {}), ...Object.keys(after || {})]);
	for (const k of keys) {
		const a = before ? before[k] : undefined;
		const b = after ? after[k] : undefined;
		if (JSON.stringify(a) !== JSON.stringify(b)) out.push({ key: k, before: a, after: b });
	}
	return out;
}

export function show(v) {
	if (v === undefined) return '—';
	if (v === null) return 'none';
	if (v === '') return '(empty)';
	if (typeof v === 'object') return JSON.stringify(v);
	return String(v);
}
