// Sign in, create an account, verify the email address.
import { get, post } from '../api.js';
import { h, field, errorArea, busy, toast } from '../ui.js';
import { session, setMe, navigate, report } from '../session.js';

// Where to go after signing in: ?next= when it is a dashboard path.
function nextPath(query) {
	const n = query.get('next') || '/';
	return /^\/(?!\/)/.test(n) && !n.startsWith('/api/') ? n : '/';
}

async function signedIn(query) {
	setMe(await get('/auth/me'));
	navigate(nextPath(query), { replace: true });
}

function card(title, ...body) {
	return h('section', { class: 'auth-card' },
	    h('div', { class: 'brand-big', 'aria-hidden': 'true' },
		h('span', { class: 'logo' }), 'Kiln'),
	    h('h1', {}, title), ...body);
}

export function renderLogin(main, { query }) {
	const email = h('input', { type: 'email', name: 'email', required: true,
	    autocomplete: 'username', autocapitalize: 'none' });
	const password = h('input', { type: 'password', name: 'password',
	    required: true, autocomplete: 'current-password' });
	const err = errorArea();
	const form = h('form', { class: 'stack', novalidate: false },
	    field('Email', email), field('Password', password), err,
	    h('button', { type: 'submit', class: 'primary wide' }, 'Sign in'));
	form.addEventListener('submit', (ev) => {
		ev.preventDefault();
		err.show(null);
		busy(form, async () => {
			try {
				// cookie: the session comes back as an HttpOnly
				// cookie, not as a token in the body.
				await post('/auth/login', { email: email.value.trim(),
				    password: password.value, cookie: true },
				    { quiet401: true });
				await signedIn(query);
			} catch (e) {
				report(e, err);
				password.select();
			}
		});
	});
	main.append(card('Sign in', form,
	    h('p', { class: 'alt' }, 'New to Kiln? ',
		h('a', { href: '/register' + (query.get('next') ?
		    '?next=' + encodeURIComponent(query.get('next')) : '') },
		    'Create an account'))));
}

export function renderRegister(main, { query }) {
	const name = h('input', { name: 'name', required: true, maxlength: 100,
	    autocomplete: 'name' });
	const email = h('input', { type: 'email', name: 'email', required: true,
	    autocomplete: 'email', autocapitalize: 'none' });
	const password = h('input', { type: 'password', name: 'password',
	    required: true, minlength: 12, autocomplete: 'new-password' });
	const err = errorArea();
	const form = h('form', { class: 'stack' },
	    field('Your name', name), field('Email', email),
	    field('Password', password, 'At least 12 characters.'), err,
	    h('button', { type: 'submit', class: 'primary wide' },
		'Create account'));
	form.addEventListener('submit', (ev) => {
		ev.preventDefault();
		err.show(null);
		busy(form, async () => {
			try {
				await post('/auth/register', { name: name.value.trim(),
				    email: email.value.trim(),
				    password: password.value, cookie: true });
				toast('Welcome to Kiln. We sent you an email to ' +
				    'confirm your address.');
				await signedIn(query);
			} catch (e) {
				report(e, err);
			}
		});
	});
	main.append(card('Create your account', form,
	    h('p', { class: 'alt' }, 'Already have an account? ',
		h('a', { href: '/login' }, 'Sign in'))));
}

async function verify(token) {
	await post('/auth/verify', { token: token.trim() });
	if (session.me)
		setMe(await get('/auth/me'));
}

// /verify?token=...: the link of the verification email.
export async function renderVerify(main, { query }) {
	const token = query.get('token');
	const out = h('div', { role: 'status' }, token ? 'Verifying…' : '');
	main.append(card('Verify your email', out));
	if (!token) {
		out.append('This link has no token. Open the link from the ' +
		    'email again, or paste its token in the banner after ' +
		    'signing in.');
		return;
	}
	try {
		await verify(token);
		out.replaceChildren('Your email address is confirmed. ',
		    h('a', { href: '/' }, session.me ? 'Go to your servers' :
		    'Sign in'));
	} catch (e) {
		out.replaceChildren(h('span', { class: 'form-error' }, e.message),
		    ' Request a new link by signing in again later.');
	}
}

// The banner under the header while the email is unconfirmed.
export function verifyBanner(me) {
	const input = h('input', { name: 'token', placeholder:
	    'Token from the email', 'aria-label': 'Verification token',
	    required: true, autocomplete: 'off' });
	const form = h('form', { class: 'inline', hidden: true },
	    input, h('button', { type: 'submit', class: 'small' }, 'Verify'));
	form.addEventListener('submit', (ev) => {
		ev.preventDefault();
		busy(form, async () => {
			try {
				await verify(input.value);
				toast('Email address confirmed.');
			} catch (e) {
				toast(e.message, 'error');
			}
		});
	});
	const toggle = h('button', { type: 'button', class: 'link',
	    'aria-expanded': 'false', onclick: () => {
		form.hidden = !form.hidden;
		toggle.setAttribute('aria-expanded', String(!form.hidden));
		if (!form.hidden)
			input.focus();
	} }, 'Enter the token');
	return h('div', { class: 'banner', role: 'region',
	    'aria-label': 'Email verification' },
	    h('span', {}, 'Please confirm your email address: we sent a ' +
		`link to ${me.email}. `), toggle, form);
}
