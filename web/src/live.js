// live.js - the WebSocket to /ws: events pushed by the server.
//
// Events are JSON {"type": ..., ...} (docs/API.md, "WebSocket").  Pages
// subscribe with on(type, fn, signal); the subscription ends when the
// page's signal aborts.  The socket reconnects with exponential backoff
// (1 s doubling to 30 s, with jitter; only the server's hello resets it, so
// a server that accepts and drops at once is not hammered).  After a
// reconnect a synthetic {"type": "resync"} event tells every page to
// refetch what it shows, so nothing missed while away stays missing.

const listeners = new Map(); // type -> Set of fn
let ws = null;
let wanted = false;
let attempt = 0;
let timer = null;
let everOpen = false;
let state = 'off'; // 'off' | 'connecting' | 'live' | 'retrying'

export function on(type, fn, signal) {
	if (!listeners.has(type)) listeners.set(type, new Set());
	listeners.get(type).add(fn);
	const off = () => listeners.get(type).delete(fn);
	signal?.addEventListener('abort', off, { once: true });
	return off;
}

function emit(ev) {
	for (const fn of listeners.get(ev.type) || []) {
		try {
			fn(ev);
		} catch (e) {
			console.error('live listener', e);
		}
	}
	for (const fn of listeners.get('*') || []) fn(ev);
}

function setState(s) {
	state = s;
	emit({ type: 'state', state: s });
}

export function liveState() {
	return state;
}

function open() {
	clearTimeout(timer);
	if (!wanted) return;
	setState(everOpen ? 'retrying' : 'connecting');
	const url = `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/ws`;
	let sock;
	try {
		sock = new WebSocket(url);
	} catch {
		return retry();
	}
	ws = sock;
	sock.onopen = () => {
		setState('live');
		if (everOpen) emit({ type: 'resync', reason: 'reconnected' });
		everOpen = true;
	};
	sock.onmessage = (m) => {
		let ev;
		try {
			ev = JSON.parse(m.data);
		} catch {
			return;
		}
		if (!ev || typeof ev.type !== 'string') return;
		// `seq` counts the server's events for all sockets, so this socket
		// sees gaps; only a reconnect can lose events (resync above).
		if (ev.type === 'hello') attempt = 0; // accepted: a later drop retries quickly again
		emit(ev);
	};
	sock.onclose = (e) => {
		if (ws !== sock) return;
		ws = null;
		// 1008: the session ended (logout, password change): let the API's
		// 401 handling take the user to the login page.
		if (e.code === 1008) emit({ type: 'session-ended' });
		retry();
	};
}

function retry() {
	if (!wanted) return setState('off');
	setState('retrying');
	const base = Math.min(30000, 1000 * 2 ** attempt++);
	timer = setTimeout(open, base / 2 + Math.random() * (base / 2));
}

// Sends a JSON message over the socket; false when it is not open (the
// caller falls back to HTTP).
export function send(msg) {
	if (!ws || ws.readyState !== 1) return false;
	ws.send(JSON.stringify(msg));
	return true;
}

export function connect() {
	if (wanted) return;
	wanted = true;
	attempt = 0;
	open();
}

export function disconnect() {
	wanted = false;
	everOpen = false;
	clearTimeout(timer);
	if (ws) {
		const s = ws;
		ws = null;
		s.close(1000);
	}
	setState('off');
}

// Reconnect at once when the browser comes back online or the tab returns.
addEventListener('online', () => wanted && !ws && open());
document.addEventListener('visibilitychange', () => {
	if (document.visibilityState === 'visible' && wanted && !ws) open();
});
