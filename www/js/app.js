// app: the shell (header, navigation, the verify-email banner) and the
// client-side router. lighttpd serves index.html for every page path.
import { get, post, onUnauthorized } from './api.js';
import { h, mount, toast } from './ui.js';
import { session, setMe, setRouter, navigate, report } from './session.js';
import { verifyBanner, renderLogin, renderRegister, renderVerify }
    from './pages/auth.js';
import { renderServers } from './pages/servers.js';
import { renderServer } from './pages/server.js';
import { renderChannels } from './pages/channels.js';
import { renderBilling } from './pages/billing.js';
import { renderKeys } from './pages/keys.js';

// [pattern, render, title, needs a session]
const ROUTES = [
	[/^\/(servers\/?)?$/, renderServers, 'Servers', true],
	[/^\/servers\/(srv_[A-Za-z0-9]+)\/?$/, renderServer, 'Server', true],
	[/^\/channels\/?$/, renderChannels, 'Channels', true],
	[/^\/billing\/?$/, renderBilling, 'Billing', true],
	[/^\/(keys|settings)\/?$/, renderKeys, 'API keys', true],
	[/^\/login\/?$/, renderLogin, 'Sign in', false],
	[/^\/register\/?$/, renderRegister, 'Create account', false],
	[/^\/verify\/?$/, renderVerify, 'Verify email', false],
];

const NAV = [
	['/', 'Servers', /^\/(servers)?/],
	['/channels', 'Channels', /^\/channels/],
	['/billing', 'Billing', /^\/billing/],
	['/keys', 'API keys', /^\/keys/],
];

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const user = document.getElementById('user');
const banner = document.getElementById('banner');
let cleanup = null;
let meLoaded = false;

function drawShell() {
	const me = session.me;
	const path = location.pathname;
	mount(nav, me ? NAV.map(([href, label, re]) => {
		const here = href === '/' ? /^\/(servers(\/|$)|$)/.test(path) :
		    re.test(path);
		return h('a', { href, 'aria-current': here ? 'page' : null },
		    label);
	}) : null);
	mount(user, me ? [
		h('span', { class: 'who', title: me.email }, me.name || me.email),
		h('a', { href: '/billing', class: `plan plan-${me.plan}` },
		    me.plan === 'pro' ? 'Pro' : 'Free'),
		h('button', { type: 'button', class: 'small', id: 'signout',
		    onclick: signOut }, 'Sign out'),
	] : null);
	mount(banner, me && !me.verified ? verifyBanner(me) : null);
}

async function signOut() {
	try {
		await post('/auth/logout', {}, { quiet401: true });
	} catch (err) {
		if (err.status !== 401) {
			report(err);
			return;
		}
	}
	setMe(null);
	toast('Signed out.');
	navigate('/login', { replace: true });
}

async function loadMe() {
	try {
		setMe(await get('/auth/me', { quiet401: true }));
	} catch (err) {
		if (err.status !== 401)
			report(err);
		setMe(null);
	}
	meLoaded = true;
}

async function route() {
	if (cleanup) {
		cleanup();
		cleanup = null;
	}
	if (!meLoaded)
		await loadMe();
	const path = location.pathname;
	const found = ROUTES.find(([re]) => re.test(path));
	if (!found) {
		drawShell();
		document.title = 'Not found · Kiln';
		mount(main, h('section', { class: 'page narrow' },
		    h('h1', {}, 'Page not found'),
		    h('p', {}, h('a', { href: '/' }, 'Back to your servers'))));
		return;
	}
	const [re, render, title, auth] = found;
	if (auth && !session.me) {
		const next = path === '/' ? '' :
		    '?next=' + encodeURIComponent(path + location.search);
		navigate('/login' + next, { replace: true });
		return;
	}
	if (!auth && session.me && render !== renderVerify) {
		navigate('/', { replace: true });
		return;
	}
	drawShell();
	document.title = `${title} · Kiln`;
	mount(main);
	main.dataset.page = title.toLowerCase().replace(/\W+/g, '-');
	const params = path.match(re).slice(1);
	try {
		cleanup = await render(main, { params,
		    query: new URLSearchParams(location.search) }) || null;
	} catch (err) {
		report(err);
	}
	// Move focus to the new page for keyboard and screen-reader users.
	if (document.activeElement === document.body ||
	    !main.contains(document.activeElement))
		main.focus({ preventScroll: true });
}

setRouter(route);
session.listeners.add(drawShell);
onUnauthorized(() => {
	if (!session.me)
		return;
	setMe(null);
	toast('Your session ended. Please sign in again.', 'warn');
	const here = location.pathname + location.search;
	navigate('/login?next=' + encodeURIComponent(here), { replace: true });
});

// Same-origin links change pages without a reload.
document.addEventListener('click', (ev) => {
	const a = ev.target.closest?.('a[href]');
	if (!a || ev.defaultPrevented || ev.button !== 0 || ev.metaKey ||
	    ev.ctrlKey || ev.shiftKey || ev.altKey || a.target ||
	    a.hasAttribute('download'))
		return;
	const url = new URL(a.href, location.href);
	if (url.origin !== location.origin || url.pathname.startsWith('/api/'))
		return;
	ev.preventDefault();
	navigate(url.pathname + url.search);
});
window.addEventListener('popstate', route);
route();
