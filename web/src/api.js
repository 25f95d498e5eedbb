// api.js - the JSON API, as the app calls it.
//
// Every call goes through api(): it sends the session's CSRF token on
// writes, turns an error answer into an ApiError carrying the API's `code`,
// `field` and `message`, and on a 401 (the session ended: expired, logged
// out elsewhere, password changed) sends the user to the login page, which
// brings them back here afterwards.

let csrf = '';
let onExpired = () => {};

export class ApiError extends Error {
	constructor(status, body) {
		const e = (body && body.error) || {};
		super(e.message || `HTTP ${status}`);
		this.status = status;
		this.code = e.code || 'http_error';
		this.field = e.field;
		this.line = e.line;
	}
}

export function setCsrf(token) {
	csrf = token || '';
}

// fn() runs when a request answers 401 although we thought we were logged in.
export function onSessionExpired(fn) {
	onExpired = fn;
}

// '?a=1&b=x' from an object, skipping null/undefined/''.
export function qs(params) {
	const u = new URLSearchParams();
	for (const [k, v] of Object.entries(params || {})) if (v != null && v !== '') u.set(k, v);
	const s = u.toString();
	return s ? `?${s}` : '';
}

export async function api(path, { method = 'GET', body, signal, quiet401 = false } = {}) {
	const headers = { Accept: 'application/json' };
	if (body !== undefined) headers['Content-Type'] = 'application/json';
	if (method !== 'GET' && csrf) headers['X-CSRF-Token'] = csrf;
	let res;
	try {
		res = await fetch(path, {
			method,
			headers,
			body: body === undefined ? undefined : JSON.stringify(body),
			credentials: 'same-origin',
			signal,
		});
	} catch (e) {
		if (e.name === 'AbortError') throw e;
		throw new ApiError(0, { error: { code: 'network', message: 'The server cannot be reached. Check your connection.' } });
	}
	if (res.status === 204) return null;
	let data = null;
	const text = await res.text();
	if (text) {
		try {
			data = JSON.parse(text);
		} catch {
			data = null;
		}
	}
	if (!res.ok) {
		const err = new ApiError(res.status, data);
		if (res.status === 429) err.retryAfter = Number(res.headers.get('Retry-After')) || 0;
		if (res.status === 401 && !quiet401) onExpired();
		throw err;
	}
	return data;
}

export const get = (path, opts) => api(path, opts);
export const post = (path, body, opts) => api(path, { ...opts, method: 'POST', body: body ?? {} });
export const patch = (path, body, opts) => api(path, { ...opts, method: 'PATCH', body });
export const del = (path, opts) => api(path, { ...opts, method: 'DELETE' });

// Reads a paged list ({items, next_cursor}) page by page up to max items.
export async function all(path, key, { max = 5000, signal } = {}) {
	const out = [];
	let cursor = null;
	do {
		const sep = path.includes('?') ? '&' : '?';
		const page = await get(`${path}${sep}limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, { signal });
		out.push(...page[key]);
		cursor = page.next_cursor;
	} while (cursor && out.length < max);
	return out;
}
