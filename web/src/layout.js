// layout.js - the frame around every page: the header with the role's
// navigation, the live-connection dot, the notification bell and the
// account menu; <main id="main"> is where pages draw.
//
// The bell collects `notification` and `alert` events from the WebSocket
// (the server pushes them; see docs/API.md), shows each as a toast too, and
// counts the unread ones.  Opening the list marks them read.
import * as live from './live.js';
import { ago, h, mount, toast } from './ui.js';

let shell = null; // { user id, main element }
const bell = { items: [], open: false, button: null, list: null };

const NAV = {
	admin: [
		['/admin', 'Dashboard'],
		['/admin/users', 'Users'],
		['/admin/devices', 'Devices'],
		['/admin/tokens', 'Tokens'],
		['/admin/audit', 'Audit log'],
	],
	client: [['/app', 'My devices']],
};

export function renderShell(me, { logout }) {
	const root = document.getElementById('app');
	const key = me ? me.user.id : 0;
	if (shell && shell.key === key) return shell.main;
	bell.items = [];
	const main = h('main', { id: 'main', tabindex: '-1' });
	if (!me) {
		mount(root, h('div', { class: 'bare' }, main));
		shell = { key, main };
		return main;
	}
	const role = me.user.role;
	const dot = h('span', { class: 'live-dot', role: 'status', 'aria-live': 'polite', title: 'Live updates' });
	const showState = (s) => {
		dot.dataset.state = s;
		dot.textContent = s === 'live' ? 'Live' : s === 'off' ? '' : 'Reconnecting…';
	};
	showState(live.liveState());
	live.on('state', (e) => showState(e.state));
	mount(
		root,
		h(
			'header',
			{ class: 'top' },
			h('a', { class: 'brand', href: role === 'admin' ? '/admin' : '/app', 'aria-label': 'kilowatt home' }, h('span', { class: 'bolt', 'aria-hidden': 'true' }), 'kilowatt'),
			h('nav', { 'aria-label': 'Main' }, h('ul', {}, NAV[role].map(([href, label]) => h('li', {}, h('a', { href }, label))))),
			h('div', { class: 'tools' }, dot, bellButton(), accountMenu(me, logout)),
		),
		main,
	);
	shell = { key, main };
	return main;
}

// Marks the nav link of the current section with aria-current.
export function setActiveNav(path) {
	for (const a of document.querySelectorAll('header nav a')) {
		const href = a.getAttribute('href');
		const current = href === path || (href !== '/admin' && href !== '/app' && path.startsWith(href + '/')) || (href === '/app' && path.startsWith('/app/')) || (href === '/admin' && path.startsWith('/admin/regions'));
		if (current) a.setAttribute('aria-current', 'page');
		else a.removeAttribute('aria-current');
	}
}

function accountMenu(me, logout) {
	return h(
		'details',
		{ class: 'account' },
		h('summary', { 'aria-label': `Account: ${me.user.name || me.user.email}` }, h('span', { class: 'avatar', 'aria-hidden': 'true' }, (me.user.name || me.user.email).slice(0, 1).toUpperCase()), h('span', { class: 'who' }, me.user.name || me.user.email)),
		h('div', { class: 'menu' }, h('p', {}, h('strong', {}, me.user.name), h('br'), h('small', {}, me.user.email, ' · ', me.user.role)), h('button', { onclick: logout }, 'Log out')),
	);
}

function bellButton() {
	bell.count = h('span', { class: 'count', hidden: true });
	bell.list = h('div', { class: 'bell-list', hidden: true, role: 'region', 'aria-label': 'Notifications' });
	bell.button = h(
		'button',
		{ class: 'bell icon', 'aria-expanded': 'false', 'aria-label': 'Notifications, none unread', onclick: toggleBell },
		h('span', { class: 'bell-icon', 'aria-hidden': 'true' }),
		bell.count,
	);
	drawBell();
	return h('div', { class: 'bell-wrap' }, bell.button, bell.list);
}

function toggleBell() {
	bell.open = !bell.open;
	bell.list.hidden = !bell.open;
	bell.button.setAttribute('aria-expanded', String(bell.open));
	if (bell.open) for (const n of bell.items) n.read = true;
	drawBell();
}

function drawBell() {
	const unread = bell.items.filter((n) => !n.read).length;
	bell.count.hidden = unread === 0;
	bell.count.textContent = unread > 99 ? '99+' : String(unread);
	bell.button.setAttribute('aria-label', `Notifications, ${unread || 'none'} unread`);
	mount(
		bell.list,
		h('h2', {}, 'Notifications'),
		bell.items.length === 0
			? h('p', { class: 'muted' }, 'Nothing yet. Alerts about your devices appear here as they happen.')
			: h(
					'ul',
					{},
					bell.items.map((n) =>
						h('li', { class: n.read ? '' : 'unread' }, n.href ? h('a', { href: n.href }, n.title) : h('strong', {}, n.title), h('p', {}, n.text), h('small', {}, ago(n.at))),
					),
			  ),
	);
}

// Adds a notification to the bell and shows it as a toast.
export function notify({ title, text, href, at, kind = 'alert' }) {
	bell.items.unshift({ title, text, href, at: at || new Date().toISOString(), read: false });
	bell.items.length = Math.min(bell.items.length, 100);
	drawBell();
	toast(text, kind, { title });
}

for (const type of ['notification', 'alert']) {
	live.on(type, (e) => notify({ title: e.title || 'Alert', text: e.text || e.message || '', href: e.href, at: e.at }));
}
