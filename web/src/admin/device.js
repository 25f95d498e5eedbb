// device.js - /admin/devices/:id: one meter.  Edit it (its time zone and
// reading type are fixed at creation, and the page says why), set or clear
// its claim code, manage its owners, delete it; and a link to the chart
// its customers see.
import { del, get, patch, post, qs } from '../api.js';
import * as live from '../live.js';
import { ago, confirm, errorBox, field, h, kwh, mount, pageHead, showErrors, spinner, table, toast, when } from '../ui.js';
import { failInto, loadInto, picker, stacked } from './common.js';
import { deviceFields, readDeviceForm } from './devform.js';

export default async function page(ctx) {
	const id = ctx.params.id;
	mount(ctx.main, backLink(), spinner());
	let device;
	try {
		device = await get(`/api/v1/devices/${encodeURIComponent(id)}`, { signal: ctx.signal });
	} catch (e) {
		if (e.name === 'AbortError' || e.status === 401) throw e;
		document.title = 'Device · kilowatt';
		if (e.status === 404) {
			return mount(ctx.main, backLink(), h('div', { class: 'empty' }, h('h1', { tabindex: '-1' }, 'No such device'), h('p', {}, `There is no device “${id}”; it may have been deleted.`)));
		}
		return mount(ctx.main, backLink(), errorBox(e, () => ctx.navigate(location.pathname, { replace: true })));
	}

	const head = h('div');
	const today = h('p', { class: 'subhead', 'aria-live': 'polite' });
	const paintHead = () =>
		mount(
			head,
			pageHead(
				device.name,
				h('a', { class: 'button', href: `/app/devices/${device.id}` }, 'Consumption chart'),
				h('a', { class: 'button', href: `/admin/audit${qs({ object_type: 'device', object_id: device.id })}` }, 'Audit log'),
			),
			h(
				'p',
				{ class: 'subhead muted' },
				device.serial ? ['Serial ', h('code', {}, device.serial)] : 'No serial',
				' · ',
				device.region ? h('a', { href: `/admin/regions/${encodeURIComponent(device.region)}` }, device.region) : 'no region',
				' · ',
				`added ${when(device.created_at)}`,
			),
		);
	paintHead();

	async function loadToday() {
		try {
			const c = await get(`/api/v1/devices/${device.id}/consumption${qs({ period: 'current-day', step: 'day' })}`, { signal: ctx.signal });
			mount(
				today,
				h('span', { class: 'stat' }, h('strong', {}, kwh(c.total_kwh)), ' today'),
				h('span', { class: 'stat' }, 'Last reading ', h('strong', { title: c.last_reading_at ? when(c.last_reading_at) : '' }, c.last_reading_at ? ago(c.last_reading_at) : 'never')),
			);
		} catch (e) {
			if (e.name !== 'AbortError') mount(today, h('span', { class: 'muted' }, `Today’s consumption could not be read: ${e.message}`));
		}
	}
	live.on('reading', (e) => (e.device_id === device.id || e.many) && loadToday(), ctx.signal);
	live.on('resync', loadToday, ctx.signal);

	const owners = ownersSection(ctx, () => device);
	mount(
		ctx.main,
		backLink(),
		head,
		today,
		h(
			'div',
			{ class: 'detail-grid' },
			detailsCard(ctx, device, (d) => {
				device = d;
				paintHead();
				document.title = `${d.name} · kilowatt`;
			}),
			h(
				'div',
				{ class: 'side' },
				owners.el,
				claimCard(ctx, () => device, (d) => (device = d)),
				deleteCard(ctx, () => device),
			),
		),
	);
	await Promise.all([owners.load(), loadToday()]);
}

function backLink() {
	return h('p', { class: 'crumb' }, h('a', { href: '/admin/devices' }, '← Devices'));
}

const TYPES = {
	interval: 'Interval: each reading is the kWh used since the previous one.',
	counter: 'Counter: each reading is the meter’s cumulative register.',
};

function detailsCard(ctx, device, saved) {
	const status = h('span', { class: 'muted save-status', role: 'status' });
	const submit = h('button', { class: 'primary', type: 'submit' }, 'Save changes');
	const form = h('form', { novalidate: true }, deviceFields({ creating: false, device }), h('div', { class: 'actions' }, submit, status));
	form.addEventListener('input', () => (status.textContent = ''));
	form.addEventListener('submit', async (e) => {
		e.preventDefault();
		const want = readDeviceForm(form, { creating: false });
		if (want.error) return showErrors(form, want.error);
		const body = {};
		for (const [k, v] of Object.entries(want)) if (v !== (device[k] ?? (k === 'serial' || k === 'max_hourly_kwh' ? null : ''))) body[k] = v;
		showErrors(form, null);
		if (Object.keys(body).length === 0) {
			status.textContent = 'Nothing changed.';
			return;
		}
		submit.disabled = true;
		status.textContent = 'Saving…';
		try {
			device = await patch(`/api/v1/devices/${device.id}`, body, { signal: ctx.signal });
			status.textContent = 'Saved.';
			saved(device);
		} catch (err) {
			if (err.name === 'AbortError') return;
			status.textContent = '';
			showErrors(form, err);
		} finally {
			submit.disabled = false;
		}
	});
	return h(
		'section',
		{ class: 'card', 'aria-labelledby': 'details-h' },
		h('h2', { id: 'details-h' }, 'Details'),
		form,
		h('h3', {}, 'Fixed at creation'),
		h(
			'dl',
			{ class: 'facts' },
			h('dt', {}, 'Time zone'),
			h('dd', {}, device.timezone),
			h('dt', {}, 'Reading type'),
			h('dd', {}, TYPES[device.reading_type] || device.reading_type),
		),
		h(
			'p',
			{ class: 'muted small' },
			'Hourly and daily totals are computed once, when readings arrive, on the grid of the device’s local hours and by the rules of its reading type. ' +
				'Changing either would leave the stored totals wrong, so neither can change. To change them, create a new device and send its readings again.',
		),
	);
}

// Owners: the users this device is mapped to.
function ownersSection(ctx, getDevice) {
	const list = h('div');
	const error = h('p', { class: 'form-error', role: 'alert' });
	let ownerIds = new Set();
	const pick = picker({
		id: 'assign-user',
		label: 'Assign to a user',
		placeholder: 'Search by name, email or customer ref.',
		signal: ctx.signal,
		search: async (q, signal) => (await get(`/api/v1/users${qs({ q, limit: 8 })}`, { signal })).users,
		describe: (u) => [u.name, [u.email, u.role === 'admin' ? 'admin' : null, u.disabled ? 'disabled' : null].filter(Boolean).join(' · ')],
		taken: (u) => ownerIds.has(u.id),
		onPick: async (u) => {
			await post('/api/v1/mappings', { user_id: u.id, device_id: getDevice().id }, { signal: ctx.signal });
			toast(`${getDevice().name} is now assigned to ${u.name}.`, 'ok');
			await load();
			pick.refresh();
		},
	});

	async function load() {
		const d = getDevice();
		await loadInto(
			list,
			async () => {
				const [dev, maps] = await Promise.all([
					get(`/api/v1/devices/${d.id}`, { signal: ctx.signal }),
					get(`/api/v1/mappings${qs({ device_id: d.id })}`, { signal: ctx.signal }),
				]);
				const byUser = new Map(maps.mappings.map((m) => [m.user_id, m]));
				return (dev.owners || []).map((o) => ({ ...o, mapping: byUser.get(o.id) }));
			},
			(rows) => {
				ownerIds = new Set(rows.map((r) => r.id));
				if (rows.length === 0) return h('p', { class: 'muted' }, 'Nobody sees this device yet. Assign it to its customer below.');
				return stacked(
					table(
						'Owners',
						[
							['Name', (o) => h('a', { href: `/admin/users/${o.id}` }, o.name || o.email)],
							['Email', (o) => h('span', { class: 'break' }, o.email)],
							['', (o) => removeButton(o), 'act'],
						],
						rows,
					),
				);
			},
		);
	}

	function removeButton(o) {
		const btn = h(
			'button',
			{
				type: 'button',
				class: 'danger small',
				'aria-label': `Remove ${o.name}`,
				disabled: !o.mapping,
				onclick: async () => {
					if (!(await confirm(`Remove ${o.name}?`, `${o.name} will no longer see ${getDevice().name} or its consumption.`, 'Remove'))) return;
					btn.disabled = true;
					error.textContent = '';
					try {
						await del(`/api/v1/mappings/${o.mapping.id}`, { signal: ctx.signal });
						toast(`${o.name} no longer sees ${getDevice().name}.`, 'ok');
						await load();
						pick.refresh();
					} catch (e) {
						failInto(error, e);
						btn.disabled = false;
					}
				},
			},
			'Remove',
		);
		return btn;
	}

	const el = h(
		'section',
		{ class: 'card', 'aria-labelledby': 'owners-h' },
		h('h2', { id: 'owners-h' }, 'Owners'),
		error,
		list,
		h('div', { class: 'assign' }, pick.el),
	);
	return { el, load };
}

function claimCard(ctx, getDevice, changed) {
	const state = h('p', { role: 'status' });
	const paint = () => {
		const set = getDevice().has_claim_code;
		mount(state, 'Claim code: ', h('span', { class: `badge ${set ? 'ok' : ''}` }, set ? 'set' : 'not set'));
		clear.hidden = !set;
	};
	const submit = h('button', { type: 'submit' }, 'Set claim code');
	const clear = h('button', { type: 'button', class: 'danger', onclick: () => save(null) }, 'Clear');
	const form = h(
		'form',
		{ novalidate: true },
		field('claim_code', 'New claim code', { autocomplete: 'off', maxlength: 128 }),
		h('div', { class: 'actions' }, submit, clear),
	);
	async function save(code) {
		showErrors(form, null);
		submit.disabled = clear.disabled = true;
		try {
			const d = await patch(`/api/v1/devices/${getDevice().id}`, { claim_code: code }, { signal: ctx.signal });
			changed(d);
			form.claim_code.value = '';
			toast(code === null ? 'The claim code was cleared.' : 'The claim code was set.', 'ok');
			paint();
		} catch (err) {
			if (err.name !== 'AbortError') showErrors(form, err.field ? err : { ...err, field: 'claim_code', message: err.message });
		} finally {
			submit.disabled = clear.disabled = false;
		}
	}
	form.addEventListener('submit', (e) => {
		e.preventDefault();
		const code = form.claim_code.value.trim();
		if (!code) return showErrors(form, { field: 'claim_code', message: 'Type the new code, or use “Clear” to remove it.' });
		save(code);
	});
	paint();
	return h(
		'section',
		{ class: 'card', 'aria-labelledby': 'claim-h' },
		h('h2', { id: 'claim-h' }, 'Claim code'),
		h('p', { class: 'muted small' }, 'A customer who signs up types the serial and this code to claim the meter. It is write-only: once set, nobody can read it back.'),
		state,
		form,
	);
}

function deleteCard(ctx, getDevice) {
	const error = h('p', { class: 'form-error', role: 'alert' });
	const btn = h(
		'button',
		{
			type: 'button',
			class: 'danger',
			onclick: async () => {
				const d = getDevice();
				if (!(await confirm(`Delete ${d.name}?`, `This deletes ${d.name} together with all its readings (every channel), its hourly and daily totals, its counter state and its owner assignments. It cannot be undone.`, 'Delete device'))) return;
				btn.disabled = true;
				error.textContent = '';
				try {
					await del(`/api/v1/devices/${d.id}`, { signal: ctx.signal });
					toast(`${d.name} and its readings were deleted.`, 'ok');
					ctx.navigate('/admin/devices');
				} catch (e) {
					failInto(error, e);
					btn.disabled = false;
				}
			},
		},
		'Delete device',
	);
	return h(
		'section',
		{ class: 'card danger-zone', 'aria-labelledby': 'del-h' },
		h('h2', { id: 'del-h' }, 'Delete'),
		h('p', { class: 'muted small' }, 'Deleting a device also deletes all its readings and totals, and removes it from its owners. Tokens scoped to this device stop working.'),
		btn,
		error,
	);
}
