// session: who is signed in, navigation, and the error and upgrade
// prompts every page shares.
import { h, modal, toast } from './ui.js';

export const session = {
	me: null,		// GET /auth/me, or null when signed out
	listeners: new Set(),	// called after me changes
};

export function setMe(me) {
	session.me = me;
	for (const fn of session.listeners)
		fn(me);
}

export function isPro() {
	return session.me?.plan === 'pro';
}

let router = () => {};

export function setRouter(fn) {
	router = fn;
}

// Goes to a dashboard path without reloading.
export function navigate(path, { replace = false } = {}) {
	if (path !== location.pathname + location.search)
		history[replace ? 'replaceState' : 'pushState'](null, '', path);
	router();
}

// The upgrade link of a 402 answer, kept on this origin.
function upgradeHref(err) {
	try {
		const u = new URL(err?.body?.upgrade_url || '/billing', location.href);
		return u.origin === location.origin ? u.pathname : '/billing';
	} catch {
		return '/billing';
	}
}

// "This is a Pro feature" with the way to upgrade, inline.
export function upgradeBox(what, err) {
	return h('div', { class: 'upgrade', role: 'note' },
	    h('strong', {}, 'Pro feature. '),
	    `${what} ${what.endsWith('.') ? '' : 'is part of the Pro plan.'} `,
	    h('a', { href: upgradeHref(err), class: 'button primary small' },
		'Upgrade to Pro'));
}

// Shows an API failure: an upgrade prompt for 402 pro_required (never a
// bare error), otherwise the message, in area when given or as a toast.
export function report(err, area) {
	if (err?.needsPro) {
		modal('Upgrade to Pro', (close) => h('div', {},
		    h('p', {}, err.code === 'server_quota_exceeded' ?
			'The free plan has reached its number of servers. ' +
			'Pro monitors as many as you need.' :
			'This is a Pro feature. Upgrade to use it; your data ' +
			'and settings stay as they are.'),
		    h('div', { class: 'actions' },
			h('a', { href: upgradeHref(err), class: 'button primary',
			    onclick: () => close() }, 'See plans and upgrade'),
			h('button', { type: 'button', onclick: () => close() },
			    'Not now'))));
		return;
	}
	if (err?.status === 401)
		return;		// the router sends the user to sign in
	if (err?.code === 'csrf_rejected')
		err.message = 'This Kiln server is configured for another ' +
		    `address than ${location.origin}: open the dashboard at ` +
		    'the URL set as its base_url.';
	if (area?.show)
		area.show(err);
	else
		toast(err?.message || String(err), 'error');
}
