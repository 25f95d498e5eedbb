// common.js - pieces the admin pages share: a search box that keeps its
// text in the URL, a cursor pager with "Previous", the frame of a list
// page (search, paging, a "New …" form), the first fetch of a detail page,
// a loader that shows a spinner and then the data or the error (with a
// retry), a form that saves what changed, a button that asks before it
// acts, a picker that searches users or devices to assign, the card that
// maps a user to devices or a device to users, and small labels (badges,
// owners).
import { ApiError, del, get, post, qs } from '../api.js';
import { confirm, debounce, errorBox, h, mount, pageHead, showErrors, spinner, table, toast } from '../ui.js';

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

// The first fetch of a detail page (one user, one device): a spinner
// below back(), then the answer of GET path.  When it fails, the page
// shows gone ([heading, text]) for a status in missing, else the error
// with a retry, and this answers undefined.
export async function fetchDetail(ctx, { path, back, title, missing = [404], gone: [heading, text] }) {
	mount(ctx.main, back(), spinner());
	try {
		return await get(path, { signal: ctx.signal });
	} catch (e) {
		if (e.name === 'AbortError' || e.status === 401) throw e;
		document.title = `${title} · kilowatt`;
		if (missing.includes(e.status)) mount(ctx.main, back(), h('div', { class: 'empty' }, h('h1', { tabindex: '-1' }, heading), h('p', {}, text)));
		else mount(ctx.main, back(), errorBox(e, () => ctx.navigate(location.pathname, { replace: true })));
		return undefined;
	}
}

// A "+ New …" button that opens form(close) in slot, or closes it again.
export function opener(label, slot, form) {
	const btn = h('button', { class: 'primary', 'aria-expanded': 'false', onclick: () => toggle() }, label);
	function toggle(open = slot.childElementCount === 0) {
		btn.setAttribute('aria-expanded', String(open));
		if (!open) return mount(slot);
		mount(slot, form(() => toggle(false)));
		slot.querySelector('input')?.focus();
	}
	return btn;
}

// A list page (users, devices): a "New …" button opening form(close,
// reload) below the head, a search box kept in the URL (?q=), and the
// list, 25 a page: GET path?q=&limit=&cursor= answers {[key]: items,
// next_cursor}, drawn by render(items, q).  countText(items, q), when
// given, fills a status line next to the search box.
export async function listPage(ctx, { title, newLabel, form, path, key, searchLabel, placeholder, render, countText }) {
	let q = ctx.query.get('q') || '';
	const list = h('div', { class: 'list' });
	const count = countText && h('p', { class: 'muted list-count', role: 'status' });
	const formSlot = h('div');

	const pages = pager(async (cursor) => {
		const data = await loadInto(
			list,
			() => get(`${path}${qs({ q, limit: 25, cursor })}`, { signal: ctx.signal }),
			(d) => render(d[key], q),
		);
		if (data && count) count.textContent = countText(data[key], q);
		return data?.next_cursor;
	}, key);

	mount(
		ctx.main,
		pageHead(title, opener(newLabel, formSlot, (close) => form(close, () => pages.reload()))),
		formSlot,
		h(
			'div',
			{ class: 'toolbar' },
			searchBox({
				label: searchLabel,
				placeholder,
				value: q,
				onSearch: (text) => {
					q = text;
					setQuery({ q });
					pages.reset();
				},
			}),
			count,
		),
		list,
		pages.el,
	);
	await pages.reset();
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

// A form that saves what changed, with a "Save changes" button: changes()
// answers the fields to send (or { error } for ui.js showErrors()), and
// save(body) sends them.  A status line says "Nothing changed.", "Saving…"
// or "Saved."; an error from the API is shown at its field.
export function saveForm(fields, { changes, save }) {
	const status = h('span', { class: 'muted save-status', role: 'status' });
	const submit = h('button', { class: 'primary', type: 'submit' }, 'Save changes');
	const form = h('form', { novalidate: true }, fields, h('div', { class: 'actions' }, submit, status));
	form.addEventListener('input', () => (status.textContent = ''));
	form.addEventListener('submit', async (e) => {
		e.preventDefault();
		const body = changes();
		if (body.error) return showErrors(form, body.error);
		showErrors(form, null);
		if (Object.keys(body).length === 0) {
			status.textContent = 'Nothing changed.';
			return;
		}
		submit.disabled = true;
		status.textContent = 'Saving…';
		try {
			await save(body);
			status.textContent = 'Saved.';
		} catch (err) {
			if (err.name === 'AbortError') return;
			status.textContent = '';
			showErrors(form, err);
		} finally {
			submit.disabled = false;
		}
	});
	return form;
}

// A button that asks first (ui.js confirm(...ask())), then runs act().
// Meanwhile it is disabled; a failure is shown in error (a role=alert
// paragraph the caller placed) and enables it again, and so does a
// success when `again` (for an action that leaves the button in place).
export function confirmButton(label, attrs, { ask, act, error, again = false }) {
	const btn = h(
		'button',
		{
			type: 'button',
			...attrs,
			onclick: async () => {
				if (!(await confirm(...ask()))) return;
				btn.disabled = true;
				error.textContent = '';
				try {
					await act();
					if (again) btn.disabled = false;
				} catch (e) {
					failInto(error, e);
					btn.disabled = false;
				}
			},
		},
		label,
	);
	return btn;
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

// The card of a user's or a device's page that lists what it is mapped to
// (the other side), with a "Remove" button each, and a picker to assign
// more.  Parameters:
//   title, headingId, className, note: the card's heading, its id, class
//     and an optional line below the heading
//   pick: the picker's id, label, placeholder, search and describe
//   link(item): the POST /api/v1/mappings body that maps a picked item
//   rows(): the other side's objects, each with its .mapping (if known)
//   none(), caption(), columns: what shows when there are none, or the
//     table's caption and columns (the "Remove" column is added)
//   assigned(item), confirmText(row), removed(row): the toast after an
//     assignment, the question before a removal and the toast after it
// Answers { el, load }.
export function mappingSection(ctx, { title, headingId, className = 'card', note, pick: p, link, rows, none, caption, columns, assigned, confirmText, removed }) {
	const list = h('div');
	const error = h('p', { class: 'form-error', role: 'alert' });
	let mapped = new Set();
	const pick = picker({
		...p,
		signal: ctx.signal,
		taken: (it) => mapped.has(it.id),
		onPick: async (it) => {
			await post('/api/v1/mappings', link(it), { signal: ctx.signal });
			toast(assigned(it), 'ok');
			await changed();
		},
	});

	async function changed() {
		await load();
		pick.refresh();
	}

	async function load() {
		await loadInto(list, rows, (rs) => {
			mapped = new Set(rs.map((r) => r.id));
			if (rs.length === 0) return none();
			return stacked(table(caption(), [...columns, ['', removeButton, 'act']], rs));
		});
	}

	function removeButton(r) {
		return confirmButton(
			'Remove',
			{ class: 'danger small', 'aria-label': `Remove ${r.name}`, disabled: !r.mapping },
			{
				error,
				ask: () => [`Remove ${r.name}?`, confirmText(r), 'Remove'],
				act: async () => {
					await del(`/api/v1/mappings/${r.mapping.id}`, { signal: ctx.signal });
					toast(removed(r), 'ok');
					await changed();
				},
			},
		);
	}

	const el = h(
		'section',
		{ class: className, 'aria-labelledby': headingId },
		h('h2', { id: headingId }, title),
		note,
		error,
		list,
		h('div', { class: 'assign' }, pick.el),
	);
	return { el, load };
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
