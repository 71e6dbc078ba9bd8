// Server: the current numbers, history charts, alerts, mutes, name and
// tags, key rotation and deletion.
import { get, post, put, patch, del, qs } from '../api.js';
import { h, mount, ago, when, num, pct, badge, modal, confirmBox, field,
    errorArea, busy, toast } from '../ui.js';
import { isPro, navigate, report, upgradeBox } from '../session.js';
import { loadUPlot, drawChart, METRICS } from '../chart.js';
import { showKey, baseFromIngest, splitTags } from './servers.js';

const RANGES = [['1h', 3600], ['6h', 6 * 3600], ['24h', 86400],
    ['7d', 7 * 86400], ['30d', 30 * 86400]];
const REFRESH_MS = 30000;

function stat(label, value, id) {
	return h('div', { class: 'stat', id }, h('span', { class: 'stat-label' },
	    label), h('span', { class: 'stat-value' }, value));
}

function currentStats(hl) {
	const c = hl?.current || {};
	return [
		stat('CPU', pct(c.cpu_percent), 'cur-cpu'),
		stat('RAM', pct(c.ram_percent), 'cur-ram'),
		stat('Swap used', num(c.swap_used_mb, ' MB', 0), 'cur-swap'),
		stat('Fullest disk', pct(c.disk_max_percent), 'cur-disk'),
		stat('Network in', num(c.network_rx_mbps, ' Mbit/s'), 'cur-rx'),
		stat('Network out', num(c.network_tx_mbps, ' Mbit/s'), 'cur-tx'),
		stat('CPU temperature', num(c.cpu_temp_c, ' °C'), 'cur-temp'),
		stat('Open alerts', num(c.active_alerts ?? 0), 'cur-alerts'),
	];
}

// "1.2.3" < "1.10.0", numerically by part.
function older(a, b) {
	const x = a.split('.').map(Number), y = b.split('.').map(Number);
	for (let i = 0; i < 3; i++)
		if ((x[i] || 0) !== (y[i] || 0))
			return (x[i] || 0) < (y[i] || 0);
	return false;
}

let versions = null;	// GET /version, once per page load

function agentNote(v) {
	const c = versions?.crucible;
	if (!c || !/^\d+\.\d+\.\d+$/.test(v))
		return null;
	const link = (text) => c.changelog_url ? h('a', { href: c.changelog_url,
	    target: '_blank', rel: 'noopener noreferrer' }, text) : text;
	if (c.min_supported && older(v, c.min_supported))
		return h('span', { class: 'warn-text' }, ' (unsupported: ',
		    link(`update to ${c.latest || c.min_supported}`), ')');
	if (c.latest && older(v, c.latest))
		return h('span', {}, ' (', link(`${c.latest} available`), ')');
	return null;
}

export async function renderServer(main, { params }) {
	const id = params[0];
	let alive = true, timer = null, range = '1h', charts = [];
	let srv = await get(`/servers/${id}`).catch((e) => {
		if (e.status === 404) {
			mount(main, h('section', { class: 'page narrow' },
			    h('h1', {}, 'Server not found'),
			    h('p', {}, 'It may have been deleted. ',
				h('a', { href: '/' }, 'Back to your servers'))));
			return null;
		}
		throw e;
	});
	if (!srv)
		return;

	const head = h('div', { class: 'server-head' });
	const stats = h('div', { class: 'stats', id: 'current' });
	const chartGrid = h('div', { class: 'charts' });
	const alertsBox = h('div', { id: 'alerts' });
	const mutesBox = h('div', { id: 'mutes' });
	const settingsBox = h('div', { id: 'settings' });
	const rangeBar = h('div', { class: 'segmented', role: 'group',
	    'aria-label': 'Time range' });

	function drawHead(hl) {
		const st = srv.status === 'suspended' ? 'suspended' :
		    hl?.status || 'pending';
		document.title = `${srv.name} · Kiln`;
		mount(head,
		    h('p', { class: 'crumbs' }, h('a', { href: '/' }, 'Servers'),
			' / '),
		    h('div', { class: 'page-head' },
			h('h1', {}, srv.name, ' ', badge(st))),
		    h('p', { class: 'meta' },
			h('span', {}, srv.hostname),
			srv.ip ? h('span', {}, srv.ip) : null,
			srv.os_type ? h('span', {}, `${srv.os_type} ${srv.os_version || ''}`) : null,
			srv.collector_version ? h('span', {}, `agent ${srv.collector_version}`,
			    agentNote(srv.collector_version)) : null,
			h('span', {}, 'last seen ', h('time', { datetime:
			    hl?.last_seen || '', title: when(hl?.last_seen) },
			    ago(hl?.last_seen))),
			srv.tags?.length ? h('span', { class: 'tile-tags' },
			    srv.tags.map((t) => h('span', { class: 'tag' }, t))) :
			    null),
		    srv.status === 'suspended' ? h('p', { class: 'banner warn' },
			`Suspended ${ago(srv.suspended_at)} (${srv.suspended_reason ||
			'no reason given'}): snapshots are refused until it is ` +
			'restored. ', h('a', { href: '/billing' }, 'Billing')) :
			null,
		    st === 'pending' ? h('p', { class: 'banner' },
			'Waiting for the agent\'s first snapshot. Lost the ' +
			'configuration? Rotate the key below to get a new one.') :
			null);
	}

	async function loadCurrent() {
		const hl = await get(`/servers/${id}/health`);
		if (!alive)
			return;
		drawHead(hl);
		mount(stats, currentStats(hl));
	}

	// --- charts ---------------------------------------------------------
	const boxes = Object.fromEntries(Object.keys(METRICS).map((m) =>
	    [m, h('div', { class: 'chart', id: `chart-${m}`,
		'aria-label': `${METRICS[m].title} history` })]));

	async function loadCharts() {
		const secs = RANGES.find(([r]) => r === range)[1];
		const to = Math.floor(Date.now() / 1000);
		const from = to - secs;
		const q = (m) => qs({ metric: m,
		    from: new Date(from * 1000).toISOString().replace(/\.\d+Z$/, 'Z'),
		    to: new Date(to * 1000).toISOString().replace(/\.\d+Z$/, 'Z') });
		const [uPlot, ...hists] = await Promise.all([loadUPlot(),
		    ...Object.keys(METRICS).map((m) =>
			get(`/servers/${id}/health/history${q(m)}`))]);
		if (!alive)
			return;
		charts.forEach((c) => c?.destroy());
		charts = Object.keys(METRICS).map((m, i) =>
		    drawChart(uPlot, boxes[m], m, hists[i], from, to));
	}

	function drawRanges() {
		mount(rangeBar, RANGES.map(([r]) => h('button', { type: 'button',
		    'aria-pressed': String(r === range), onclick: () => {
			range = r;
			drawRanges();
			loadCharts().catch(report);
		    } }, r)));
	}

	const ro = new ResizeObserver(() => {
		for (const c of charts)
			if (c) {
				const w = c.root.parentElement.clientWidth;
				if (w && Math.abs(w - c.width) > 4)
					c.setSize({ width: w, height: 200 });
			}
	});
	ro.observe(chartGrid);

	// --- alerts ---------------------------------------------------------
	async function alertAction(a, action) {
		try {
			await post(`/alerts/${a.id}/${action}`);
			toast(action === 'acknowledge' ? 'Alert acknowledged.' :
			    'Alert resolved.');
			await Promise.all([loadAlerts(), loadCurrent()]);
		} catch (e) {
			report(e);
		}
	}

	function alertRow(a) {
		const open = a.status === 'active' || a.status === 'open';
		return h('li', { class: `alert edge-${a.severity}`,
		    dataset: { id: a.id, type: a.alert_type } },
		    h('div', { class: 'alert-main' },
			h('div', { class: 'alert-title' },
			    h('span', { class: `sev sev-${a.severity}` }, a.severity),
			    ' ', h('strong', {}, a.title),
			    a.occurrences > 1 ? ` (${a.occurrences} times)` : ''),
			h('p', { class: 'alert-msg' }, a.message),
			h('p', { class: 'alert-meta' },
			    h('code', {}, a.alert_type),
			    ` · opened ${when(a.opened_at)}`,
			    open ? ` · last seen ${ago(a.last_seen_at)}` :
				` · resolved ${when(a.resolved_at)}` +
				(a.resolve_reason ? ` (${a.resolve_reason})` : ''),
			    a.acknowledged_at ? h('span', { class: 'acked' },
				` · acknowledged ${ago(a.acknowledged_at)}`) : null)),
		    open ? h('div', { class: 'alert-actions' },
			a.acknowledged_at ? null : h('button', { type: 'button',
			    class: 'small', onclick: () => alertAction(a,
			    'acknowledge') }, 'Acknowledge'),
			h('button', { type: 'button', class: 'small',
			    onclick: () => alertAction(a, 'resolve') },
			    'Resolve')) : null);
	}

	let resolvedPages = 1;

	async function loadAlerts() {
		const pages = [...Array(resolvedPages).keys()].map((i) =>
		    get(`/servers/${id}/health/alerts?status=resolved&page=${i + 1}`));
		const [open, ...recent] = await Promise.all([
		    get(`/servers/${id}/health/alerts?status=active`), ...pages]);
		if (!alive)
			return;
		const rec = recent.flatMap((p) => p.alerts || []);
		const more = recent[recent.length - 1]?.has_more;
		mount(alertsBox,
		    h('h2', {}, 'Open alerts ', h('span', { class: 'count' },
			String(open.alerts.length))),
		    !isPro() && open.alerts.length ? upgradeBox('Acknowledging ' +
			'and resolving alerts') : null,
		    open.alerts.length ? h('ul', { class: 'alerts',
			id: 'open-alerts' }, open.alerts.map(alertRow)) :
			h('p', { class: 'muted' }, 'No open alerts.'),
		    h('h2', {}, 'Recently resolved'),
		    rec.length ? h('ul', { class: 'alerts resolved' },
			rec.map(alertRow)) :
			h('p', { class: 'muted' }, 'Nothing resolved recently.'),
		    more ? h('div', { class: 'actions left' }, h('button',
			{ type: 'button', class: 'small', onclick: () => {
			    resolvedPages++;
			    loadAlerts().catch(report);
			} }, 'Show older alerts')) : null);
	}

	// --- mutes ----------------------------------------------------------
	async function loadMutes() {
		const m = await get(`/servers/${id}/mutes`);
		if (!alive)
			return;
		const muted = new Set(m.muted_rules || []);
		const pro = isPro();
		const boxesList = (m.rules || []).map((r) => {
			const cb = h('input', { type: 'checkbox', name: r.id,
			    checked: muted.has(r.id), disabled: !pro });
			return h('li', {}, h('label', {}, cb,
			    h('span', { class: 'rule-id' }, r.id),
			    h('span', { class: 'rule-desc' }, r.description || ''),
			    r.kind === 'event' ? h('span', { class: 'tag' },
				'event') : null));
		});
		const err = errorArea();
		const form = h('form', { class: 'mutes' },
		    h('p', { class: 'hint' }, 'A muted rule is not evaluated ' +
			'for this server, and its open alert resolves on the ' +
			'next snapshot.'),
		    h('ul', { class: 'rules' }, boxesList), err,
		    pro ? h('div', { class: 'actions left' },
			h('button', { type: 'submit', class: 'primary' },
			    'Save mutes'),
			h('span', { class: 'muted' },
			    `${muted.size} muted`)) : null);
		form.addEventListener('submit', (ev) => {
			ev.preventDefault();
			const list = [...form.querySelectorAll('input:checked')]
			    .map((c) => c.name);
			busy(form, async () => {
				try {
					await put(`/servers/${id}/mutes`,
					    { muted_rules: list });
					toast(`Mutes saved (${list.length} muted).`);
					loadMutes();
				} catch (e) {
					report(e, err);
				}
			});
		});
		mount(mutesBox, h('h2', {}, 'Muted rules'),
		    pro ? null : upgradeBox('Muting rules per server'), form);
	}

	// --- name, tags, key, delete --------------------------------------------
	function drawSettings() {
		const name = h('input', { name: 'name', value: srv.name,
		    required: true, maxlength: 100 });
		const tags = h('input', { name: 'tags',
		    value: (srv.tags || []).join(', ') });
		const err = errorArea();
		const form = h('form', { class: 'stack', id: 'edit-server' },
		    field('Name', name), field('Tags', tags, 'Comma-separated.'),
		    h('p', { class: 'hint' }, `Hostname ${srv.hostname} ` +
			'cannot be changed.'), err,
		    h('div', { class: 'actions left' }, h('button',
			{ type: 'submit', class: 'primary' }, 'Save')));
		form.addEventListener('submit', (ev) => {
			ev.preventDefault();
			err.show(null);
			busy(form, async () => {
				try {
					srv = await patch(`/servers/${id}`, {
					    name: name.value.trim(),
					    tags: splitTags(tags.value) }).then(
					    (r) => r.server || r);
					toast('Server updated.');
					drawSettings();
					loadCurrent();
				} catch (e) {
					report(e, err);
				}
			});
		});
		const overrides = h('textarea', { name: 'config_overrides', rows: 5,
		    class: 'mono', spellcheck: 'false', id: 'overrides' });
		overrides.value = srv.config_overrides ?
		    JSON.stringify(srv.config_overrides, null, 2) : '';
		const oerr = errorArea();
		const oform = h('form', { class: 'stack', id: 'edit-overrides' },
		    field('Threshold overrides (JSON)', overrides, 'Per rule, ' +
			'the thresholds to use instead of the defaults, e.g. ' +
			'{"disk_space_high": {"warning": 90, "critical": 97}, ' +
			'"cpu_high": {"warning": 95}}. Empty: the defaults.'),
		    oerr, h('div', { class: 'actions left' }, h('button',
			{ type: 'submit', class: 'primary' }, 'Save thresholds')));
		oform.addEventListener('submit', (ev) => {
			ev.preventDefault();
			oerr.show(null);
			let value = null;
			if (overrides.value.trim()) {
				try {
					value = JSON.parse(overrides.value);
				} catch {
					oerr.show(new Error('This is not valid JSON.'));
					return;
				}
			}
			busy(oform, async () => {
				try {
					srv = await patch(`/servers/${id}`,
					    { config_overrides: value }).then(
					    (r) => r.server || r);
					toast('Thresholds saved; they apply from the ' +
					    'next snapshot.');
					drawSettings();
				} catch (e) {
					report(e, oerr);
				}
			});
		});
		mount(settingsBox,
		    h('h2', {}, 'Name and tags'), form,
		    h('h2', {}, 'Alert thresholds'), oform,
		    h('h2', {}, 'Collector key'),
		    h('p', {}, 'Issue a new key if the old one leaked or was ' +
			'lost. The old key stops working at once: update the ' +
			'agent\'s configuration right away.'),
		    h('button', { type: 'button', id: 'rotate-key',
			onclick: rotate }, 'Rotate key…'),
		    h('h2', { class: 'danger-title' }, 'Delete server'),
		    h('p', {}, 'Deletes the server with all its history and ' +
			'alerts. This cannot be undone.'),
		    h('button', { type: 'button', class: 'danger',
			id: 'delete-server', onclick: remove }, 'Delete server…'));
	}

	async function rotate() {
		if (!await confirmBox('Rotate the collector key?',
		    `The current key of ${srv.name} stops working immediately. ` +
		    'Its agent will be refused until you give it the new key.',
		    'Rotate key', true))
			return;
		try {
			const r = await post(`/servers/${id}/rotate-key`);
			await showKey(`${srv.name}: new collector key`,
			    r.collector_key, baseFromIngest(null), srv.name);
		} catch (e) {
			report(e);
		}
	}

	async function remove() {
		const ok = await modal('Delete server', (close) => {
			const input = h('input', { name: 'confirm', autocomplete: 'off',
			    id: 'delete-confirm' });
			const go = h('button', { type: 'submit', class: 'danger',
			    disabled: true }, 'Delete forever');
			input.addEventListener('input', () => {
				go.disabled = input.value !== srv.name;
			});
			const form = h('form', { class: 'stack' },
			    h('p', {}, 'This removes ', h('strong', {}, srv.name),
				' and all its metrics, alerts and settings.'),
			    field(`Type the server's name (${srv.name}) to confirm`,
				input),
			    h('div', { class: 'actions' }, go,
				h('button', { type: 'button',
				    onclick: () => close(false) }, 'Cancel')));
			form.addEventListener('submit', (ev) => {
				ev.preventDefault();
				if (input.value === srv.name)
					close(true);
			});
			return form;
		});
		if (!ok)
			return;
		try {
			await del(`/servers/${id}?confirm=true`);
			toast(`${srv.name} deleted.`);
			navigate('/');
		} catch (e) {
			report(e);
		}
	}

	drawRanges();
	mount(main, h('section', { class: 'page' }, head,
	    h('section', { 'aria-label': 'Current values' }, stats),
	    h('section', { class: 'panel' },
		h('div', { class: 'panel-head' }, h('h2', {}, 'History'),
		    rangeBar),
		h('p', { class: 'hint' }, 'Line: average; band: minimum to ' +
		    'maximum per interval. Times are in your time zone (' +
		    Intl.DateTimeFormat().resolvedOptions().timeZone + ').'),
		mount(chartGrid, Object.keys(METRICS).map((m) =>
		    h('figure', { class: 'chart-card' },
			h('figcaption', {}, METRICS[m].title), boxes[m])))),
	    h('section', { class: 'panel' }, alertsBox),
	    h('section', { class: 'panel' }, mutesBox),
	    h('section', { class: 'panel' }, settingsBox)));
	versions ??= await get('/version').catch(() => null);
	drawSettings();
	drawHead(null);
	await Promise.all([loadCurrent(), loadAlerts(), loadMutes(),
	    loadCharts()].map((p) => p.catch(report)));

	const tick = async () => {
		try {
			await Promise.all([loadCurrent(), loadAlerts()]);
			if (range === '1h' || range === '6h')
				await loadCharts();
		} catch (e) {
			report(e);
		}
		if (alive)
			timer = setTimeout(tick, REFRESH_MS);
	};
	timer = setTimeout(tick, REFRESH_MS);
	return () => {
		alive = false;
		clearTimeout(timer);
		ro.disconnect();
		charts.forEach((c) => c?.destroy());
	};
}
