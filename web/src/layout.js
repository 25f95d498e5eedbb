// layout.js - the frame around every page: the header with the role's
// navigation, the live-connection dot, the notification bell and the
// account menu; <main id="main"> is where pages draw.
//
// The bell holds the user's notifications (docs/API.md, "Notifications"):
// the newest ones from GET /api/v1/notifications when the shell is drawn
// (and again after a reconnect: events are not replayed), and every
// `alert` (or `notification`) event from the WebSocket, each also shown as
// a toast.  Items are merged by id, so an event that is also in a fetched
// page shows once.  The count is the server's unread count: the unread
// items shown plus `extra`, those beyond the fetched page.  Opening the
// list marks them read, through the API (POST /api/v1/notifications/read),
// and a `notifications_read` event (another tab did it) marks them here.
// The account menu also holds the user's "e-mail me alerts" choice
// (PATCH /api/v1/me {"email_alerts"}).
import { get, patch, post } from './api.js';
import * as live from './live.js';
import { ago, h, mount, toast } from './ui.js';
import { mountChatPanel } from './chat/panel.js';

let shell = null; // { user id, main element }
let dropChat = null; // removes the client's chat panel
// items: newest first, {id?, title, text, href, at, read}; extra: unread
// ones the server has beyond them; gen: bumps when the user changes, so a
// late answer for a previous user is dropped.
const bell = { items: [], extra: 0, open: false, button: null, list: null, gen: 0 };
const PAGE = 50; // notifications fetched for the list

const NAV = {
	admin: [
		['/admin', 'Dashboard'],
		['/admin/users', 'Users'],
		['/admin/devices', 'Devices'],
		['/admin/tokens', 'Tokens'],
		['/admin/audit', 'Audit log'],
		['/admin/support', 'Support'],
	],
	client: [['/app', 'My devices']],
};

export function renderShell(me, { logout }) {
	const root = document.getElementById('app');
	const key = me ? me.user.id : 0;
	if (shell && shell.key === key) return shell.main;
	bell.items = [];
	bell.extra = 0;
	bell.open = false;
	bell.button = null;
	bell.gen++;
	dropChat?.();
	dropChat = null;
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
	if (role === 'client') dropChat = mountChatPanel(root);
	shell = { key, main };
	loadNotifications();
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
		h(
			'div',
			{ class: 'menu' },
			h('p', {}, h('strong', {}, me.user.name), h('br'), h('small', {}, me.user.email, ' · ', me.user.role)),
			emailAlerts(me),
			h('button', { onclick: logout }, 'Log out'),
		),
	);
}

// The "e-mail me alerts" checkbox: saved at once; put back if that fails.
function emailAlerts(me) {
	const box = h('input', {
		type: 'checkbox',
		id: 'email-alerts',
		checked: !!me.user.email_alerts,
		onchange: async () => {
			const want = box.checked;
			box.disabled = true;
			try {
				const res = await patch('/api/v1/me', { email_alerts: want });
				me.user.email_alerts = res.user.email_alerts;
				toast(want ? 'Alerts will also come by e-mail.' : 'Alerts will no longer come by e-mail.', 'ok');
			} catch (e) {
				box.checked = !want;
				toast(e.message, 'error', { title: 'Not saved' });
			} finally {
				box.disabled = false;
			}
		},
	});
	return h('p', { class: 'field check' }, box, h('label', { for: 'email-alerts' }, 'E-mail me alerts about my devices'));
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
	if (bell.open) markAllRead();
	drawBell();
}

function unreadCount() {
	return bell.items.filter((n) => !n.read).length + bell.extra;
}

// Opening the list: everything in it, and what lies beyond it, is read.
function markAllRead() {
	const ids = bell.items.filter((n) => !n.read && n.id != null).map((n) => n.id);
	const body = bell.extra > 0 ? { all: true } : ids.length ? { ids } : null;
	for (const n of bell.items) n.read = true;
	bell.extra = 0;
	if (body) post('/api/v1/notifications/read', body).catch(() => loadNotifications());
}

// A server notification (API list item or /ws event) as a bell item.
function item(n) {
	return { id: n.id, title: n.title || 'Alert', text: n.text || n.message || '', href: n.href, at: n.at || new Date().toISOString(), read: !!n.read_at };
}

// The newest notifications and the unread count, from the API; items that
// arrived live meanwhile stay (merged by id).
async function loadNotifications() {
	const gen = bell.gen;
	let doc;
	try {
		doc = await get(`/api/v1/notifications?limit=${PAGE}`, { quiet401: true });
	} catch {
		return; // logged out, or the server away: the live events still count
	}
	if (gen !== bell.gen || !bell.button) return;
	const fetched = doc.notifications.map(item);
	const known = new Set(fetched.map((n) => n.id));
	const liveOnly = bell.items.filter((n) => n.id == null || !known.has(n.id));
	bell.items = [...liveOnly, ...fetched].sort((a, b) => Date.parse(b.at) - Date.parse(a.at)).slice(0, 100);
	bell.extra = Math.max(0, doc.unread - fetched.filter((n) => !n.read).length);
	if (bell.open) markAllRead(); // on screen already
	drawBell();
}

function drawBell() {
	if (!bell.button) return;
	const unread = unreadCount();
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

// Adds a notification to the bell (unless it is there already: same id)
// and shows it as a toast.
export function notify({ id, title, text, href, at, kind = 'alert' }) {
	if (id != null && bell.items.some((n) => n.id === id)) return;
	const n = item({ id, title, text, href, at });
	n.read = bell.open; // the list is open: seen as it arrives
	bell.items.unshift(n);
	bell.items.length = Math.min(bell.items.length, 100);
	if (bell.open && id != null) post('/api/v1/notifications/read', { ids: [id] }).catch(() => {});
	drawBell();
	toast(n.text, kind, { title: n.title });
}

for (const type of ['notification', 'alert']) {
	live.on(type, (e) => notify({ id: e.id, title: e.title, text: e.text || e.message, href: e.href, at: e.at }));
}

// Another tab (or this one) marked notifications read.
live.on('notifications_read', (e) => {
	const ids = new Set(e.ids || []);
	for (const n of bell.items) if (e.all || ids.has(n.id)) n.read = true;
	if (e.all) bell.extra = 0;
	if (typeof e.unread === 'number') bell.extra = Math.max(0, e.unread - bell.items.filter((n) => !n.read).length);
	drawBell();
});

// Events missed while the socket was down are not replayed: refetch.
live.on('resync', () => loadNotifications());
