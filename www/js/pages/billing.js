// Billing: plan, period, payment method, suspended servers with restore,
// and the way to Stripe (Checkout to upgrade, the portal to manage).
import { get, post, getAll } from '../api.js';
import { h, mount, when, ago, confirmBox, toast } from '../ui.js';
import { session, setMe, report } from '../session.js';

function row(label, value, id) {
	return h('div', { class: 'kv', id }, h('dt', {}, label), h('dd', {}, value));
}

// Sends the browser to the Stripe URL an endpoint answers with.
async function toStripe(path, button) {
	button.disabled = true;
	try {
		const r = await post(path);
		location.assign(r.url);
	} catch (e) {
		button.disabled = false;
		report(e);
	}
}

export async function renderBilling(main, { query }) {
	const box = h('div', { id: 'billing' });
	const suspBox = h('div', { id: 'suspended' });
	const note = query.get('checkout');
	mount(main, h('section', { class: 'page narrow' },
	    h('h1', {}, 'Billing'),
	    note === 'success' ? h('p', { class: 'banner ok', role: 'status' },
		'Thank you! Your upgrade is being confirmed by Stripe; the ' +
		'plan below changes as soon as it is.') : null,
	    note === 'cancelled' ? h('p', { class: 'banner', role: 'status' },
		'Checkout was cancelled; nothing was charged.') : null,
	    h('section', { class: 'panel' }, box),
	    h('section', { class: 'panel' }, suspBox)));

	async function load() {
		let st = null, err = null;
		try {
			st = await get('/billing/status');
		} catch (e) {
			err = e;
		}
		const me = await get('/auth/me').catch(() => session.me);
		if (me)
			setMe(me);
		drawStatus(st, err, me);
		const servers = await getAll('/servers', 'servers');
		drawSuspended(servers.filter((s) => s.status === 'suspended'), st);
	}

	function drawStatus(st, err, me) {
		const plan = st?.plan || me?.plan || 'free';
		const pro = plan === 'pro';
		const actions = h('div', { class: 'actions left' });
		if (!pro)
			actions.append(h('button', { type: 'button', class: 'primary',
			    id: 'upgrade', onclick: (ev) =>
				toStripe('/billing/checkout', ev.currentTarget) },
			    'Upgrade to Pro'));
		actions.append(h('button', { type: 'button', id: 'portal',
		    onclick: (ev) => toStripe('/billing/portal', ev.currentTarget) },
		    pro ? 'Manage subscription and payment method' :
		    'Billing portal'));
		if (pro && st?.cancel_at_period_end)
			actions.append(h('button', { type: 'button', onclick:
			    () => setRenewal('resume') }, 'Resume auto-renew'));
		else if (pro && st?.current_period_end)
			actions.append(h('button', { type: 'button', class: 'link',
			    onclick: () => setRenewal('downgrade') },
			    'Downgrade to Free at period end'));
		mount(box,
		    h('h2', {}, 'Your plan'),
		    h('div', { class: `plan-card plan-${plan}` },
			h('span', { class: 'plan-name' }, pro ? 'Pro' : 'Free'),
			h('span', {}, pro ? 'Unlimited servers, notification ' +
			    'channels, alert acknowledgement, mutes.' :
			    `Up to ${st?.free_server_quota ?? 3} servers. Pro ` +
			    'adds notification channels (email, Slack, ' +
			    'Telegram, Discord, PagerDuty, webhooks), ' +
			    'acknowledging and resolving alerts, and per-server ' +
			    'mutes.')),
		    st ? h('dl', { class: 'kvs' },
			row('Period ends', st.current_period_end ?
			    when(st.current_period_end) : '—', 'period-end'),
			pro ? row('Renewal', st.cancel_at_period_end ?
			    'Cancelled: returns to Free at period end' :
			    'Renews automatically') : null,
			row('Payment method', st.has_default_payment_method ?
			    'On file' : h('span', { class: 'warn-text' },
			    'None on file'), 'payment-method'),
			st.billing_enforcement_exempt ? row('Enforcement',
			    'Exempt (set by the operator)') : null,
			row('Active servers', String(st.active_server_count) +
			    (pro ? '' : ` of ${st.free_server_quota}`)),
			row('Suspended for no card',
			    String(st.suspended_no_card_count))) : null,
		    err ? h('p', { class: 'muted' }, err.status === 404 ?
			'Billing is not available on this server.' :
			err.message) : null,
		    pro && st && !st.has_default_payment_method &&
			!st.billing_enforcement_exempt ?
			h('p', { class: 'banner warn' }, 'Add a payment method: ' +
			    'once the grace period ends, servers beyond the ' +
			    'free quota are suspended.') : null,
		    actions);
	}

	async function setRenewal(op) {
		if (op === 'downgrade' && !await confirmBox('Downgrade to Free?',
		    'Your subscription stays Pro until the end of the current ' +
		    'period, then the account returns to the free plan.',
		    'Downgrade at period end', true))
			return;
		try {
			await post(`/billing/${op}`);
			toast(op === 'resume' ? 'Auto-renew is back on.' :
			    'The subscription ends at the end of the period.');
			load();
		} catch (e) {
			report(e);
		}
	}

	function drawSuspended(list, st) {
		// Only a missing card is the user's to fix; the operator's
		// suspensions are not (the API answers 409 not_restorable).
		const mine = (s) => s.suspended_reason === 'no_card_on_file';
		const restore = async (path, what) => {
			try {
				const r = await post(path);
				toast(r?.restored !== undefined ?
				    `${r.restored} server${r.restored === 1 ? '' : 's'} restored.` :
				    `${what} restored.`);
				load();
			} catch (e) {
				report(e);
			}
		};
		mount(suspBox, h('h2', {}, 'Suspended servers'),
		    list.length ? [
			h('p', {}, 'Suspended servers refuse snapshots. Those ' +
			    'suspended for a missing card come back once a ' +
			    'payment method is on file.'),
			h('ul', { class: 'list', id: 'suspended-list' },
			    list.map((s) => h('li', {},
				h('div', {}, h('a', { href: `/servers/${s.id}` },
				    s.name), h('span', { class: 'muted' },
				    ` · ${s.suspended_reason || 'suspended'} · ` +
				    ago(s.suspended_at))),
				mine(s) ? h('button', { type: 'button', class: 'small',
				    onclick: () => restore(`/servers/${s.id}/restore`,
				    s.name) }, 'Restore') : h('span', { class: 'muted small' },
				    'Suspended by the operator: contact them.')))),
			list.some(mine) ? h('div', { class: 'actions left' },
			    h('button', { type: 'button', id: 'restore-all',
				onclick: () => restore('/servers/restore-all') },
				'Restore all')) : null,
		    ] : h('p', { class: 'muted' }, 'No suspended servers.'),
		    st && !st.has_default_payment_method && list.length ?
			h('p', { class: 'hint' }, 'Restoring needs a payment ' +
			    'method on file: use the billing portal above.') : null);
	}

	await load();
}
