// API keys: account keys for the programmatic API (the raw key is shown
// once) and the account's audit log.
import { get, post, del, qs } from '../api.js';
import { h, mount, when, ago, modal, confirmBox, copy, field, errorArea,
    busy, toast } from '../ui.js';
import { session, report } from '../session.js';

const SCOPES = [
	['read', 'Read: list and read everything'],
	['write', 'Write: also change servers, alerts and mutes'],
	['admin', 'Admin: also channels, billing and the audit log'],
];

function showNewKey(k) {
	return modal('Your new API key', () => {
		const input = h('input', { readonly: true, value: k.api_key,
		    class: 'mono', id: 'new-api-key', 'aria-label': 'API key' });
		return h('div', { class: 'keyshow' },
		    h('p', { class: 'once', role: 'note' },
			h('strong', {}, 'Shown only once. '),
			'Copy it now: Kiln stores only a hash.'),
		    field(`${k.name} (${k.scope})`, input),
		    h('div', { class: 'actions left' },
			h('button', { type: 'button', class: 'small',
			    onclick: () => copy(k.api_key, input) }, 'Copy key')),
		    h('p', { class: 'hint' }, 'Send it as ', h('code', {},
			'Authorization: Bearer <key>'), ' to ', h('code', {},
			location.origin + '/api/v1/...'), '.'));
	}, { wide: true });
}

export async function renderKeys(main) {
	const list = h('div', { id: 'keys' });
	const audit = h('div', { id: 'audit' });
	const name = h('input', { name: 'name', required: true, maxlength: 100,
	    placeholder: 'deploy script' });
	const scope = h('select', { name: 'scope' },
	    SCOPES.map(([v, l]) => h('option', { value: v }, l)));
	const expires = h('input', { type: 'date', name: 'expires' });
	const err = errorArea();
	const form = h('form', { class: 'stack', id: 'new-key' },
	    h('div', { class: 'row' }, field('Name', name), field('Scope', scope),
		field('Expires (optional)', expires)), err,
	    h('div', { class: 'actions left' }, h('button',
		{ type: 'submit', class: 'primary' }, 'Create key')));
	form.addEventListener('submit', (ev) => {
		ev.preventDefault();
		err.show(null);
		const body = { name: name.value.trim(), scope: scope.value };
		if (expires.value)
			body.expires_at = new Date(expires.value + 'T23:59:59')
			    .toISOString().replace(/\.\d+Z$/, 'Z');
		busy(form, async () => {
			try {
				const r = await post('/account/keys', body);
				form.reset();
				await showNewKey(r.key);
				loadKeys();
			} catch (e) {
				report(e, err);
			}
		});
	});

	async function revoke(k) {
		if (!await confirmBox('Revoke this key?', `"${k.name}" stops ` +
		    'working at once for every program that uses it.',
		    'Revoke key', true))
			return;
		try {
			await del(`/account/keys/${k.id}`);
			toast('Key revoked.');
			loadKeys();
		} catch (e) {
			report(e);
		}
	}

	async function loadKeys() {
		const r = await get('/account/keys');
		mount(list, r.keys.length ? h('div', { class: 'table-wrap' },
		    h('table', {},
			h('thead', {}, h('tr', {}, ['Name', 'Scope', 'Key',
			    'Created', 'Expires', 'Last used', ''].map((t) =>
			    h('th', { scope: 'col' }, t)))),
			h('tbody', {}, r.keys.map((k) => h('tr', {},
			    h('td', {}, k.name), h('td', {}, k.scope),
			    h('td', {}, h('code', {}, k.prefix)),
			    h('td', {}, when(k.created_at)),
			    h('td', {}, k.expires_at ? when(k.expires_at) : 'never'),
			    h('td', {}, k.last_used_at ? ago(k.last_used_at) :
				'never'),
			    h('td', {}, h('button', { type: 'button',
				class: 'small danger', onclick: () => revoke(k),
				'aria-label': `Revoke ${k.name}` }, 'Revoke'))))))) :
		    h('p', { class: 'muted' }, 'No API keys yet.'));
	}

	let cursor = null;
	const rows = h('tbody');
	const more = h('button', { type: 'button', hidden: true,
	    onclick: () => loadAudit(true) }, 'Older entries');

	async function loadAudit(next) {
		try {
			const r = await get('/account/audit' + qs({ limit: 50,
			    cursor: next ? cursor : undefined }));
			if (!next)
				rows.replaceChildren();
			rows.append(...r.entries.map((e) => h('tr', {},
			    h('td', {}, when(e.created_at)),
			    h('td', {}, e.who && e.who === session.me?.id ? 'you' :
				e.who || '—'),
			    h('td', {}, e.action || `${e.method} ${e.route}`),
			    h('td', {}, e.resource || ''),
			    h('td', { class: e.status >= 400 ? 'warn-text' : '' },
				`${e.status} ${e.result || ''}`),
			    h('td', {}, e.ip || ''))));
			cursor = r.next_cursor;
			more.hidden = !cursor;
			mount(audit, h('h2', {}, 'Audit log'),
			    h('div', { class: 'table-wrap' }, h('table', {},
				h('thead', {}, h('tr', {}, ['When', 'Who', 'Action',
				    'Resource', 'Result', 'IP'].map((t) =>
				    h('th', { scope: 'col' }, t)))), rows)), more);
		} catch (e) {
			mount(audit, h('h2', {}, 'Audit log'),
			    h('p', { class: 'muted' }, e.message));
		}
	}

	mount(main, h('section', { class: 'page' },
	    h('h1', {}, 'API keys'),
	    h('p', {}, 'Account keys let scripts use the API without your ' +
		'password. Each key has a scope and can expire.'),
	    h('section', { class: 'panel' }, h('h2', {}, 'New key'), form),
	    h('section', { class: 'panel' }, h('h2', {}, 'Keys'), list),
	    h('section', { class: 'panel' }, audit)));
	await Promise.all([loadKeys().catch((e) => report(e)), loadAudit(false)]);
}
