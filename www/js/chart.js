// chart: history charts with uPlot (www/vendor/, copied there by make
// from the npm package). Loaded on the first server page only, so the
// first load of the dashboard stays small.
import { h } from './ui.js';

let loading = null;

export function loadUPlot() {
	if (window.uPlot)
		return Promise.resolve(window.uPlot);
	loading ??= new Promise((resolve, reject) => {
		document.head.append(h('link', { rel: 'stylesheet',
		    href: '/vendor/uPlot.min.css' }));
		const s = h('script', { src: '/vendor/uPlot.iife.min.js' });
		s.addEventListener('load', () => resolve(window.uPlot));
		s.addEventListener('error', () => {
			loading = null;
			reject(new Error('The chart library did not load.'));
		});
		document.head.append(s);
	});
	return loading;
}

const RES_SECS = { '1m': 60, '5m': 300, '1h': 3600, '1d': 86400 };
const dtf = new Intl.DateTimeFormat(undefined,
    { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });

// The metrics the API charts: each line is a (min, avg, max) triple.
export const METRICS = {
	cpu: { title: 'CPU', unit: '%', max: 100,
	    lines: [{ label: 'CPU', color: '#2563eb' }] },
	memory: { title: 'Memory', unit: '%', max: 100,
	    lines: [{ label: 'RAM', color: '#7c3aed' }] },
	disk: { title: 'Disk (fullest filesystem)', unit: '%', max: 100,
	    lines: [{ label: 'Disk', color: '#b45309' }] },
	network: { title: 'Network (Mbit/s)', unit: ' Mbit/s',
	    lines: [{ label: 'Receive', color: '#0e7490', key: 'rx' },
		{ label: 'Transmit', color: '#be185d', key: 'tx' }] },
	temperature: { title: 'CPU temperature (°C)', unit: ' °C',
	    lines: [{ label: 'Temperature', color: '#dc2626' }] },
};

function alpha(hex, a) {
	const n = parseInt(hex.slice(1), 16);
	return `rgba(${n >> 16}, ${(n >> 8) & 255}, ${n & 255}, ${a})`;
}

function fmt(v, unit) {
	if (v === null || v === undefined)
		return '—';
	const d = Number.isInteger(v) || Math.abs(v) >= 100 ? 0 :
	    Math.abs(v) >= 10 ? 1 : 2;
	return v.toFixed(d).replace(/(\.\d*?)0+$/, '$1').replace(/\.$/, '') + unit;
}

// Columns for uPlot from the API's points: x, then min/avg/max per line.
// Agents push every 60 to 300 s, so a bucket is often empty: only a
// silence well beyond the usual spacing becomes a gap, not a slope.
export function columns(metric, hist) {
	const m = METRICS[metric];
	const pts = hist.points || [];
	const ts = pts.map((p) => Date.parse(p.t) / 1000);
	const diffs = ts.slice(1).map((t, i) => t - ts[i]).sort((a, b) => a - b);
	const usual = Math.max(RES_SECS[hist.resolution] || 60,
	    diffs[diffs.length >> 1] || 0);
	const xs = [];
	const cols = m.lines.flatMap(() => [[], [], []]);
	let prev = null;
	for (const [i, p] of pts.entries()) {
		const t = ts[i];
		if (prev !== null && t - prev > 2.5 * usual) {
			xs.push(prev + usual);
			cols.forEach((c) => c.push(null));
		}
		xs.push(t);
		m.lines.forEach((l, i) => {
			const v = l.key ? p[l.key] : p;
			cols[i * 3].push(v?.min ?? null);
			cols[i * 3 + 1].push(v?.avg ?? null);
			cols[i * 3 + 2].push(v?.max ?? null);
		});
		prev = t;
	}
	return [xs, ...cols];
}

// Draws (or redraws) one chart into box. Returns the uPlot instance, or
// null when there is nothing to draw.
export function drawChart(uPlot, box, metric, hist, from, to) {
	const m = METRICS[metric];
	const data = columns(metric, hist);
	const n = (hist.points || []).length;
	box.dataset.points = String(n);
	box.replaceChildren();
	if (!n) {
		box.append(h('p', { class: 'nodata' }, metric === 'temperature' ?
		    'No temperature readings in this window (virtual ' +
		    'machines often have no sensors).' :
		    'No data in this window yet.'));
		return null;
	}
	const series = [{ value: (u, v) => v == null ? '—' :
	    dtf.format(new Date(v * 1000)) }];
	const bands = [];
	m.lines.forEach((l, i) => {
		const base = 1 + i * 3;
		const thin = { stroke: alpha(l.color, 0.45), width: 1,
		    points: { show: false }, value: (u, v) => fmt(v, m.unit) };
		series.push({ ...thin, label: `${l.label} min` });
		series.push({ label: `${l.label} avg`, stroke: l.color, width: 2,
		    value: (u, v) => fmt(v, m.unit),
		    points: { show: n < 40, size: 6, fill: l.color } });
		series.push({ ...thin, label: `${l.label} max` });
		bands.push({ series: [base + 2, base], fill: alpha(l.color, 0.14) });
	});
	const width = Math.max(260, box.clientWidth || 600);
	const u = new uPlot({
		width, height: 200, series, bands,
		cursor: { drag: { x: false, y: false } },
		legend: { live: true },
		scales: {
			x: { time: true, range: () => [from, to] },
			y: { range: (u, lo, hi) => [Math.min(0, lo ?? 0),
			    m.max && (hi ?? 0) <= m.max ? m.max :
			    Math.max(1, (hi ?? 1) * 1.1)] },
		},
		axes: [
			{ stroke: '#374151', grid: { stroke: '#e5e7eb' } },
			{ stroke: '#374151', grid: { stroke: '#e5e7eb' },
			    size: 52, values: (u, vals) =>
				vals.map((v) => fmt(v, m.unit === '%' ? '%' : '')) },
		],
	}, data, box);
	return u;
}
