// devform.js - the device fields of the "New device" and device pages
// (docs/API.md, Devices), and reading them back into an API body.
import { get } from '../api.js';
import { field, formValues, h } from '../ui.js';

export function browserZone() {
	try {
		return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
	} catch {
		return 'UTC';
	}
}

let zones;
function zoneList() {
	if (!zones) {
		let z = [];
		try {
			z = Intl.supportedValuesOf('timeZone');
		} catch {
			z = [];
		}
		zones = [...new Set(['UTC', ...z])];
	}
	return zones;
}

// Region names already in use, as suggestions (so "BE-Flanders" is not
// typed five different ways).  Quietly empty when they cannot be read.
let regionNames;
function fillRegions(list) {
	regionNames ??= get('/api/v1/regions/consumption?period=current-day')
		.then((r) => r.regions.map((x) => x.region).filter((n) => n !== '(none)'))
		.catch(() => ((regionNames = undefined), []));
	regionNames.then((names) => list.append(...names.map((n) => h('option', { value: n }))));
}

// The editable fields; at creation also the time zone and reading type,
// which cannot change afterwards.
export function deviceFields({ creating, device = {} }) {
	const regions = h('datalist', { id: 'region-names' });
	fillRegions(regions);
	const region = field('region', 'Region', { value: device.region || '', autocomplete: 'off', maxlength: 200, hint: 'Groups devices on the region dashboard.' });
	region.querySelector('input').setAttribute('list', 'region-names');
	const parts = [
		field('name', 'Name', { value: device.name || '', required: true, maxlength: 200, autocomplete: 'off' }),
		field('serial', 'Serial', {
			value: device.serial || '',
			maxlength: 64,
			autocomplete: 'off',
			hint: creating ? 'The id the meter sends its readings with (unique).' : 'The id the meter sends its readings with. Empty removes it.',
		}),
		region,
		field('max_hourly_kwh', 'Max hourly consumption (kWh)', {
			type: 'number',
			min: 0,
			step: 'any',
			value: device.max_hourly_kwh ?? '',
			hint: 'Drawn as a limit line on the customer’s chart. Empty: no limit.',
		}),
	];
	if (creating) {
		const tz = field('timezone', 'Time zone', {
			value: device.timezone || 'UTC',
			required: true,
			autocomplete: 'off',
			hint: 'IANA name, e.g. Europe/Brussels. Hours and days are counted in it. Cannot change later.',
		});
		tz.querySelector('input').setAttribute('list', 'tz-names');
		parts.push(
			tz,
			h('datalist', { id: 'tz-names' }, zoneList().map((z) => h('option', { value: z }))),
			field('reading_type', 'Reading type', {
				value: device.reading_type || 'interval',
				options: [
					['interval', 'Interval — kWh used since the previous reading'],
					['counter', 'Counter — the meter’s cumulative register'],
				],
				hint: 'Cannot change later.',
			}),
		);
	}
	parts.push(
		field('address', 'Address', { value: device.address || '', autocomplete: 'off', maxlength: 1000 }),
		field('description', 'Description', { type: 'textarea', value: device.description || '', maxlength: 1000 }),
	);
	return h('div', { class: 'form-grid' }, parts, regions);
}

// The form as an API body, or {error: {field, message}} for what the
// browser can tell at once.  On edit, an empty serial becomes null (it
// removes the serial); at creation it is simply left out.
export function readDeviceForm(form, { creating }) {
	const v = formValues(form);
	const body = {
		name: v.name.trim(),
		description: v.description,
		address: v.address.trim(),
		region: v.region.trim(),
	};
	if (!body.name) return { error: { field: 'name', message: 'Give the device a name.' } };
	const serial = v.serial.trim();
	if (serial) body.serial = serial;
	else if (!creating) body.serial = null;
	if (v.max_hourly_kwh === '') {
		if (!form.max_hourly_kwh.validity.badInput) body.max_hourly_kwh = null;
		else return { error: { field: 'max_hourly_kwh', message: 'Enter a number of kWh, or leave it empty.' } };
	} else {
		const n = Number(v.max_hourly_kwh);
		if (!Number.isFinite(n) || n < 0) return { error: { field: 'max_hourly_kwh', message: 'Enter a number ≥ 0, or leave it empty.' } };
		body.max_hourly_kwh = n;
	}
	if (creating) {
		body.timezone = v.timezone.trim();
		body.reading_type = v.reading_type;
		if (!body.timezone) return { error: { field: 'timezone', message: 'Choose the meter’s time zone.' } };
	}
	return body;
}
