// user.js - /admin/users/:id: one account.  Edit its details, reset its
// password (the new one is shown once), delete it, and manage the devices
// it may see (its mappings).
import { del, get, patch, post, qs } from '../api.js';
import { field, formValues, h, mount, pageHead, secretBox, toast, when } from '../ui.js';
import { confirmButton, fetchDetail, mappingSection, roleBadge, saveForm, statusBadge } from './common.js';

export default async function page(ctx) {
	const id = ctx.params.id;
	const res = await fetchDetail(ctx, {
		path: `/api/v1/users/${encodeURIComponent(id)}`,
		back: backLink,
		title: 'User',
		missing: [404, 400],
		gone: ['No such user', `There is no user with id ${id}; it may have been deleted.`],
	});
	if (!res) return;
	let user = res.user;
	const self = ctx.me.user.id === user.id;
	const head = h('div');
	const paintHead = () =>
		mount(
			head,
			pageHead(
				user.name || user.email,
				user.role === 'client' && h('a', { class: 'button', href: `/admin/support?client_id=${user.id}` }, 'Message this client'),
				h('a', { class: 'button', href: `/admin/audit?user_id=${user.id}` }, 'Audit log'),
			),
			h('p', { class: 'subhead' }, roleBadge(user), ' ', statusBadge(user), ' ', h('span', { class: 'muted' }, `${user.email} · since ${when(user.created_at)}`)),
		);
	paintHead();

	const devices = devicesSection(ctx, () => user);
	mount(
		ctx.main,
		backLink(),
		head,
		self && h('p', { class: 'notice' }, 'This is your own account: you cannot demote, disable or delete yourself.'),
		h(
			'div',
			{ class: 'detail-grid' },
			h(
				'div',
				{ class: 'side' },
				detailsCard(ctx, user, self, (u) => {
					user = u;
					paintHead();
					document.title = `${u.name} · kilowatt`;
				}),
				devices.el,
			),
			h('div', { class: 'side' }, passwordCard(ctx, () => user), deleteCard(ctx, () => user, self)),
		),
	);
	await devices.load();
}

function backLink() {
	return h('p', { class: 'crumb' }, h('a', { href: '/admin/users' }, '← Users'));
}

function detailsCard(ctx, user, self, saved) {
	const form = saveForm(
		[
			h(
				'div',
				{ class: 'form-grid' },
				field('name', 'Name', { value: user.name, required: true, maxlength: 200, autocomplete: 'off' }),
				field('email', 'Email', { type: 'email', value: user.email, required: true, autocomplete: 'off' }),
				field('role', 'Role', {
					value: user.role,
					disabled: self,
					options: [
						['client', 'Client'],
						['admin', 'Admin'],
					],
				}),
				field('customer_ref', 'Customer reference', { value: user.customer_ref || '', autocomplete: 'off' }),
			),
			field('disabled', 'Disabled: cannot log in (their sessions end at once)', { type: 'checkbox', value: user.disabled, disabled: self }),
		],
		{
			changes: () => {
				const v = formValues(form);
				const want = { name: v.name.trim(), email: v.email.trim(), role: v.role, customer_ref: v.customer_ref.trim() || null, disabled: v.disabled };
				if (!want.name) return { error: { field: 'name', message: 'Enter the person’s name.' } };
				if (!want.email) return { error: { field: 'email', message: 'Enter an email address.' } };
				const body = {};
				for (const [k, val] of Object.entries(want)) {
					if (self && (k === 'role' || k === 'disabled')) continue;
					if (val !== user[k] && !(k === 'email' && val.toLowerCase() === user.email)) body[k] = val;
				}
				return body;
			},
			save: async (body) => {
				user = (await patch(`/api/v1/users/${user.id}`, body, { signal: ctx.signal })).user;
				form.email.value = user.email;
				saved(user);
			},
		},
	);
	return h('section', { class: 'card', 'aria-labelledby': 'details-h' }, h('h2', { id: 'details-h' }, 'Details'), form);
}

function passwordCard(ctx, getUser) {
	const out = h('div');
	const error = h('p', { class: 'form-error', role: 'alert' });
	return h(
		'section',
		{ class: 'card', 'aria-labelledby': 'pw-h' },
		h('h2', { id: 'pw-h' }, 'Password'),
		h('p', { class: 'muted' }, 'A reset generates a new password, shown to you once, and ends all their sessions.'),
		confirmButton(
			'Reset password',
			{},
			{
				error,
				again: true,
				ask: () => ['Reset the password?', `${getUser().name} gets a new generated password and is logged out everywhere. Their old password stops working.`, 'Reset password'],
				act: async () => {
					const u = getUser();
					const r = await post(`/api/v1/users/${u.id}/password`, {}, { signal: ctx.signal });
					mount(out, secretBox(`The new password for ${u.email}:`, r.password));
					out.querySelector('input')?.focus();
				},
			},
		),
		error,
		out,
	);
}

function deleteCard(ctx, getUser, self) {
	const error = h('p', { class: 'form-error', role: 'alert' });
	return h(
		'section',
		{ class: 'card danger-zone', 'aria-labelledby': 'del-h' },
		h('h2', { id: 'del-h' }, 'Delete'),
		h('p', { class: 'muted' }, 'Removes the account and its device assignments. To keep the history but stop access, tick “Disabled” instead.'),
		confirmButton(
			'Delete user',
			{ class: 'danger', disabled: self },
			{
				error,
				ask: () => {
					const u = getUser();
					return [`Delete ${u.name}?`, `${u.email} can no longer log in, and their device assignments are removed. The devices and their readings stay. This cannot be undone.`, 'Delete user'];
				},
				act: async () => {
					const u = getUser();
					await del(`/api/v1/users/${u.id}`, { signal: ctx.signal });
					toast(`${u.name} was deleted.`, 'ok');
					ctx.navigate('/admin/users');
				},
			},
		),
		error,
	);
}

// The devices this user may see: one mapping each.
function devicesSection(ctx, getUser) {
	return mappingSection(ctx, {
		title: 'Devices',
		headingId: 'devs-h',
		className: 'card devices-card',
		note: getUser().role === 'admin' && h('p', { class: 'muted' }, 'Admins see every device anyway; assignments matter for clients.'),
		pick: {
			id: 'assign-device',
			label: 'Assign a device',
			placeholder: 'Search by name, serial or region',
			search: async (q, signal) => (await get(`/api/v1/devices${qs({ q, limit: 8 })}`, { signal })).devices,
			describe: (d) => [d.name, [d.serial && `Serial ${d.serial}`, d.region].filter(Boolean).join(' · ')],
		},
		link: (d) => ({ user_id: getUser().id, device_id: d.id }),
		rows: async () => {
			const { mappings } = await get(`/api/v1/mappings${qs({ user_id: getUser().id })}`, { signal: ctx.signal });
			const devs = await Promise.all(
				mappings.map((m) =>
					get(`/api/v1/devices/${encodeURIComponent(m.device_id)}`, { signal: ctx.signal }).catch((e) => {
						if (e.status === 404) return null; // deleted meanwhile
						throw e;
					}),
				),
			);
			return mappings.flatMap((m, i) => (devs[i] ? [{ ...devs[i], mapping: m }] : []));
		},
		none: () => h('div', { class: 'empty compact' }, h('h3', {}, 'No devices yet'), h('p', {}, `${getUser().name} sees no device until you assign one below.`)),
		caption: () => `Devices assigned to ${getUser().name}`,
		columns: [
			['Device', (d) => h('a', { href: `/admin/devices/${d.id}` }, d.name)],
			['Serial', (d) => d.serial || h('span', { class: 'muted' }, '—')],
			['Region', (d) => d.region || h('span', { class: 'muted' }, '—')],
			['Assigned', (d) => when(d.mapping.created_at), 'nowrap'],
		],
		assigned: (d) => `${d.name} is now assigned to ${getUser().name}.`,
		confirmText: (d) => `${getUser().name} will no longer see ${d.name} or its consumption. The device and its readings stay.`,
		removed: (d) => `${d.name} was removed from ${getUser().name}.`,
	});
}
