// main.js - the app's entry: who is logged in, and which page to show.
//
// Routing happens in the browser (the server answers index.html for /,
// /login, /app... and /admin...).  A page is a module whose default export
// is `async (ctx) => void`; it fills ctx.main.  ctx carries the route's
// params, the query, the user (ctx.me) and ctx.signal, which aborts when
// the user leaves the page: fetches and live subscriptions pass it, so a
// page never updates after it is gone.
//
// Roles: a client who opens an /admin page gets "not allowed" without the
// admin module even being loaded (and the admin API answers 403 anyway).
import 'uplot/dist/uPlot.min.css';
import './style.css';
import './client/client.css';
import './admin/admin.css';
import './chat/chat.css';
import { get, onSessionExpired, setCsrf } from './api.js';
import { renderShell, setActiveNav } from './layout.js';
import * as live from './live.js';
import { h, mount } from './ui.js';

const routes = [
	['/login', () => import('./login.js'), 'public'],
	['/app', () => import('./client/home.js'), 'user'],
	['/app/devices/:id', () => import('./client/device.js'), 'user'],
	['/admin', () => import('./admin/regions.js'), 'admin'],
	['/admin/regions', () => import('./admin/regions.js'), 'admin'],
	['/admin/regions/:region', () => import('./admin/region.js'), 'admin'],
	['/admin/users', () => import('./admin/users.js'), 'admin'],
	['/admin/users/:id', () => import('./admin/user.js'), 'admin'],
	['/admin/devices', () => import('./admin/devices.js'), 'admin'],
	['/admin/devices/:id', () => import('./admin/device.js'), 'admin'],
	['/admin/tokens', () => import('./admin/tokens.js'), 'admin'],
	['/admin/audit', () => import('./admin/audit.js'), 'admin'],
	['/admin/support', () => import('./chat/inbox.js'), 'admin'],
];

const state = { me: null, leave: null };

function match(path) {
	for (const [pattern, load, access] of routes) {
		const p = pattern.split('/');
		const u = path.replace(/\/+$/, '').split('/');
		if (p.length !== u.length) continue;
		const params = {};
		if (p.every((seg, i) => (seg.startsWith(':') ? ((params[seg.slice(1)] = decodeURIComponent(u[i] || '')), u[i]) : seg === (u[i] ?? ''))))
			return { load, access, params };
	}
	return null;
}

export function navigate(to, { replace = false } = {}) {
	if (to === location.pathname + location.search) return render();
	history[replace ? 'replaceState' : 'pushState'](null, '', to);
	return render();
}

// The place to come back to after logging in.
function here() {
	return location.pathname + location.search;
}

function toLogin(message) {
	const next = location.pathname.startsWith('/login') ? '' : `?next=${encodeURIComponent(here())}`;
	state.me = null;
	live.disconnect();
	sessionStorage.setItem('kw-login-message', message || '');
	navigate(`/login${next}`, { replace: true });
}

onSessionExpired(() => {
	if (state.me) toLogin('Your session has ended. Log in again to continue.');
});

export function setMe(me) {
	state.me = me;
	setCsrf(me ? me.csrf_token : '');
	if (me) live.connect();
	else live.disconnect();
}

export function currentUser() {
	return state.me;
}

async function whoami() {
	try {
		setMe(await get('/api/v1/me', { quiet401: true }));
	} catch (e) {
		if (e.status !== 401) throw e;
		setMe(null);
	}
}

function notAllowed(main, me) {
	document.title = 'Not allowed · kilowatt';
	mount(
		main,
		h(
			'section',
			{ class: 'not-allowed' },
			h('h1', { tabindex: '-1' }, 'Not allowed'),
			h('p', {}, `This page is for administrators. You are logged in as ${me.user.email}.`),
			h('p', {}, h('a', { href: '/app', class: 'button primary' }, 'Go to my devices')),
		),
	);
}

function notFound(main) {
	document.title = 'Not found · kilowatt';
	mount(main, h('section', {}, h('h1', { tabindex: '-1' }, 'Page not found'), h('p', {}, h('a', { href: '/' }, 'Go to the start page'))));
}

let rendering = 0;

export async function render() {
	const seq = ++rendering;
	if (state.leave) state.leave.abort();
	const leave = (state.leave = new AbortController());
	const path = location.pathname;
	if (path === '/') return navigate(state.me ? state.me.landing : '/login', { replace: true });
	const route = match(path);

	if (route?.access !== 'public' && !state.me) return toLogin('');
	if (route?.access === 'public' && state.me && path === '/login') {
		return navigate(safeNext(new URLSearchParams(location.search).get('next')) || state.me.landing, { replace: true });
	}
	const main = renderShell(state.me, { logout });
	setActiveNav(path);
	if (!route) return notFound(main);
	if (route.access === 'admin' && state.me.user.role !== 'admin') return notAllowed(main, state.me);
	const ctx = {
		main,
		me: state.me,
		params: route.params,
		query: new URLSearchParams(location.search),
		signal: leave.signal,
		navigate,
		setMe,
		safeNext,
	};
	try {
		const mod = await route.load();
		if (seq !== rendering) return;
		await mod.default(ctx);
	} catch (e) {
		if (e.name === 'AbortError' || seq !== rendering) return;
		if (e.status === 401) return;
		console.error(e);
		mount(main, h('div', { class: 'error-box', role: 'alert' }, h('h1', {}, 'Something went wrong'), h('p', {}, e.message || String(e))));
	}
	// Move focus to the new page's heading, for keyboard and screen reader users.
	if (seq === rendering && document.activeElement === document.body) main.querySelector('h1')?.focus({ preventScroll: true });
}

// A `next` parameter only ever leads back into this app.
export function safeNext(next) {
	return next && next.startsWith('/') && !next.startsWith('//') && !next.startsWith('/login') ? next : null;
}

async function logout() {
	try {
		await import('./api.js').then((m) => m.post('/api/v1/logout'));
	} catch {
		/* the session is gone either way */
	}
	setMe(null);
	sessionStorage.setItem('kw-login-message', 'You have logged out.');
	navigate('/login', { replace: true });
}

// Same-origin links route in the app (modified clicks open tabs as usual).
document.addEventListener('click', (e) => {
	const a = e.target.closest('a[href]');
	if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
	if (a.target || a.hasAttribute('download') || a.origin !== location.origin) return;
	if (!a.pathname.startsWith('/app') && !a.pathname.startsWith('/admin') && a.pathname !== '/' && a.pathname !== '/login') return;
	e.preventDefault();
	navigate(a.pathname + a.search);
});
addEventListener('popstate', render);
live.on('session-ended', () => whoami().then(() => !state.me && toLogin('Your session has ended. Log in again to continue.')));

whoami()
	.then(render)
	.catch((e) =>
		mount(document.getElementById('app'), h('div', { class: 'error-box', role: 'alert' }, h('h1', {}, 'kilowatt cannot be reached'), h('p', {}, e.message))),
	);
