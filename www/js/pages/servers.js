// Servers: the grid of tiles, worst first, refreshing itself; adding a
// server and the collector key it is shown once.
import { get, post, getAll, qs } from '../api.js';
import { h, mount, ago, pct, num, badge, modal, copy, field, errorArea,
    busy, STATUS_ORDER } from '../ui.js';
import { report } from '../session.js';

const REFRESH_MS = 30000;
const PENDING_REFRESH_MS = 10000;	// while a new server awaits its agent

// The agent's configuration for a key, as Crucible reads it.
export function agentSnippet(baseUrl, key) {
	return `dashboard:\n  enabled: true\n  url: ${baseUrl}\n  api_key: ${key}\n`;
}

// The base URL agents are given: ingest_url less /api/v1/ingest.
export function baseFromIngest(ingestUrl) {
	return (ingestUrl || location.origin + '/api/v1/ingest')
	    .replace(/\/api\/v1\/ingest\/?$/, '');
}

// Shows a collector key once, with the snippet to paste. Resolves when
// the user closes it; the key is then gone from the page.
export function showKey(title, key, baseUrl, serverName) {
	const snippet = agentSnippet(baseUrl, key);
	return modal(title, () => {
		const keyField = h('input', { readonly: true, value: key,
		    class: 'mono', id: 'collector-key',
		    'aria-label': 'Collector key' });
		const pre = h('textarea', { readonly: true, class: 'mono snippet',
		    id: 'agent-config', rows: 4, spellcheck: 'false',
		    'aria-label': 'Agent configuration' }, snippet);
		pre.value = snippet;
		return h('div', { class: 'keyshow' },
		    h('p', { class: 'once', role: 'note' },
			h('strong', {}, 'Shown only once. '),
			'Save this collector key now: Kiln keeps only a hash ' +
			'of it and cannot show it again.'),
		    field('Collector key', keyField),
		    h('div', { class: 'actions left' },
			h('button', { type: 'button', class: 'small',
			    onclick: () => copy(key, keyField) }, 'Copy key')),
		    h('h3', {}, 'Agent configuration'),
		    h('p', {}, 'Add this to ', h('code', {},
			'/etc/glassmkr/collector.yaml'), ` on ${serverName}, ` +
			'then restart the agent\'s service:'),
		    pre,
		    h('div', { class: 'actions left' },
			h('button', { type: 'button', class: 'small',
			    onclick: () => copy(snippet, pre) },
			    'Copy configuration')),
		    h('p', { class: 'hint' }, 'The tile turns from "pending ' +
			'first snapshot" to the server\'s status within a ' +
			'minute of the agent\'s first push.'));
	}, { wide: true });
}

async function addServer() {
	const result = await modal('Add a server', (close) => {
		const name = h('input', { name: 'name', required: true,
		    maxlength: 100, placeholder: 'web-prod-01' });
		const hostname = h('input', { name: 'hostname', maxlength: 253,
		    placeholder: 'defaults to the name', autocapitalize: 'none' });
		const tags = h('input', { name: 'tags',
		    placeholder: 'production, web' });
		const err = errorArea();
		// One key per attempt: a double submit creates one server.
		const idem = crypto.randomUUID?.() ||
		    String(Date.now()) + Math.random();
		const form = h('form', { class: 'stack' },
		    field('Name', name),
		    field('Hostname', hostname, 'How you find the machine; ' +
			'cannot be changed later.'),
		    field('Tags', tags, 'Comma-separated, optional.'), err,
		    h('div', { class: 'actions' },
			h('button', { type: 'submit', class: 'primary' },
			    'Add server'),
			h('button', { type: 'button', onclick: () => close() },
			    'Cancel')));
		form.addEventListener('submit', (ev) => {
			ev.preventDefault();
			err.show(null);
			const body = { name: name.value.trim(),
			    tags: splitTags(tags.value) };
			if (hostname.value.trim())
				body.hostname = hostname.value.trim();
			busy(form, async () => {
				try {
					close(await post('/servers', body,
					    { headers: { 'Idempotency-Key': idem } }));
				} catch (e) {
					if (e.needsPro) {
						close();
						report(e);
					} else
						err.show(e);
				}
			});
		});
		return form;
	});
	if (!result)
		return null;
	await showKey(`${result.server.name}: connect the agent`,
	    result.server.api_key, baseFromIngest(result.ingest_url),
	    result.server.name);
	return result.server;
}

export function splitTags(s) {
	return [...new Set(s.split(',').map((t) => t.trim()).filter(Boolean))];
}

function statusOf(srv, health) {
	if (srv.status === 'suspended')
		return 'suspended';
	return health?.status || (srv.last_seen_at ? 'unknown' : 'pending');
}

function tile(srv, health) {
	const st = statusOf(srv, health);
	const c = health?.current || {};
	const alerts = c.active_alerts ?? srv.active_alerts ?? 0;
	const disk = srv.disk_health_rollup && !['healthy', 'pending']
	    .includes(srv.disk_health_rollup) ? ` (${srv.disk_health_rollup})` : '';
	return h('li', { class: `tile st-${st}`, dataset: { id: srv.id,
	    status: st } },
	    h('a', { href: `/servers/${srv.id}`, class: 'tile-link' },
		h('div', { class: 'tile-head' },
		    h('span', { class: 'tile-name' }, srv.name),
		    badge(st)),
		h('div', { class: 'tile-host' }, srv.hostname,
		    srv.ip ? ` · ${srv.ip}` : ''),
		st === 'pending' ?
		    h('p', { class: 'tile-pending' }, 'Waiting for the agent\'s ' +
			'first snapshot.') :
		    h('dl', { class: 'tile-stats' },
			h('div', {}, h('dt', {}, 'CPU'), h('dd', {}, pct(c.cpu_percent))),
			h('div', {}, h('dt', {}, 'RAM'), h('dd', {}, pct(c.ram_percent))),
			h('div', {}, h('dt', {}, 'Disk'),
			    h('dd', {}, pct(c.disk_max_percent) + disk)),
			h('div', {}, h('dt', {}, 'Alerts'),
			    h('dd', { class: alerts ? 'has-alerts' : '' },
				num(alerts)))),
		h('div', { class: 'tile-foot' },
		    h('span', {}, 'Last seen ', h('time', { datetime:
			srv.last_seen_at || '' }, ago(srv.last_seen_at))),
		    srv.tags?.length ? h('span', { class: 'tile-tags' },
			srv.tags.map((t) => h('span', { class: 'tag' }, t))) :
			null)));
}

// Health for many servers, a few requests at a time.
async function healthOf(servers) {
	const out = new Map();
	let i = 0;
	async function worker() {
		while (i < servers.length) {
			const s = servers[i++];
			if (s.status === 'suspended')
				continue;
			try {
				out.set(s.id, await get(`/servers/${s.id}/health`));
			} catch (e) {
				if (e.status === 401)
					throw e;
			}
		}
	}
	await Promise.all([1, 2, 3, 4].map(worker));
	return out;
}

export async function renderServers(main, { query }) {
	const selected = new Set(query.getAll('tag'));
	const allTags = new Set(selected);
	let search = query.get('q') || '';
	let servers = [], health = new Map(), timer = null, alive = true;
	let loadedOnce = false;

	const grid = h('ul', { class: 'grid', id: 'server-grid',
	    'aria-live': 'polite', 'aria-busy': 'true' });
	const tagBar = h('div', { class: 'tagbar', role: 'group',
	    'aria-label': 'Filter by tag (all selected tags must match)' });
	const searchBox = h('input', { type: 'search', id: 'server-search',
	    placeholder: 'Search by name', value: search,
	    'aria-label': 'Search servers by name' });
	const summary = h('p', { class: 'summary', id: 'grid-summary' });
	const updated = h('span', { class: 'updated' });

	function syncUrl() {
		const q = qs({ tag: [...selected], q: search || undefined });
		history.replaceState(null, '', '/' + q);
	}

	function drawTags() {
		mount(tagBar, allTags.size ? h('span', { class: 'tagbar-label' },
		    'Tags:') : null, [...allTags].sort().map((t) =>
		    h('button', { type: 'button', class: 'tag toggle',
			'aria-pressed': String(selected.has(t)), onclick: () => {
			    if (selected.has(t))
				    selected.delete(t);
			    else
				    selected.add(t);
			    syncUrl();
			    drawTags();
			    load();
		    } }, t)),
		    selected.size ? h('button', { type: 'button', class: 'link',
			onclick: () => { selected.clear(); syncUrl(); drawTags();
			    load(); } }, 'Clear') : null);
	}

	function draw() {
		const needle = search.trim().toLowerCase();
		const shown = servers.filter((s) => !needle ||
		    s.name.toLowerCase().includes(needle) ||
		    (s.hostname || '').toLowerCase().includes(needle));
		const rank = (s) => {
			const i = STATUS_ORDER.indexOf(statusOf(s, health.get(s.id)));
			return i < 0 ? STATUS_ORDER.length : i;
		};
		shown.sort((a, b) => rank(a) - rank(b) ||
		    (health.get(b.id)?.current?.active_alerts ?? 0) -
		    (health.get(a.id)?.current?.active_alerts ?? 0) ||
		    a.name.localeCompare(b.name));
		grid.setAttribute('aria-busy', 'false');
		if (!servers.length && !selected.size) {
			mount(grid, h('li', { class: 'empty' },
			    h('h2', {}, 'No servers yet'),
			    h('p', {}, 'Add a server, paste the configuration it ' +
				'shows into the agent, and its tile appears here.'),
			    h('button', { type: 'button', class: 'primary',
				onclick: onAdd }, 'Add your first server')));
		} else if (!shown.length)
			mount(grid, h('li', { class: 'empty' },
			    'No server matches these filters.'));
		else
			mount(grid, shown.map((s) => tile(s, health.get(s.id))));
		const counts = {};
		for (const s of shown) {
			const st = statusOf(s, health.get(s.id));
			counts[st] = (counts[st] || 0) + 1;
		}
		mount(summary, `${shown.length} server${shown.length === 1 ? '' : 's'}`,
		    STATUS_ORDER.filter((st) => counts[st]).map((st) =>
			[' · ', badge(st, `${counts[st]} ${st}`)]));
	}

	async function load() {
		clearTimeout(timer);
		try {
			const list = await getAll('/servers', 'servers',
			    { tag: [...selected] });
			const hl = await healthOf(list);
			if (!alive)
				return;
			servers = list;
			health = hl;
			let grew = false;
			for (const s of list)
				for (const t of s.tags || [])
					if (!allTags.has(t)) {
						allTags.add(t);
						grew = true;
					}
			if (grew || !loadedOnce)
				drawTags();
			loadedOnce = true;
			draw();
			updated.textContent = 'Updated ' +
			    new Date().toLocaleTimeString();
		} catch (e) {
			if (!alive)
				return;
			report(e);
		}
		if (!alive)
			return;
		const pending = servers.some((s) =>
		    statusOf(s, health.get(s.id)) === 'pending');
		timer = setTimeout(load, pending ? PENDING_REFRESH_MS : REFRESH_MS);
	}

	async function onAdd() {
		const srv = await addServer().catch((e) => report(e));
		if (srv && alive)
			load();
	}

	searchBox.addEventListener('input', () => {
		search = searchBox.value;
		syncUrl();
		draw();
	});

	mount(main, h('section', { class: 'page' },
	    h('div', { class: 'page-head' },
		h('h1', {}, 'Servers'),
		h('button', { type: 'button', class: 'primary', id: 'add-server',
		    onclick: onAdd }, '+ Add server')),
	    h('div', { class: 'filters' }, searchBox, tagBar),
	    h('div', { class: 'summary-row' }, summary, updated),
	    grid));
	await load();
	const onVisible = () => {
		if (document.visibilityState === 'visible' && alive)
			load();
	};
	document.addEventListener('visibilitychange', onVisible);
	return () => {
		alive = false;
		clearTimeout(timer);
		document.removeEventListener('visibilitychange', onVisible);
	};
}

