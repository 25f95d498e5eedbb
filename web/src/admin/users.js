// users.js - /admin/users: everybody who can log in.  Search (kept in the
// URL as ?q=), paging, and the "New user" form; a generated password is
// shown once, with a copy button.
import { post } from '../api.js';
import { empty, field, formValues, h, mount, secretBox, showErrors, table, when } from '../ui.js';
import { listPage, panel, roleBadge, statusBadge, stacked } from './common.js';

export default async function page(ctx) {
	await listPage(ctx, {
		title: 'Users',
		newLabel: '+ New user',
		form: (close, reload) => newUserForm(ctx, close, reload),
		path: '/api/v1/users',
		key: 'users',
		searchLabel: 'Search users',
		placeholder: 'Name, email or customer reference',
		countText: (users, q) => (users.length > 0 && q ? `Users matching “${q}”` : ''),
		render: (users, q) => {
			if (users.length === 0) {
				return empty(
					q ? 'No user matches' : 'No users yet',
					q ? `Nobody’s name, email or customer reference contains “${q}”.` : 'Create the first account with “New user”.',
				);
			}
			return stacked(
				table(
					'Users',
					[
						['Name', (u) => h('a', { href: `/admin/users/${u.id}` }, u.name || '(no name)')],
						['Email', (u) => h('span', { class: 'break' }, u.email)],
						['Role', roleBadge],
						['Customer ref.', (u) => u.customer_ref || h('span', { class: 'muted' }, '—')],
						['Status', statusBadge],
						['Created', (u) => h('time', { datetime: u.created_at }, when(u.created_at)), 'nowrap'],
					],
					users,
					{ rowClick: (u) => ctx.navigate(`/admin/users/${u.id}`) },
				),
			);
		},
	});
}

function newUserForm(ctx, close, created) {
	const submit = h('button', { class: 'primary', type: 'submit' }, 'Create user');
	const form = h(
		'form',
		{ novalidate: true },
		h(
			'div',
			{ class: 'form-grid' },
			field('name', 'Name', { required: true, autocomplete: 'off', maxlength: 200 }),
			field('email', 'Email', { type: 'email', required: true, autocomplete: 'off' }),
			field('role', 'Role', {
				options: [
					['client', 'Client — sees the devices assigned to them'],
					['admin', 'Admin — manages the whole platform'],
				],
			}),
			field('customer_ref', 'Customer reference', { hint: 'Optional: your billing or contract number.', autocomplete: 'off' }),
			field('password', 'Password', {
				type: 'password',
				autocomplete: 'new-password',
				hint: 'Optional, at least 10 characters. Leave empty and a strong one is generated and shown once.',
			}),
		),
		h('div', { class: 'actions' }, submit, h('button', { type: 'button', onclick: close }, 'Cancel')),
	);
	const box = panel('New user', form);
	form.addEventListener('submit', async (e) => {
		e.preventDefault();
		const v = formValues(form);
		const body = { name: v.name.trim(), email: v.email.trim(), role: v.role };
		if (!body.name) return showErrors(form, { field: 'name', message: 'Enter the person’s name.' });
		if (!body.email) return showErrors(form, { field: 'email', message: 'Enter an email address.' });
		if (v.customer_ref.trim()) body.customer_ref = v.customer_ref.trim();
		if (v.password) body.password = v.password;
		submit.disabled = true;
		try {
			const res = await post('/api/v1/users', body, { signal: ctx.signal });
			const u = res.user;
			mount(
				box,
				h('h2', {}, 'User created'),
				h('p', { role: 'status' }, `${u.name} (${u.email}) can now log in as ${u.role === 'admin' ? 'an admin' : 'a client'}.`),
				res.password
					? secretBox(`The generated password for ${u.email}:`, res.password)
					: h('p', { class: 'muted' }, 'They log in with the password you chose.'),
				h(
					'div',
					{ class: 'actions' },
					h('a', { class: 'button primary', href: `/admin/users/${u.id}` }, u.role === 'client' ? 'Open their page to assign devices' : 'Open their page'),
					h('button', { type: 'button', onclick: close }, 'Done'),
				),
			);
			created();
		} catch (err) {
			if (err.name === 'AbortError') return;
			showErrors(form, err);
			submit.disabled = false;
		}
	});
	return box;
}
