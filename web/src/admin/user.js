// user.js - /admin/users/:id: one account.  Edit its details, reset its
// password (the new one is shown once), delete it, and manage the devices
// it may see (its mappings).
import { del, get, patch, post, qs } from '../api.js';
import { confirm, errorBox, field, formValues, h, mount, pageHead, secretBox, showErrors, spinner, table, toast, when } from '../ui.js';
import { failInto, loadInto, picker, roleBadge, stacked, statusBadge } from './common.js';

export default async function page(ctx) {
	const id = ctx.params.id;
	mount(ctx.main, backLink(), spinner());
	let res;
	try {
		res = await get(`/api/v1/users/${encodeURIComponent(id)}`, { signal: ctx.signal });
	} catch (e) {
		if (e.name === 'AbortError' || e.status === 401) throw e;
		document.title = 'User · kilowatt';
		if (e.status === 404 || e.status === 400) {
			return mount(ctx.main, backLink(), h('div', { class: 'empty' }, h('h1', { tabindex: '-1' }, 'No such user'), h('p', {}, `There is no user with id ${id}; it may have been deleted.`)));
		}
		return mount(ctx.main, backLink(), errorBox(e, () => ctx.navigate(location.pathname, { replace: true })));
	}
	let user = res.user;
	const self = ctx.me.user.id === user.id;
	const head = h('div');
	const paintHead = () =>
		mount(
			head,
			pageHead(user.name || user.email, h('a', { class: 'button', href: `/admin/audit?user_id=${user.id}` }, 'Audit log')),
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
	const status = h('span', { class: 'muted save-status', role: 'status' });
	const submit = h('button', { class: 'primary', type: 'submit' }, 'Save changes');
	const form = h(
		'form',
		{ novalidate: true },
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
		h('div', { class: 'actions' }, submit, status),
	);
	form.addEventListener('input', () => (status.textContent = ''));
	form.addEventListener('submit', async (e) => {
		e.preventDefault();
		const v = formValues(form);
		const want = { name: v.name.trim(), email: v.email.trim(), role: v.role, customer_ref: v.customer_ref.trim() || null, disabled: v.disabled };
		if (!want.name) return showErrors(form, { field: 'name', message: 'Enter the person’s name.' });
		if (!want.email) return showErrors(form, { field: 'email', message: 'Enter an email address.' });
		const body = {};
		for (const [k, val] of Object.entries(want)) {
			if (self && (k === 'role' || k === 'disabled')) continue;
			if (val !== user[k] && !(k === 'email' && val.toLowerCase() === user.email)) body[k] = val;
		}
		showErrors(form, null);
		if (Object.keys(body).length === 0) {
			status.textContent = 'Nothing changed.';
			return;
		}
		submit.disabled = true;
		status.textContent = 'Saving…';
		try {
			const r = await patch(`/api/v1/users/${user.id}`, body, { signal: ctx.signal });
			user = r.user;
			form.email.value = user.email;
			status.textContent = 'Saved.';
			saved(user);
		} catch (err) {
			if (err.name === 'AbortError') return;
			status.textContent = '';
			showErrors(form, err);
		} finally {
			submit.disabled = false;
		}
	});
	return h('section', { class: 'card', 'aria-labelledby': 'details-h' }, h('h2', { id: 'details-h' }, 'Details'), form);
}

function passwordCard(ctx, getUser) {
	const out = h('div');
	const error = h('p', { class: 'form-error', role: 'alert' });
	const btn = h(
		'button',
		{
			type: 'button',
			onclick: async () => {
				const u = getUser();
				if (!(await confirm('Reset the password?', `${u.name} gets a new generated password and is logged out everywhere. Their old password stops working.`, 'Reset password'))) return;
				btn.disabled = true;
				error.textContent = '';
				try {
					const r = await post(`/api/v1/users/${u.id}/password`, {}, { signal: ctx.signal });
					mount(out, secretBox(`The new password for ${u.email}:`, r.password));
					out.querySelector('input')?.focus();
				} catch (e) {
					failInto(error, e);
				} finally {
					btn.disabled = false;
				}
			},
		},
		'Reset password',
	);
	return h(
		'section',
		{ class: 'card', 'aria-labelledby': 'pw-h' },
		h('h2', { id: 'pw-h' }, 'Password'),
		h('p', { class: 'muted' }, 'A reset generates a new password, shown to you once, and ends all their sessions.'),
		btn,
		error,
		out,
	);
}

function deleteCard(ctx, getUser, self) {
	const error = h('p', { class: 'form-error', role: 'alert' });
	const btn = h(
		'button',
		{
			type: 'button',
			class: 'danger',
			disabled: self,
			onclick: async () => {
				const u = getUser();
				if (!(await confirm(`Delete ${u.name}?`, `${u.email} can no longer log in, and their device assignments are removed. The devices and their readings stay. This cannot be undone.`, 'Delete user'))) return;
				btn.disabled = true;
				error.textContent = '';
				try {
					await del(`/api/v1/users/${u.id}`, { signal: ctx.signal });
					toast(`${u.name} was deleted.`, 'ok');
					ctx.navigate('/admin/users');
				} catch (e) {
					failInto(error, e);
					btn.disabled = false;
				}
			},
		},
		'Delete user',
	);
	return h(
		'section',
		{ class: 'card danger-zone', 'aria-labelledby': 'del-h' },
		h('h2', { id: 'del-h' }, 'Delete'),
		h('p', { class: 'muted' }, 'Removes the account and its device assignments. To keep the history but stop access, tick “Disabled” instead.'),
		btn,
		error,
	);
}

// The devices this user may see: one mapping each.
function devicesSection(ctx, getUser) {
	const list = h('div');
	const error = h('p', { class: 'form-error', role: 'alert' });
	let mapped = new Set();
	const pick = picker({
		id: 'assign-device',
		label: 'Assign a device',
		placeholder: 'Search by name, serial or region',
		signal: ctx.signal,
		search: async (q, signal) => (await get(`/api/v1/devices${qs({ q, limit: 8 })}`, { signal })).devices,
		describe: (d) => [d.name, [d.serial && `Serial ${d.serial}`, d.region].filter(Boolean).join(' · ')],
		taken: (d) => mapped.has(d.id),
		onPick: async (d) => {
			await post('/api/v1/mappings', { user_id: getUser().id, device_id: d.id }, { signal: ctx.signal });
			toast(`${d.name} is now assigned to ${getUser().name}.`, 'ok');
			await load();
			pick.refresh();
		},
	});

	async function load() {
		const uid = getUser().id;
		await loadInto(
			list,
			async () => {
				const { mappings } = await get(`/api/v1/mappings${qs({ user_id: uid })}`, { signal: ctx.signal });
				const devs = await Promise.all(
					mappings.map((m) =>
						get(`/api/v1/devices/${encodeURIComponent(m.device_id)}`, { signal: ctx.signal }).catch((e) => {
							if (e.status === 404) return null; // deleted meanwhile
							throw e;
						}),
					),
				);
				return mappings.map((m, i) => ({ ...m, device: devs[i] })).filter((m) => m.device);
			},
			(rows) => {
				mapped = new Set(rows.map((r) => r.device.id));
				if (rows.length === 0) {
					return h('div', { class: 'empty compact' }, h('h3', {}, 'No devices yet'), h('p', {}, `${getUser().name} sees no device until you assign one below.`));
				}
				return stacked(
					table(
						`Devices assigned to ${getUser().name}`,
						[
							['Device', (r) => h('a', { href: `/admin/devices/${r.device.id}` }, r.device.name)],
							['Serial', (r) => r.device.serial || h('span', { class: 'muted' }, '—')],
							['Region', (r) => r.device.region || h('span', { class: 'muted' }, '—')],
							['Assigned', (r) => when(r.created_at), 'nowrap'],
							['', (r) => removeButton(r), 'act'],
						],
						rows,
					),
				);
			},
		);
	}

	function removeButton(r) {
		const btn = h(
			'button',
			{
				type: 'button',
				class: 'danger small',
				'aria-label': `Remove ${r.device.name}`,
				onclick: async () => {
					if (!(await confirm(`Remove ${r.device.name}?`, `${getUser().name} will no longer see ${r.device.name} or its consumption. The device and its readings stay.`, 'Remove'))) return;
					btn.disabled = true;
					error.textContent = '';
					try {
						await del(`/api/v1/mappings/${r.id}`, { signal: ctx.signal });
						toast(`${r.device.name} was removed from ${getUser().name}.`, 'ok');
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
		{ class: 'card devices-card', 'aria-labelledby': 'devs-h' },
		h('h2', { id: 'devs-h' }, 'Devices'),
		getUser().role === 'admin' && h('p', { class: 'muted' }, 'Admins see every device anyway; assignments matter for clients.'),
		error,
		list,
		h('div', { class: 'assign' }, pick.el),
	);
	return { el, load };
}
