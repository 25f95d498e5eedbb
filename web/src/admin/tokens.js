// tokens.js - /admin/tokens: the API tokens programs use (meters, feeders,
// scripts).  A new token is shown once, with a copy button; revoking one
// stops it at once.
import { del, get, post } from '../api.js';
import { ago, field, formValues, h, mount, pageHead, secretBox, showErrors, table, toast, when } from '../ui.js';
import { confirmButton, loadInto, opener, panel, stacked } from './common.js';

const SCOPES = [
	['ingest', 'Ingest — sends readings for any device'],
	['device', 'One device — sends readings for that device only'],
	['admin', 'Admin — every endpoint, like an administrator'],
];

export default async function page(ctx) {
	const list = h('div', { class: 'list' });
	const error = h('p', { class: 'form-error', role: 'alert' });
	const formSlot = h('div');
	const names = new Map(); // device UUID -> name, for device: scopes

	async function load() {
		await loadInto(
			list,
			async () => {
				const { tokens } = await get('/api/v1/tokens', { signal: ctx.signal });
				const ids = [...new Set(tokens.map((t) => deviceOf(t)).filter((x) => x && !names.has(x)))];
				await Promise.all(
					ids.map((id) =>
						get(`/api/v1/devices/${encodeURIComponent(id)}`, { signal: ctx.signal })
							.then((d) => names.set(id, d.name))
							.catch((e) => {
								if (e.status === 404) names.set(id, null);
								else throw e;
							}),
					),
				);
				return tokens.sort((a, b) => a.revoked - b.revoked || b.id - a.id);
			},
			render,
		);
	}

	function render(tokens) {
		if (tokens.length === 0) return h('div', { class: 'empty' }, h('h2', {}, 'No tokens yet'), h('p', {}, 'Create one for each meter gateway, feeder or script that talks to kilowatt.'));
		return stacked(
			table(
				'API tokens',
				[
					['Name', (t) => h('strong', { class: t.revoked ? 'muted' : '' }, t.name)],
					['Scope', scopeCell],
					['Created', (t) => h('time', { datetime: t.created_at }, when(t.created_at)), 'nowrap'],
					['Last used', (t) => (t.last_used_at ? h('time', { datetime: t.last_used_at, title: when(t.last_used_at) }, ago(t.last_used_at)) : h('span', { class: 'muted' }, 'never')), 'nowrap'],
					['Status', (t) => (t.revoked ? h('span', { class: 'badge off' }, 'Revoked') : h('span', { class: 'badge ok' }, 'Active'))],
					['', (t) => !t.revoked && revokeButton(t), 'act'],
				],
				tokens,
			),
		);
	}

	function scopeCell(t) {
		const dev = deviceOf(t);
		if (!dev) return h('span', { class: `badge ${t.scope === 'admin' ? 'admin' : ''}` }, t.scope === 'admin' ? 'Admin' : 'Ingest');
		const name = names.get(dev);
		return h('span', {}, h('span', { class: 'badge' }, 'Device'), ' ', name === null ? h('span', { class: 'muted' }, 'deleted device') : h('a', { href: `/admin/devices/${dev}` }, name || dev));
	}

	function revokeButton(t) {
		return confirmButton(
			'Revoke',
			{ class: 'danger small', 'aria-label': `Revoke ${t.name}` },
			{
				error,
				ask: () => [`Revoke “${t.name}”?`, 'Programs using this token are refused from now on (401). This cannot be undone: create a new token to restore access.', 'Revoke'],
				act: async () => {
					await del(`/api/v1/tokens/${t.id}`, { signal: ctx.signal });
					toast(`“${t.name}” was revoked.`, 'ok');
					await load();
				},
			},
		);
	}

	mount(
		ctx.main,
		pageHead('API tokens', opener('+ New token', formSlot, (close) => newTokenForm(ctx, close, load))),
		h(
			'p',
			{ class: 'muted intro' },
			'Programs authenticate with a token instead of a password: meter gateways and feeders send readings with an ingest or device token, scripts manage the platform with an admin token. They send it as ',
			h('code', {}, 'Authorization: Bearer kw_…'),
			'.',
		),
		formSlot,
		error,
		list,
	);
	await load();
}

function deviceOf(t) {
	return t.scope.startsWith('device:') ? t.scope.slice(7) : null;
}

function newTokenForm(ctx, close, created) {
	const submit = h('button', { class: 'primary', type: 'submit' }, 'Create token');
	const device = field('device', 'Device (serial or id)', { autocomplete: 'off', hint: 'The token may send readings for this device only.' });
	device.hidden = true;
	const scope = field('scope', 'Scope', { options: SCOPES, value: 'ingest' });
	scope.querySelector('select').addEventListener('change', (e) => {
		device.hidden = e.target.value !== 'device';
	});
	const form = h(
		'form',
		{ novalidate: true },
		h('div', { class: 'form-grid' }, field('name', 'Name', { required: true, autocomplete: 'off', maxlength: 127, hint: 'What uses it, e.g. “gateway north”.' }), scope, device),
		h('div', { class: 'actions' }, submit, h('button', { type: 'button', onclick: close }, 'Cancel')),
	);
	const box = panel('New token', form);
	form.addEventListener('submit', async (e) => {
		e.preventDefault();
		const v = formValues(form);
		const name = v.name.trim();
		if (!name) return showErrors(form, { field: 'name', message: 'Name the token after what will use it.' });
		let sc = v.scope;
		if (sc === 'device') {
			if (!v.device.trim()) return showErrors(form, { field: 'device', message: 'Type the device’s serial or id.' });
			sc = `device:${v.device.trim()}`;
		}
		submit.disabled = true;
		try {
			const t = await post('/api/v1/tokens', { name, scope: sc }, { signal: ctx.signal });
			mount(
				box,
				h('h2', {}, 'Token created'),
				secretBox(`The token “${t.name}”:`, t.token),
				h('p', { class: 'muted small' }, 'Only a hash of it is stored, so it cannot be shown again. If it is lost, revoke it and create another.'),
				h('div', { class: 'actions' }, h('button', { type: 'button', onclick: close }, 'Done')),
			);
			box.querySelector('input')?.focus();
			created();
		} catch (err) {
			if (err.name === 'AbortError') return;
			// The API names the scope for an unknown device; the device box is where it was typed.
			if (err.field === 'scope' && sc.startsWith('device:')) err.field = 'device';
			showErrors(form, err);
			submit.disabled = false;
		}
	});
	return box;
}
