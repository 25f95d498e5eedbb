// inbox.js - /admin/support: every client's conversation, newest activity
// first, with the unread counts; several can be open side by side, each
// with the client's name, email and devices.  ?client_id=7 opens (starts)
// that client's conversation.  The list is refetched on chat.message,
// chat.read and after a reconnect (the conversations refetch themselves).
import { get } from '../api.js';
import * as live from '../live.js';
import { ago, h, mount } from '../ui.js';
import { conversation } from './chat.js';

export default async function page(ctx) {
	document.title = 'Support · kilowatt';
	const open = new Map(); // chat id -> {el, conv, ctl}
	let chats = [];
	const listEl = h('ul', { class: 'chat-inbox-list' });
	const openEl = h('div', { class: 'chat-open' });
	const none = h('p', { class: 'muted chat-none' }, 'Pick a conversation to open it. You can open several.');
	mount(
		ctx.main,
		h(
			'section',
			{ class: 'chat-inbox' },
			h('h1', { tabindex: '-1' }, 'Support'),
			h('div', { class: 'chat-inbox-grid' }, h('nav', { class: 'card chat-inbox-nav', 'aria-labelledby': 'chat-convs' }, h('h2', { id: 'chat-convs' }, 'Conversations'), listEl), h('div', {}, none, openEl)),
		),
	);

	function drawList() {
		if (chats.length === 0) return mount(listEl, h('li', { class: 'muted' }, 'No conversations yet.'));
		mount(
			listEl,
			chats.map((c) =>
				h(
					'li',
					{ class: `${c.unread ? 'unread' : ''}${open.has(c.id) ? ' is-open' : ''}`, 'data-chat-id': c.id },
					h(
						'button',
						{ type: 'button', class: 'chat-inbox-item', 'aria-pressed': String(open.has(c.id)), onclick: () => openChat(c, true) },
						h('span', { class: 'chat-inbox-name' }, c.client?.name || '(no name)'),
						c.unread ? h('span', { class: 'count', 'aria-label': `${c.unread} unread` }, String(c.unread)) : null,
						h('small', { class: 'break' }, c.client?.email || ''),
						c.last_message && h('small', { class: 'chat-inbox-last' }, c.last_message.body.slice(0, 80)),
						h('small', { class: 'muted' }, c.last_message_at ? ago(c.last_message_at) : 'no messages'),
					),
				),
			),
		);
	}

	async function loadList() {
		const doc = await get('/api/v1/chats', { signal: ctx.signal });
		chats = doc.chats;
		drawList();
	}

	let timer = null;
	function reloadSoon() {
		clearTimeout(timer);
		timer = setTimeout(() => loadList().catch(() => {}), 250);
	}
	ctx.signal.addEventListener('abort', () => clearTimeout(timer));

	async function openChat(chat, focus) {
		if (open.has(chat.id)) {
			const o = open.get(chat.id);
			if (focus) o.conv.input.focus();
			return;
		}
		const ctl = new AbortController();
		ctx.signal.addEventListener('abort', () => ctl.abort(), { once: true });
		const conv = conversation(chat, { side: 'admin', visible: () => true, signal: ctl.signal });
		const devices = h('ul', { class: 'chat-devices' }, h('li', { class: 'muted' }, 'Loading devices…'));
		const headId = `chat-h-${chat.id}`;
		const el = h(
			'section',
			{ class: 'card chat-pane', 'aria-labelledby': headId, 'data-chat-id': chat.id },
			h(
				'div',
				{ class: 'chat-pane-head' },
				h('h2', { id: headId }, h('a', { href: `/admin/users/${chat.client.id}` }, chat.client.name || '(no name)')),
				h('button', { type: 'button', class: 'icon', 'aria-label': `Close the conversation with ${chat.client.name || chat.client.email}`, onclick: () => closeChat(chat.id) }, '×'),
			),
			h('p', { class: 'break chat-email' }, h('a', { href: `mailto:${chat.client.email}` }, chat.client.email)),
			devices,
			conv.el,
		);
		open.set(chat.id, { el, conv, ctl });
		openEl.prepend(el);
		none.hidden = true;
		drawList();
		if (focus) conv.input.focus();
		loadDevices(chat.client.id, devices, ctl.signal);
		await conv.load();
		reloadSoon();
	}

	function closeChat(id) {
		const o = open.get(id);
		if (!o) return;
		o.ctl.abort();
		o.el.remove();
		open.delete(id);
		none.hidden = open.size > 0;
		drawList();
		listEl.querySelector(`[data-chat-id="${id}"] button`)?.focus();
	}

	async function loadDevices(userId, el, signal) {
		try {
			const doc = await get(`/api/v1/users/${userId}`, { signal });
			const ids = doc.devices || [];
			if (ids.length === 0) return mount(el, h('li', { class: 'muted' }, 'No devices'));
			const devs = await Promise.all(ids.map((id) => get(`/api/v1/devices/${encodeURIComponent(id)}`, { signal }).catch(() => ({ id, name: id }))));
			mount(el, devs.map((d) => h('li', {}, h('a', { href: `/admin/devices/${encodeURIComponent(d.id)}` }, d.name || d.id))));
		} catch (e) {
			if (e.name !== 'AbortError') mount(el, h('li', { class: 'muted' }, 'Devices unavailable'));
		}
	}

	live.on('chat.message', reloadSoon, ctx.signal);
	live.on('chat.read', reloadSoon, ctx.signal);
	live.on('resync', reloadSoon, ctx.signal);

	await loadList();
	const want = ctx.query.get('client_id');
	if (want) {
		const doc = await get(`/api/v1/chats?client_id=${encodeURIComponent(want)}`, { signal: ctx.signal });
		if (doc.chats[0]) {
			if (!chats.some((c) => c.id === doc.chats[0].id)) {
				chats.push(doc.chats[0]);
				drawList();
			}
			await openChat(doc.chats[0], true);
		}
	}
}
