// chat.js - one support conversation on screen, shared by the client's
// panel (panel.js) and the admins' inbox (inbox.js); docs/API.md, "Chat".
//
// Messages are kept by server id (merging the history, chat.message
// events and answers, so nothing shows twice); the ones being sent are
// kept by their client_msg_id until the server's copy arrives.  Sending
// goes over /ws (chat.send) and falls back to POST when the socket is not
// open or did not confirm in time (client_msg_id makes a retry harmless).
// Bodies are shown as text, never parsed as HTML.
import { get, post } from '../api.js';
import * as live from '../live.js';
import { h, mount, toast } from '../ui.js';

const PAGE = 50;
const TYPING_EVERY = 2000;
const TYPING_SHOWN = 5000;
const CONFIRM_WITHIN = 8000;

export function hhmm(iso) {
	return new Date(iso).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
}

// A message's attached chart (docs/API.md, "Chat"): a link to that day.
function chartLink(ctx) {
	if (!ctx?.href) return null;
	return h('p', { class: 'chat-context' }, h('a', { href: ctx.href }, `Chart: ${ctx.device_name || 'device'}, ${ctx.date}`));
}

function uuid() {
	return crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(36).slice(2)}`;
}

// chat: {id, client}; side: 'client' | 'admin' (who is looking);
// visible(): whether the conversation is on screen now; onChange(): the
// unread count may have changed; signal ends the subscriptions;
// attach (the client's panel): {el, take()} where take() answers the
// context for the next message ({device_id, date}) or null.
export function conversation(chat, { side, visible = () => true, onChange = () => {}, signal, attach = null }) {
	const other = side === 'client' ? 'admin' : 'client';
	const msgs = new Map(); // id -> message
	const pending = new Map(); // client_msg_id -> {body, at, failed, timer}
	let nextBefore = null;
	let loaded = false;
	let typingTimer = null;
	let lastTypingSent = 0;
	let readSent = 0;

	const list = h('ol', { class: 'chat-msgs' });
	const earlier = h('button', { type: 'button', class: 'chat-earlier', hidden: true, onclick: loadEarlier }, 'Load earlier');
	const log = h('div', { class: 'chat-log', role: 'log', 'aria-label': 'Messages', tabindex: '0' }, earlier, list);
	const typing = h('p', { class: 'chat-typing', 'aria-live': 'polite' });
	const boxId = `chat-in-${chat.id}-${Math.random().toString(36).slice(2, 6)}`;
	const input = h('textarea', { id: boxId, rows: 2, maxlength: 4000, placeholder: 'Write a message…', oninput: onTyping, onkeydown: onKey });
	const form = h(
		'form',
		{ class: 'chat-form', onsubmit: (e) => (e.preventDefault(), sendInput()) },
		attach?.el,
		h('label', { for: boxId, class: 'sr-only' }, side === 'client' ? 'Message to support' : `Message to ${chat.client?.name || 'the client'}`),
		input,
		h('button', { type: 'submit', class: 'primary' }, 'Send'),
	);
	const el = h('div', { class: 'chat-conv', 'data-chat-id': chat.id }, log, typing, form);

	function merge(m) {
		const had = msgs.get(m.id);
		msgs.set(m.id, had && had.read_at && !m.read_at ? { ...m, read_at: had.read_at } : m);
		const p = m.client_msg_id && pending.get(m.client_msg_id);
		if (p && m.from === side) {
			clearTimeout(p.timer);
			pending.delete(m.client_msg_id);
		}
	}

	function unread() {
		let n = 0;
		for (const m of msgs.values()) if (m.from === other && !m.read_at) n++;
		return n;
	}

	function draw() {
		const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
		const sorted = [...msgs.values()].sort((a, b) => a.id - b.id);
		const items = sorted.map((m) => {
			const mine = m.from === side;
			const who = m.from === 'admin' ? (side === 'admin' ? m.sender?.name || 'A former admin' : `${m.sender?.name || 'Support'} (support)`) : side === 'client' ? 'You' : m.sender?.name || chat.client?.name || 'Client';
			return h(
				'li',
				{ class: `chat-msg ${mine ? 'mine' : 'theirs'}`, 'data-id': m.id },
				h('span', { class: 'chat-who' }, who, ' · ', h('time', { datetime: m.created_at }, hhmm(m.created_at))),
				h('p', { class: 'chat-body' }, m.body),
				chartLink(m.context),
				mine && h('small', { class: 'chat-status' }, m.read_at ? `Read ${hhmm(m.read_at)}` : 'Sent'),
			);
		});
		for (const [cmid, p] of pending) {
			items.push(
				h(
					'li',
					{ class: 'chat-msg mine pending', 'data-cmid': cmid },
					h('span', { class: 'chat-who' }, 'You'),
					h('p', { class: 'chat-body' }, p.body),
					p.context && h('p', { class: 'chat-context muted' }, `Chart attached: ${p.context.date}`),
					h('small', { class: 'chat-status' }, p.failed ? `Not sent: ${p.failed}` : 'Sending…'),
					p.failed && h('button', { type: 'button', onclick: () => retry(cmid) }, 'Try again'),
				),
			);
		}
		if (items.length === 0 && loaded) items.push(h('li', { class: 'chat-empty muted' }, side === 'client' ? 'Ask us anything about your devices and your usage.' : 'No messages yet.'));
		mount(list, items);
		earlier.hidden = !nextBefore;
		if (atBottom) log.scrollTop = log.scrollHeight;
		onChange();
	}

	async function load() {
		const doc = await get(`/api/v1/chats/${chat.id}/messages?limit=${PAGE}`, { signal });
		for (const m of doc.messages) merge(m);
		nextBefore = doc.next_before;
		loaded = true;
		draw();
		log.scrollTop = log.scrollHeight;
		markRead();
	}

	async function loadEarlier() {
		if (!nextBefore) return;
		const before = log.scrollHeight - log.scrollTop;
		const doc = await get(`/api/v1/chats/${chat.id}/messages?limit=${PAGE}&before=${nextBefore}`, { signal });
		for (const m of doc.messages) merge(m);
		nextBefore = doc.next_before;
		draw();
		log.scrollTop = log.scrollHeight - before;
	}

	// After a reconnect: newest pages until one holds a known id.  The
	// pages fetched replace what we had (read_at may have changed).
	async function resync() {
		if (!loaded) return load();
		let before = null;
		for (let i = 0; i < 20; i++) {
			const doc = await get(`/api/v1/chats/${chat.id}/messages?limit=${PAGE}${before ? `&before=${before}` : ''}`, { signal });
			const known = doc.messages.some((m) => msgs.has(m.id));
			for (const m of doc.messages) merge(m);
			if (known || !doc.next_before) break;
			before = doc.next_before;
		}
		// Pending ones that never got an answer: send again (same id).
		for (const cmid of pending.keys()) if (!pending.get(cmid).failed) postIt(cmid);
		draw();
		markRead();
	}

	function postIt(cmid) {
		const p = pending.get(cmid);
		if (!p) return;
		clearTimeout(p.timer);
		post(`/api/v1/chats/${chat.id}/messages`, { body: p.body, client_msg_id: cmid, ...(p.context ? { context: p.context } : {}) }, { signal })
			.then((m) => {
				merge(m);
				draw();
			})
			.catch((e) => {
				if (e.name === 'AbortError' || !pending.has(cmid)) return;
				p.failed = e.message;
				draw();
			});
	}

	function sendIt(cmid) {
		const p = pending.get(cmid);
		if (live.send({ type: 'chat.send', chat_id: chat.id, body: p.body, client_msg_id: cmid, ...(p.context ? { context: p.context } : {}) })) {
			p.timer = setTimeout(() => postIt(cmid), CONFIRM_WITHIN);
		} else postIt(cmid);
	}

	function retry(cmid) {
		const p = pending.get(cmid);
		if (!p) return;
		p.failed = null;
		draw();
		sendIt(cmid);
	}

	function sendInput() {
		const body = input.value;
		if (!body.trim()) return;
		const cmid = uuid();
		const context = attach?.take() || null;
		pending.set(cmid, { body, context, at: new Date().toISOString(), failed: null, timer: null });
		input.value = '';
		draw();
		log.scrollTop = log.scrollHeight;
		sendIt(cmid);
	}

	function onKey(e) {
		if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
			e.preventDefault();
			sendInput();
		}
	}

	function onTyping() {
		const now = Date.now();
		if (!input.value || now - lastTypingSent < TYPING_EVERY) return;
		lastTypingSent = now;
		live.send({ type: 'chat.typing', chat_id: chat.id });
	}

	function hideTyping() {
		clearTimeout(typingTimer);
		typing.textContent = '';
	}

	// The other side's messages on screen in a focused window are read.
	function markRead() {
		if (!loaded || !visible() || !document.hasFocus()) return;
		let upTo = 0;
		for (const m of msgs.values()) if (m.from === other && !m.read_at && m.id > upTo) upTo = m.id;
		if (!upTo || upTo <= readSent) return;
		readSent = upTo;
		if (!live.send({ type: 'chat.read', chat_id: chat.id, up_to: upTo })) {
			post(`/api/v1/chats/${chat.id}/read`, { up_to: upTo }, { signal })
				.then((r) => r && applyRead(r.message_ids, r.read_at))
				.catch(() => (readSent = 0));
		}
	}

	function applyRead(ids, at) {
		for (const id of ids || []) {
			const m = msgs.get(id);
			if (m && !m.read_at) msgs.set(id, { ...m, read_at: at });
		}
		draw();
	}

	live.on(
		'chat.message',
		(e) => {
			if (e.chat_id !== chat.id || !e.message) return;
			if (e.message.from === other) hideTyping();
			merge(e.message);
			draw();
			markRead();
		},
		signal,
	);
	live.on(
		'chat.read',
		(e) => {
			if (e.chat_id === chat.id) applyRead(e.message_ids, e.read_at);
		},
		signal,
	);
	live.on(
		'chat.typing',
		(e) => {
			if (e.chat_id !== chat.id || e.from !== other) return;
			typing.textContent = side === 'client' ? 'Support is typing…' : `${e.user?.name || chat.client?.name || 'The client'} is typing…`;
			clearTimeout(typingTimer);
			typingTimer = setTimeout(hideTyping, TYPING_SHOWN);
		},
		signal,
	);
	live.on(
		'chat.error',
		(e) => {
			if (e.request === 'chat.send' && e.client_msg_id && pending.has(e.client_msg_id)) {
				const p = pending.get(e.client_msg_id);
				clearTimeout(p.timer);
				p.failed = e.message || e.code;
				draw();
			} else if (e.request === 'chat.read' && e.chat_id === chat.id) readSent = 0;
			else if (e.chat_id === chat.id && e.request !== 'chat.typing') toast(e.message || e.code, 'error', { title: 'Chat' });
		},
		signal,
	);
	live.on('resync', () => resync().catch(() => {}), signal);
	const onFocus = () => markRead();
	addEventListener('focus', onFocus);
	signal?.addEventListener('abort', () => {
		removeEventListener('focus', onFocus);
		hideTyping();
		for (const p of pending.values()) clearTimeout(p.timer);
	});

	return { el, input, load, markRead, unread };
}
