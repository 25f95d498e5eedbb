// panel.js - the client's "Chat with support": a floating button on every
// client page (with the unread count while the panel is closed) opening a
// panel with the conversation (chat.js).  On a phone the panel fills the
// screen.  Escape closes it and gives the focus back to the button.
import { get } from '../api.js';
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

	(async () => {
		try {
			const doc = await get('/api/v1/chats', { signal: ctl.signal });
			const chat = doc.chats[0];
			if (!chat) return;
			conv = conversation(chat, { side: 'client', visible: () => open, onChange: badge, signal: ctl.signal });
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
