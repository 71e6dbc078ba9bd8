// Channels: where alert notifications go. Create, edit, test, delete,
// for every type; the API masks secrets, and a secret left blank when
// editing keeps its stored value.
import { get, post, put, del } from '../api.js';
import { h, mount, when, ago, modal, confirmBox, field, errorArea, busy,
    toast } from '../ui.js';
import { isPro, report, upgradeBox } from '../session.js';

// Per type: its fields [key, label, kind, hint]; kind 'secret' fields are
// masked by the API, 'list' fields are arrays typed one per line.
export const TYPES = {
	email: { label: 'Email', fields: [['recipients', 'Recipients', 'list',
	    'One address per line (or comma-separated).']] },
	telegram: { label: 'Telegram', fields: [
	    ['bot_token', 'Bot token', 'secret', 'From @BotFather.'],
	    ['chat_id', 'Chat id', 'text', 'A user, group or channel id.']] },
	slack: { label: 'Slack', fields: [['webhook_url',
	    'Incoming webhook URL', 'secret', 'https://hooks.slack.com/services/…']] },
	discord: { label: 'Discord', fields: [['webhook_url', 'Webhook URL',
	    'secret', 'https://discord.com/api/webhooks/…']] },
	pagerduty: { label: 'PagerDuty', fields: [['routing_key',
	    'Routing key', 'secret', 'Events API v2 integration key.']] },
	webhook: { label: 'Webhook', fields: [
	    ['url', 'URL', 'url', 'Kiln POSTs a JSON body to it.'],
	    ['secret', 'Signing secret (optional)', 'secret', 'Signs each ' +
		'request: X-Kiln-Signature: t=<unix>,v1=<HMAC-SHA256>.']] },
};

function summary(ch) {
	const c = ch.config || {};
	switch (ch.type) {
	case 'email': return [].concat(c.recipients || []).join(', ');
	case 'telegram': return `chat ${c.chat_id ?? '?'} · bot ${c.bot_token ?? ''}`;
	case 'webhook': return c.url + (c.secret ? ' · signed' : '');
	case 'pagerduty': return `routing key ${c.routing_key ?? ''}`;
	default: return c.webhook_url || '';
	}
}

// The create / edit dialog. Resolves with the saved channel or undefined.
function editor(existing) {
	return modal(existing ? `Edit ${existing.name}` : 'New channel', (close) => {
		const name = h('input', { name: 'name', required: true, maxlength: 100,
		    value: existing?.name || '', placeholder: 'ops on-call' });
		const type = h('select', { name: 'type', disabled: !!existing },
		    Object.entries(TYPES).map(([k, t]) => h('option', { value: k,
			selected: existing?.type === k }, t.label)));
		const enabled = h('input', { type: 'checkbox', name: 'enabled',
		    checked: existing ? existing.enabled !== false : true });
		const fieldsBox = h('div', { class: 'stack' });
		const err = errorArea();
		let inputs = {};

		function drawFields() {
			const t = TYPES[type.value];
			const cfg = existing?.type === type.value ? existing.config || {} : {};
			inputs = {};
			mount(fieldsBox, t.fields.map(([key, label, kind, hint]) => {
				let input;
				if (kind === 'list') {
					input = h('textarea', { name: key, rows: 3,
					    required: true });
					input.value = [].concat(cfg[key] || []).join('\n');
				} else if (kind === 'secret' && existing) {
					input = h('input', { name: key, autocomplete: 'off',
					    placeholder: cfg[key] ? `unchanged (${cfg[key]})` :
						'not set' });
				} else {
					input = h('input', { name: key,
					    type: kind === 'url' ? 'url' : 'text',
					    autocomplete: 'off',
					    required: !label.includes('optional'),
					    value: kind === 'secret' ? '' : cfg[key] ?? '' });
				}
				inputs[key] = [input, kind];
				return field(label, input, kind === 'secret' && existing ?
				    'Leave blank to keep the stored value.' : hint);
			}));
		}
		type.addEventListener('change', drawFields);
		drawFields();

		const form = h('form', { class: 'stack', id: 'channel-form' },
		    field('Name', name), field('Type', type), fieldsBox,
		    h('label', { class: 'check' }, enabled,
			' Enabled (receives alert notifications)'),
		    err,
		    h('div', { class: 'actions' },
			h('button', { type: 'submit', class: 'primary' },
			    existing ? 'Save' : 'Create channel'),
			h('button', { type: 'button', onclick: () => close() },
			    'Cancel')));
		form.addEventListener('submit', (ev) => {
			ev.preventDefault();
			err.show(null);
			const config = {};
			for (const [key, [input, kind]] of Object.entries(inputs)) {
				const v = input.value.trim();
				if (kind === 'list')
					config[key] = v.split(/[\s,;]+/).filter(Boolean);
				else if (v)
					config[key] = v;
				else if (kind === 'secret' && existing &&
				    existing.config?.[key])
					config[key] = existing.config[key];	/* masked: kept */
			}
			const body = { name: name.value.trim(), type: type.value,
			    config, enabled: enabled.checked };
			busy(form, async () => {
				try {
					const r = existing ?
					    await put(`/channels/${existing.id}`, body) :
					    await post('/channels', body);
					close(r.channel || r);
				} catch (e) {
					if (e.needsPro) {
						close();
						report(e);
					} else
						report(e, err);
				}
			});
		});
		return form;
	}, { wide: true });
}

// The channel's latest delivery (a test or a notification).
function lastAttempt(a) {
	if (!a)
		return h('p', { class: 'muted small' }, 'Nothing sent yet.');
	return h('p', { class: `small ${a.success ? 'ok-text' : 'warn-text'}` },
	    `Last delivery ${ago(a.at)}: `, a.success ?
	    `delivered${a.status ? ` (HTTP ${a.status})` : ''}` :
	    `failed (${a.error || `HTTP ${a.status}`})`);
}

export async function renderChannels(main) {
	const list = h('div', { id: 'channel-list' });
	const pro = isPro();
	const results = new Map();	// channel id -> last test result

	async function test(ch, out) {
		out.className = 'test-result';
		out.textContent = 'Sending a test notification…';
		try {
			const r = await post(`/channels/${ch.id}/test`);
			out.classList.add('ok');
			out.textContent = '✓ Delivered' + (r?.status ?
			    ` (HTTP ${r.status})` : '') + (r?.duration_ms != null ?
			    ` in ${r.duration_ms} ms` : '') + '.';
		} catch (e) {
			if (e.needsPro) {
				out.textContent = '';
				report(e);
				return;
			}
			out.classList.add('fail');
			out.textContent = `✗ ${e.code === 'delivery_failed' ?
			    'Delivery failed' : 'Failed'}: ${e.message}`;
		}
		results.set(ch.id, [out.className, out.textContent]);
	}

	async function remove(ch) {
		if (!await confirmBox('Delete channel?', `"${ch.name}" will stop ` +
		    'receiving notifications.', 'Delete channel', true))
			return;
		try {
			await del(`/channels/${ch.id}`);
			toast('Channel deleted.');
			load();
		} catch (e) {
			report(e);
		}
	}

	function card(ch) {
		const saved = results.get(ch.id);
		const out = h('p', { class: saved?.[0] || 'test-result',
		    role: 'status', 'aria-live': 'polite' }, saved?.[1] || '');
		return h('li', { class: 'channel', dataset: { id: ch.id,
		    type: ch.type } },
		    h('div', { class: 'channel-main' },
			h('div', {}, h('strong', {}, ch.name), ' ',
			    h('span', { class: 'tag' }, TYPES[ch.type]?.label || ch.type),
			    ch.enabled === false ? h('span', { class: 'tag muted' },
				'disabled') : null),
			h('p', { class: 'mono small' }, summary(ch)),
			h('p', { class: 'muted small' }, `Created ${when(ch.created_at)}`),
			lastAttempt(ch.last_attempt), out),
		    h('div', { class: 'channel-actions' },
			h('button', { type: 'button', class: 'small',
			    onclick: () => test(ch, out) }, 'Send test'),
			h('button', { type: 'button', class: 'small',
			    onclick: async () => {
				if (await editor(ch)) {
					toast('Channel saved.');
					load();
				}
			    } }, 'Edit'),
			h('button', { type: 'button', class: 'small danger',
			    onclick: () => remove(ch) }, 'Delete')));
	}

	async function load() {
		try {
			const r = await get('/channels');
			const chans = r.channels || r.data || [];
			mount(list, chans.length ? h('ul', { class: 'channels' },
			    chans.map(card)) : h('p', { class: 'muted' },
			    'No channels yet: alerts show on the dashboard only.'));
		} catch (e) {
			mount(list, h('p', { class: 'muted' }, e.status === 404 ?
			    'Channels are not available on this server yet.' :
			    e.message));
		}
	}

	mount(main, h('section', { class: 'page narrow' },
	    h('div', { class: 'page-head' }, h('h1', {}, 'Channels'),
		h('button', { type: 'button', class: 'primary', id: 'new-channel',
		    onclick: async () => {
			if (await editor(null)) {
				toast('Channel created.');
				load();
			}
		    } }, '+ New channel')),
	    h('p', {}, 'Kiln notifies every enabled channel when an alert ' +
		'fires and when a state alert resolves.'),
	    pro ? null : upgradeBox('Notification channels (email, Telegram, ' +
		'Slack, Discord, PagerDuty and webhooks) are part of the Pro ' +
		'plan.'),
	    list));
	await load();
}
