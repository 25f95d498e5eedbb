// devices.js - /admin/devices: every meter, searchable by name, serial or
// region (?q= in the URL), with its owners; and the "New device" form with
// every field of docs/API.md.
import { post } from '../api.js';
import { empty, field, formValues, h, showErrors, table, toast } from '../ui.js';
import { limitText, listPage, ownersList, panel, stacked } from './common.js';
import { browserZone, deviceFields, readDeviceForm } from './devform.js';

export default async function page(ctx) {
	await listPage(ctx, {
		title: 'Devices',
		newLabel: '+ New device',
		form: (close) => newDeviceForm(ctx, close),
		path: '/api/v1/devices',
		key: 'devices',
		searchLabel: 'Search devices',
		placeholder: 'Name, serial or region',
		render: (devices, q) => {
			if (devices.length === 0) {
				return empty(
					q ? 'No device matches' : 'No devices yet',
					q ? `No device’s name, serial or region contains “${q}”.` : 'Add the first meter with “New device”, or let meters create themselves (ingest.auto_create_devices).',
				);
			}
			return stacked(
				table(
					'Devices',
					[
						['Name', (d) => h('a', { href: `/admin/devices/${d.id}` }, d.name)],
						['Serial', (d) => (d.serial ? h('code', {}, d.serial) : h('span', { class: 'muted' }, '—'))],
						['Region', (d) => (d.region ? h('a', { href: `/admin/regions/${encodeURIComponent(d.region)}`, class: 'quiet' }, d.region) : h('span', { class: 'muted' }, '—'))],
						['Time zone', (d) => d.timezone, 'nowrap'],
						['Limit', (d) => limitText(d.max_hourly_kwh), 'num nowrap'],
						['Owners', (d) => ownersList(d.owners)],
					],
					devices,
					{ rowClick: (d) => ctx.navigate(`/admin/devices/${d.id}`) },
				),
			);
		},
	});
}

function newDeviceForm(ctx, close) {
	const submit = h('button', { class: 'primary', type: 'submit' }, 'Create device');
	const form = h(
		'form',
		{ novalidate: true },
		deviceFields({ creating: true, device: { timezone: browserZone(), reading_type: 'interval' } }),
		field('claim_code', 'Claim code', {
			autocomplete: 'off',
			hint: 'Optional. A secret the customer types with the serial to claim the meter when they sign up. It is never shown again.',
		}),
		h('div', { class: 'actions' }, submit, h('button', { type: 'button', onclick: close }, 'Cancel')),
	);
	form.addEventListener('submit', async (e) => {
		e.preventDefault();
		const body = readDeviceForm(form, { creating: true });
		if (body.error) return showErrors(form, body.error);
		const claim = formValues(form).claim_code;
		if (claim) body.claim_code = claim;
		submit.disabled = true;
		try {
			const d = await post('/api/v1/devices', body, { signal: ctx.signal });
			toast(`${d.name} was created.`, 'ok');
			ctx.navigate(`/admin/devices/${d.id}`);
		} catch (err) {
			if (err.name === 'AbortError') return;
			showErrors(form, err);
			submit.disabled = false;
		}
	});
	return panel('New device', form);
}
