// login.js - the login page.  After a login the user goes back to the page
// they were sent here from (?next=, when their role may see it), else to
// their role's landing page: /admin or /app.
import { post } from './api.js';
import { field, h, mount, showErrors } from './ui.js';

export default async function login(ctx) {
	document.title = 'Log in · kilowatt';
	const message = sessionStorage.getItem('kw-login-message');
	sessionStorage.removeItem('kw-login-message');
	const submit = h('button', { class: 'primary wide', type: 'submit' }, 'Log in');
	const form = h(
		'form',
		{ class: 'login-form', novalidate: true },
		field('email', 'Email', { type: 'email', required: true, autocomplete: 'username' }),
		field('password', 'Password', { type: 'password', required: true, autocomplete: 'current-password' }),
		submit,
	);
	form.addEventListener('submit', async (e) => {
		e.preventDefault();
		const email = form.email.value.trim();
		const password = form.password.value;
		if (!email) return showErrors(form, { field: 'email', message: 'Enter your email address.' });
		if (!password) return showErrors(form, { field: 'password', message: 'Enter your password.' });
		submit.disabled = true;
		submit.textContent = 'Logging in…';
		try {
			const me = await post('/api/v1/login', { email, password }, { quiet401: true });
			ctx.setMe(me);
			const next = ctx.safeNext(ctx.query.get('next'));
			const allowed = next && (me.user.role === 'admin' || !next.startsWith('/admin'));
			ctx.navigate(allowed ? next : me.landing, { replace: true });
		} catch (err) {
			if (err.status === 401) err = { field: 'password', message: 'Wrong email or password.' };
			else if (err.status === 429)
				err = { message: `Too many failed attempts. Try again in ${Math.max(1, Math.ceil((err.retryAfter || 60) / 60))} minute(s).` };
			showErrors(form, err);
			submit.disabled = false;
			submit.textContent = 'Log in';
		}
	});
	mount(
		ctx.main,
		h(
			'section',
			{ class: 'login' },
			h('div', { class: 'login-brand', 'aria-hidden': 'true' }, h('span', { class: 'bolt' }), 'kilowatt'),
			h('h1', { tabindex: '-1' }, 'Log in'),
			h('p', { class: 'muted' }, 'Your energy, hour by hour.'),
			message && h('p', { class: 'notice', role: 'status' }, message),
			form,
		),
	);
	form.email.focus();
}
