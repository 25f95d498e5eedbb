// device.js - /admin/devices/:id: one meter.  Edit it (its time zone and
// reading type are fixed at creation, and the page says why), set or clear
// its claim code, manage its owners, delete it; and a link to the chart
// its customers see.
import { del, get, patch, qs } from '../api.js';
import * as live from '../live.js';
import { ago, field, h, kwh, mount, pageHead, showErrors, toast, when } from '../ui.js';
import { confirmButton, fetchDetail, mappingSection, saveForm } from './common.js';
import { deviceFields, readDeviceForm } from './devform.js';

export default async function page(ctx) {
	const id = ctx.params.id;
	let device = await fetchDetail(ctx, {
		path: `/api/v1/devices/${encodeURIComponent(id)}`,
		back: backLink,
		title: 'Device',
		gone: ['No such device', `There is no device “${id}”; it may have been deleted.`],
	});
	if (!device) return;

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
	const form = saveForm(deviceFields({ creating: false, device }), {
		changes: () => {
			const want = readDeviceForm(form, { creating: false });
			if (want.error) return want;
			const body = {};
			for (const [k, v] of Object.entries(want)) if (v !== (device[k] ?? (k === 'serial' || k === 'max_hourly_kwh' ? null : ''))) body[k] = v;
			return body;
		},
		save: async (body) => {
			device = await patch(`/api/v1/devices/${device.id}`, body, { signal: ctx.signal });
			saved(device);
		},
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
	return mappingSection(ctx, {
		title: 'Owners',
		headingId: 'owners-h',
		pick: {
			id: 'assign-user',
			label: 'Assign to a user',
			placeholder: 'Search by name, email or customer ref.',
			search: async (q, signal) => (await get(`/api/v1/users${qs({ q, limit: 8 })}`, { signal })).users,
			describe: (u) => [u.name, [u.email, u.role === 'admin' ? 'admin' : null, u.disabled ? 'disabled' : null].filter(Boolean).join(' · ')],
		},
		link: (u) => ({ user_id: u.id, device_id: getDevice().id }),
		rows: async () => {
			const id = getDevice().id;
			const [dev, maps] = await Promise.all([
				get(`/api/v1/devices/${id}`, { signal: ctx.signal }),
				get(`/api/v1/mappings${qs({ device_id: id })}`, { signal: ctx.signal }),
			]);
			const byUser = new Map(maps.mappings.map((m) => [m.user_id, m]));
			return (dev.owners || []).map((o) => ({ ...o, mapping: byUser.get(o.id) }));
		},
		none: () => h('p', { class: 'muted' }, 'Nobody sees this device yet. Assign it to its customer below.'),
		caption: () => 'Owners',
		columns: [
			['Name', (o) => h('a', { href: `/admin/users/${o.id}` }, o.name || o.email)],
			['Email', (o) => h('span', { class: 'break' }, o.email)],
		],
		assigned: (u) => `${getDevice().name} is now assigned to ${u.name}.`,
		confirmText: (o) => `${o.name} will no longer see ${getDevice().name} or its consumption.`,
		removed: (o) => `${o.name} no longer sees ${getDevice().name}.`,
	});
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
	return h(
		'section',
		{ class: 'card danger-zone', 'aria-labelledby': 'del-h' },
		h('h2', { id: 'del-h' }, 'Delete'),
		h('p', { class: 'muted small' }, 'Deleting a device also deletes all its readings and totals, and removes it from its owners. Tokens scoped to this device stop working.'),
		confirmButton(
			'Delete device',
			{ class: 'danger' },
			{
				error,
				ask: () => {
					const d = getDevice();
					return [`Delete ${d.name}?`, `This deletes ${d.name} together with all its readings (every channel), its hourly and daily totals, its counter state and its owner assignments. It cannot be undone.`, 'Delete device'];
				},
				act: async () => {
					const d = getDevice();
					await del(`/api/v1/devices/${d.id}`, { signal: ctx.signal });
					toast(`${d.name} and its readings were deleted.`, 'ok');
					ctx.navigate('/admin/devices');
				},
			},
		),
		error,
	);
}
