// audit.js - /admin/audit: every admin action, newest first.  Filters (by
// user, object type, object id) live in the URL, so a filtered view can be
// linked to (the user and device pages do).  Each entry shows who did what
// to which object, the changed fields, and the raw before/after.
import { get, qs } from '../api.js';
import { debounce, field, h, mount, pageHead, table, when } from '../ui.js';
import { changes, loadInto, pager, setQuery, show, stacked } from './common.js';

const PAGE = 50;

const ACTIONS = {
	'user.create': 'Created user',
	'user.update': 'Changed user',
	'user.delete': 'Deleted user',
	'user.password_reset': 'Reset password',
	'device.create': 'Created device',
	'device.update': 'Changed device',
	'device.delete': 'Deleted device',
	'mapping.create': 'Assigned device',
	'mapping.delete': 'Removed assignment',
	'token.create': 'Created token',
	'token.revoke': 'Revoked token',
};

const TYPES = [
	['', 'All types'],
	['user', 'Users'],
	['device', 'Devices'],
	['mapping', 'Device assignments'],
	['token', 'Tokens'],
];

export default async function page(ctx) {
	const f = {
		user_id: ctx.query.get('user_id') || '',
		object_type: ctx.query.get('object_type') || '',
		object_id: ctx.query.get('object_id') || '',
	};
	const list = h('div', { class: 'list' });
	const pages = pager(async (cursor) => {
		const data = await loadInto(list, () => get(`/api/v1/audit${qs({ ...f, limit: PAGE, cursor })}`, { signal: ctx.signal }), (d) => render(d.entries));
		return data?.next_cursor;
	}, 'audit entries');

	function apply() {
		setQuery(f);
		clear.hidden = !f.user_id && !f.object_type && !f.object_id;
		pages.reset();
	}

	// The user filter: type a name or email, pick from the suggestions.
	const userField = field('user', 'User', { type: 'search', placeholder: 'Name or email', autocomplete: 'off' });
	const userInput = userField.querySelector('input');
	const userErr = userField.querySelector('.field-error');
	const suggestions = h('datalist', { id: 'audit-users' });
	userInput.setAttribute('list', 'audit-users');
	const known = new Map(); // email -> user
	const suggest = debounce(async () => {
		const q = userInput.value.trim();
		if (!q) return;
		try {
			const { users } = await get(`/api/v1/users${qs({ q, limit: 10 })}`, { signal: ctx.signal });
			for (const u of users) known.set(u.email, u);
			mount(suggestions, users.map((u) => h('option', { value: u.email }, u.name)));
		} catch {
			/* suggestions only */
		}
	}, 200);
	userInput.addEventListener('input', () => {
		userErr.textContent = '';
		if (!userInput.value.trim() && f.user_id) {
			f.user_id = '';
			apply();
		} else suggest();
	});
	const pickUser = async () => {
		const v = userInput.value.trim();
		userErr.textContent = '';
		if (!v) {
			if (f.user_id) {
				f.user_id = '';
				apply();
			}
			return;
		}
		let u = known.get(v.toLowerCase());
		if (!u) {
			try {
				const { users } = await get(`/api/v1/users${qs({ q: v, limit: 2 })}`, { signal: ctx.signal });
				if (users.length === 1) u = users[0];
			} catch {
				/* reported below */
			}
		}
		if (!u) {
			userErr.textContent = 'Pick one user from the suggestions.';
			return;
		}
		userInput.value = u.email;
		if (String(u.id) !== f.user_id) {
			f.user_id = String(u.id);
			apply();
		}
	};
	userInput.addEventListener('change', pickUser);
	userInput.addEventListener('keydown', (e) => e.key === 'Enter' && (e.preventDefault(), pickUser()));
	if (f.user_id) {
		userInput.value = `#${f.user_id}`;
		get(`/api/v1/users/${encodeURIComponent(f.user_id)}`, { signal: ctx.signal })
			.then((r) => {
				known.set(r.user.email, r.user);
				userInput.value = r.user.email;
			})
			.catch(() => {});
	}

	const typeField = field('object_type', 'Object type', { options: TYPES, value: f.object_type });
	typeField.querySelector('select').addEventListener('change', (e) => {
		f.object_type = e.target.value;
		apply();
	});
	const idField = field('object_id', 'Object id', { type: 'search', value: f.object_id, placeholder: 'e.g. a device UUID or user id', autocomplete: 'off' });
	idField.querySelector('input').addEventListener(
		'input',
		debounce((e) => {
			f.object_id = e.target.value.trim();
			apply();
		}, 300),
	);
	const clear = h(
		'button',
		{
			type: 'button',
			onclick: () => {
				f.user_id = f.object_type = f.object_id = '';
				userInput.value = '';
				typeField.querySelector('select').value = '';
				idField.querySelector('input').value = '';
				apply();
			},
		},
		'Clear filters',
	);
	clear.hidden = !f.user_id && !f.object_type && !f.object_id;

	function render(entries) {
		if (entries.length === 0) {
			const filtered = f.user_id || f.object_type || f.object_id;
			return h('div', { class: 'empty' }, h('h2', {}, filtered ? 'No entry matches these filters' : 'Nothing recorded yet'), h('p', {}, filtered ? 'Try fewer filters.' : 'Every change an admin makes to users, devices, assignments and tokens appears here.'));
		}
		return stacked(
			table(
				'Audit log entries, newest first',
				[
					['When', (e) => h('time', { datetime: e.at }, when(e.at)), 'nowrap'],
					['Who', (e) => actor(e.actor)],
					['Action', (e) => h('span', { class: `action ${e.action.split('.')[1] || ''}` }, ACTIONS[e.action] || e.action)],
					['Object', objectCell],
					['Changes', changesCell, 'changes'],
				],
				entries,
			),
		);
	}

	mount(
		ctx.main,
		pageHead('Audit log'),
		h('p', { class: 'muted intro' }, 'Every change made by an admin, a token, the command line or a self sign-up, newest first.'),
		h('form', { class: 'filters card', role: 'search', 'aria-label': 'Filter the audit log', onsubmit: (e) => e.preventDefault() }, userField, suggestions, typeField, idField, h('div', { class: 'filter-actions' }, clear)),
		list,
		pages.el,
	);
	await pages.reset();
}

function actor(a) {
	if (!a) return h('span', { class: 'muted' }, 'unknown');
	switch (a.kind) {
		case 'user':
			return h('a', { href: `/admin/users/${a.id}` }, a.name || `user #${a.id}`);
		case 'token':
			return h('span', {}, 'Token ', h('strong', {}, a.name || `#${a.id}`));
		case 'cli':
			return h('span', {}, 'Command line');
		case 'signup':
			return h('span', {}, 'Self sign-up');
		default:
			return h('span', {}, a.name || a.kind);
	}
}

function objectCell(e) {
	const o = e.after || e.before || {};
	const id = e.object_id;
	switch (e.object_type) {
		case 'user':
			return h('span', {}, h('a', { href: `/admin/users/${id}` }, o.name || `User #${id}`), o.email && h('small', { class: 'muted block' }, o.email));
		case 'device':
			return h('span', {}, h('a', { href: `/admin/devices/${id}` }, o.name || 'Device'), h('small', { class: 'muted block' }, o.serial ? `Serial ${o.serial}` : id));
		case 'mapping':
			return h(
				'span',
				{},
				`Assignment #${id}`,
				o.user_id != null && h('small', { class: 'muted block' }, h('a', { href: `/admin/users/${o.user_id}` }, `user #${o.user_id}`), ' ↔ ', h('a', { href: `/admin/devices/${o.device_id}` }, 'device')),
			);
		case 'token':
			return h('span', {}, o.name ? `Token “${o.name}”` : `Token #${id}`, o.scope && h('small', { class: 'muted block' }, o.scope.startsWith('device:') ? 'device' : o.scope));
		default:
			return `${e.object_type} ${id}`;
	}
}

const HIDDEN = new Set(['id', 'created_at']);

function changesCell(e) {
	let rows;
	if (e.before && e.after) {
		rows = changes(e.before, e.after).map((c) => h('li', {}, h('span', { class: 'key' }, c.key), ' ', h('del', {}, show(c.before)), ' → ', h('ins', {}, show(c.after))));
		if (rows.length === 0) rows = [h('li', { class: 'muted' }, 'no field changed')];
	} else if (e.after || e.before) {
		const o = e.after || e.before;
		rows = Object.entries(o)
			.filter(([k, v]) => !HIDDEN.has(k) && v !== '' && v !== null)
			.map(([k, v]) => h('li', {}, h('span', { class: 'key' }, k), ' ', e.after ? h('ins', {}, show(v)) : h('del', {}, show(v))));
	} else {
		rows = [h('li', { class: 'muted' }, e.action === 'user.password_reset' ? 'a new password was generated' : 'no details')];
	}
	return h(
		'div',
		{},
		h('ul', { class: 'diff' }, rows),
		(e.before || e.after) && h('details', { class: 'raw' }, h('summary', {}, 'Raw JSON'), h('pre', {}, JSON.stringify({ before: e.before, after: e.after }, null, 2))),
	);
}
