// panel.js - the client's "Chat with support": a floating button on every
// client page (with the unread count while the panel is closed) opening a
// panel with the conversation (chat.js).  On a phone the panel fills the
// screen.  Escape closes it and gives the focus back to the button.
import { all, get } from '../api.js';
import { h } from '../ui.js';
import { conversation } from './chat.js';

// Adds the button and the panel to root; returns a function removing them.
export function mountChatPanel(root) {
	const ctl = new AbortController();
	let open = false;
	let conv = null;
	const count = h('span', { class: 'count', hidden: true });
	const button = h('button', { type: 'button', class: 'chat-fab primary', 'aria-expanded': 'false', 'aria-controls': 'chat-panel', onclick: () => toggle(!open) }, h('span', { class: 'chat-fab-label' }, 'Chat with support'), count);
	const body = h('div', { class: 'chat-panel-body' }, h('p', { class: 'muted' }, 'Loading…'));
	const panel = h(
		'section',
		{ id: 'chat-panel', class: 'chat-panel', hidden: true, role: 'dialog', 'aria-label': 'Chat with support', onkeydown: (e) => e.key === 'Escape' && toggle(false) },
		h('div', { class: 'chat-panel-head' }, h('strong', {}, 'Support'), h('button', { type: 'button', class: 'icon', 'aria-label': 'Close the chat', onclick: () => toggle(false) }, '×')),
		body,
	);
	const wrap = h('div', { class: 'chat-dock' }, panel, button);
	root.append(wrap);

	function badge() {
		const n = conv && !open ? conv.unread() : 0;
		count.hidden = n === 0;
		count.textContent = n > 99 ? '99+' : String(n);
		button.setAttribute('aria-label', n ? `Chat with support, ${n} unread` : 'Chat with support');
	}

	function toggle(want) {
		if (want && !open) attachDefaults();
		open = want;
		panel.hidden = !open;
		button.setAttribute('aria-expanded', String(open));
		wrap.classList.toggle('open', open);
		if (open) {
			(conv?.input || panel.querySelector('button')).focus();
			conv?.markRead();
		} else button.focus();
		badge();
	}

	// "Attach a chart": a device of the client's and a day, sent with the
	// next message; opened from a device page it defaults to that device
	// and day.
	const uid = Math.random().toString(36).slice(2, 7);
	const devSel = h('select', { id: `chat-dev-${uid}` });
	const dayIn = h('input', { id: `chat-day-${uid}`, type: 'date' });
	const attachBox = h(
		'fieldset',
		{ class: 'chat-attach', hidden: true },
		h('legend', {}, 'Chart to attach'),
		h('label', { for: devSel.id }, 'Chart of device'),
		devSel,
		h('label', { for: dayIn.id }, 'Chart of day'),
		dayIn,
		h('button', { type: 'button', onclick: () => showAttach(false) }, "Don't attach"),
	);
	const attachBtn = h('button', { type: 'button', class: 'chat-attach-toggle', 'aria-expanded': 'false', hidden: true, onclick: () => showAttach(attachBox.hidden) }, 'Attach a chart');
	function showAttach(want) {
		attachBox.hidden = !want;
		attachBtn.setAttribute('aria-expanded', String(want));
		if (want) devSel.focus();
	}
	function localToday() {
		const d = new Date();
		return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
	}
	// Defaults from the page the panel is opened on.
	function attachDefaults() {
		const m = /^\/app\/devices\/([^/]+)\/?$/.exec(location.pathname);
		const q = new URLSearchParams(location.search);
		const date = q.get('date') || '';
		if (m && [...devSel.options].some((o) => o.value === decodeURIComponent(m[1]))) devSel.value = decodeURIComponent(m[1]);
		dayIn.value = /^\d{4}-\d{2}-\d{2}$/.test(date) ? date : /^\d{4}-\d{2}$/.test(date) ? `${date}-01` : localToday();
	}
	const attach = {
		el: h('div', { class: 'chat-attach-wrap' }, attachBtn, attachBox),
		take() {
			if (attachBox.hidden || !devSel.value || !dayIn.value) return null;
			const ctx = { device_id: devSel.value, date: dayIn.value };
			showAttach(false);
			return ctx;
		},
	};

	(async () => {
		try {
			const doc = await get('/api/v1/chats', { signal: ctl.signal });
			const chat = doc.chats[0];
			if (!chat) return;
			all('/api/v1/devices', 'devices', { signal: ctl.signal })
				.then((devices) => {
					devSel.replaceChildren(...devices.map((d) => h('option', { value: d.id }, d.name || d.serial || d.id)));
					attachBtn.hidden = devices.length === 0;
					if (open) attachDefaults();
				})
				.catch(() => {});
			conv = conversation(chat, { side: 'client', visible: () => open, onChange: badge, signal: ctl.signal, attach });
			body.replaceChildren(conv.el);
			await conv.load();
		} catch (e) {
			if (e.name !== 'AbortError') body.replaceChildren(h('p', { class: 'error-box', role: 'alert' }, `The chat cannot be loaded: ${e.message}`));
		}
	})();

	return () => {
		ctl.abort();
		wrap.remove();
	};
}
