// ui.js - building DOM safely, and the small widgets every page uses.
//
// Everything a user or a device supplied reaches the page as text nodes
// (h() never parses HTML), so a name like "<img onerror=...>" shows
// literally.

// h('button', {class: 'primary', onclick: f}, 'Save') -> <button>.
// Attributes: on* are listeners, `class`, `for`, aria-*, data-* and others
// are set as attributes; booleans set or omit; null/undefined/false skip.
// Children: strings, numbers, nodes, arrays of them; null/false skip.
export function h(tag, attrs, ...children) {
	const el = document.createElement(tag);
	for (const [k, v] of Object.entries(attrs || {})) {
		if (v == null || v === false) continue;
		if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
		else if (k === 'value' && 'value' in el) el.value = v;
		else if (k === 'checked' || k === 'selected') el[k] = !!v;
		else el.setAttribute(k, v === true ? '' : String(v));
	}
	append(el, children);
	return el;
}

function append(el, kids) {
	for (const c of kids) {
		if (c == null || c === false) continue;
		if (Array.isArray(c)) append(el, c);
		else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
	}
}

// Replaces the children of el.
export function mount(el, ...children) {
	el.replaceChildren();
	append(el, children);
	return el;
}

// --- formatting --------------------------------------------------------------

const nf3 = new Intl.NumberFormat(undefined, { maximumFractionDigits: 3 });
const nf1 = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });

// "2.345 kWh"; null/undefined -> "—" (no data).
export function kwh(v, digits = 3) {
	if (v == null) return '—';
	return (digits === 1 ? nf1 : nf3).format(v) + ' kWh';
}

export function num(v) {
	return v == null ? '—' : nf3.format(v);
}

// A date-time for people, in the browser's zone unless tz is given.
export function when(iso, tz) {
	if (!iso) return 'never';
	const d = new Date(iso);
	return d.toLocaleString(undefined, {
		dateStyle: 'medium',
		timeStyle: 'short',
		...(tz ? { timeZone: tz } : {}),
	});
}

// "3 min ago", "2 h ago", "5 d ago".
export function ago(iso, now = Date.now()) {
	if (!iso) return 'never';
	const s = Math.max(0, Math.round((now - new Date(iso).getTime()) / 1000));
	if (s < 60) return 'just now';
	if (s < 3600) return `${Math.floor(s / 60)} min ago`;
	if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
	return `${Math.floor(s / 86400)} d ago`;
}

// --- widgets -------------------------------------------------------------------

let toastBox;

// A short message in the corner; kind: 'info' | 'ok' | 'error' | 'alert'.
// Errors stay until dismissed; the rest fade after 6 s.
export function toast(message, kind = 'info', { title, onclick } = {}) {
	if (!toastBox) {
		toastBox = h('div', { class: 'toasts', role: 'region', 'aria-label': 'Notifications' });
		document.body.append(toastBox);
	}
	const close = h('button', { class: 'icon', 'aria-label': 'Dismiss', onclick: () => t.remove() }, '×');
	const t = h(
		'div',
		{ class: `toast ${kind}`, role: kind === 'error' || kind === 'alert' ? 'alert' : 'status' },
		h('div', { class: 'toast-body', onclick }, title && h('strong', {}, title), h('span', {}, message)),
		close,
	);
	toastBox.append(t);
	if (kind !== 'error') setTimeout(() => t.remove(), 6000);
	return t;
}

// A labelled form field.  opts: {type, value, required, hint, options: [[value,
// label]], placeholder, autocomplete, min, step, maxlength}.  The error slot
// (.field-error) is where showErrors() writes what the API said.
export function field(name, label, opts = {}) {
	const id = `f-${name}-${Math.random().toString(36).slice(2, 7)}`;
	const errId = `${id}-err`;
	const common = {
		id,
		name,
		required: opts.required,
		'aria-describedby': errId,
		placeholder: opts.placeholder,
		autocomplete: opts.autocomplete,
		disabled: opts.disabled,
	};
	let input;
	if (opts.options) {
		input = h(
			'select',
			common,
			opts.options.map(([v, l]) => h('option', { value: v, selected: String(opts.value) === String(v) }, l)),
		);
	} else if (opts.type === 'textarea') {
		input = h('textarea', { ...common, rows: 3, maxlength: opts.maxlength }, opts.value ?? '');
	} else if (opts.type === 'checkbox') {
		input = h('input', { ...common, type: 'checkbox', checked: !!opts.value });
	} else {
		input = h('input', {
			...common,
			type: opts.type || 'text',
			value: opts.value ?? '',
			min: opts.min,
			step: opts.step,
			maxlength: opts.maxlength,
		});
	}
	return h(
		'div',
		{ class: `field${opts.type === 'checkbox' ? ' check' : ''}` },
		h('label', { for: id }, label),
		input,
		opts.hint && h('small', { class: 'hint' }, opts.hint),
		h('small', { class: 'field-error', id: errId, role: 'alert' }),
	);
}

// Shows an API error next to the field it names (err.field), or at the top
// of the form when no field matches.  Clears earlier errors first.
export function showErrors(form, err) {
	for (const e of form.querySelectorAll('.field-error')) e.textContent = '';
	for (const e of form.querySelectorAll('[aria-invalid]')) e.removeAttribute('aria-invalid');
	let general = form.querySelector('.form-error');
	if (!general) {
		general = h('p', { class: 'form-error', role: 'alert' });
		form.prepend(general);
	}
	general.textContent = '';
	if (!err) return;
	const input = err.field && form.querySelector(`[name="${CSS.escape(err.field)}"]`);
	if (input) {
		input.setAttribute('aria-invalid', 'true');
		form.querySelector(`#${CSS.escape(input.getAttribute('aria-describedby'))}`).textContent = err.message;
		input.focus();
	} else {
		general.textContent = err.message;
	}
}

// The values of a form's named controls: checkboxes as booleans, the rest
// as strings.
export function formValues(form) {
	const out = {};
	for (const el of form.elements) {
		if (!el.name) continue;
		out[el.name] = el.type === 'checkbox' ? el.checked : el.value;
	}
	return out;
}

// A modal dialog; resolves with the value of the button pressed ('' when
// dismissed).  body: nodes; buttons: [[value, label, class]].
export function dialog(title, body, buttons = [['ok', 'OK', 'primary']]) {
	return new Promise((resolve) => {
		const d = h(
			'dialog',
			{ 'aria-labelledby': 'dlg-title' },
			h(
				'form',
				{ method: 'dialog' },
				h('h2', { id: 'dlg-title' }, title),
				h('div', { class: 'dialog-body' }, body),
				h(
					'div',
					{ class: 'actions' },
					buttons.map(([v, l, c]) => h('button', { value: v, class: c || '' }, l)),
				),
			),
		);
		d.addEventListener('close', () => {
			resolve(d.returnValue);
			d.remove();
		});
		document.body.append(d);
		d.showModal();
	});
}

export async function confirm(title, message, action = 'Delete') {
	return (await dialog(title, h('p', {}, message), [
		['', 'Cancel'],
		['yes', action, 'danger'],
	])) === 'yes';
}

// A secret shown once (a new password or token), with a copy button.
export function secretBox(label, secret) {
	const input = h('input', { class: 'secret', readonly: true, value: secret, 'aria-label': label });
	const status = h('span', { class: 'copied', role: 'status' });
	const copy = h(
		'button',
		{
			type: 'button',
			onclick: async () => {
				input.select();
				try {
					await navigator.clipboard.writeText(secret);
				} catch {
					document.execCommand('copy');
				}
				status.textContent = 'Copied';
			},
		},
		'Copy',
	);
	return h(
		'div',
		{ class: 'secret-box' },
		h('p', {}, label, h('br'), h('small', {}, 'It is shown only this once: copy it now.')),
		h('div', { class: 'row' }, input, copy, status),
	);
}

// An error where the data should be: says what failed, with a retry.
export function errorBox(err, retry) {
	return h(
		'div',
		{ class: 'error-box', role: 'alert' },
		h('p', {}, h('strong', {}, 'Could not load this. '), err.message || String(err)),
		retry && h('button', { onclick: retry }, 'Try again'),
	);
}

export function empty(title, text, ...more) {
	return h('div', { class: 'empty' }, h('h2', {}, title), h('p', {}, text), ...more);
}

export function spinner(label = 'Loading…') {
	return h('p', { class: 'loading', role: 'status' }, label);
}

// A page header: <h1> and optional actions on the right.
export function pageHead(title, ...actions) {
	document.title = `${title} · kilowatt`;
	return h('div', { class: 'page-head' }, h('h1', { tabindex: '-1' }, title), h('div', { class: 'actions' }, actions));
}

// A table: cols = [[label, row => cell, class]], rows; caption for screen
// readers.
export function table(caption, cols, rows, { rowClick } = {}) {
	return h(
		'div',
		{ class: 'table-wrap' },
		h(
			'table',
			{},
			h('caption', { class: 'sr-only' }, caption),
			h('thead', {}, h('tr', {}, cols.map(([l, , c]) => h('th', { scope: 'col', class: c }, l)))),
			h(
				'tbody',
				{},
				rows.map((r) =>
					h(
						'tr',
						rowClick ? { class: 'clickable', onclick: (e) => e.target.closest('a,button') || rowClick(r) } : {},
						cols.map(([, f, c]) => h('td', { class: c }, f(r))),
					),
				),
			),
		),
	);
}

// Debounces f by ms.
export function debounce(f, ms) {
	let t;
	return (...a) => {
		clearTimeout(t);
		t = setTimeout(() => f(...a), ms);
	};
}
