// ui: building DOM without innerHTML (the CSP allows no inline code, and
// nothing from the API is ever parsed as markup), formatting, dialogs.

// h('div', {class: 'x', onclick: f}, child, ...): an element. Children
// may be nodes, strings, numbers, arrays, or null/false (skipped).
export function h(tag, attrs, ...children) {
	const el = document.createElement(tag);
	for (const [k, v] of Object.entries(attrs || {})) {
		if (v === null || v === undefined || v === false)
			continue;
		if (k.startsWith('on') && typeof v === 'function')
			el.addEventListener(k.slice(2), v);
		else if (k === 'class')
			el.className = v;
		else if (k === 'dataset')
			Object.assign(el.dataset, v);
		else if (k === 'value' || k === 'checked' || k === 'disabled' ||
		    k === 'selected' || k === 'open')
			el[k] = v;
		else
			el.setAttribute(k, v === true ? '' : String(v));
	}
	append(el, children);
	return el;
}

function append(el, children) {
	for (const c of children) {
		if (c === null || c === undefined || c === false)
			continue;
		if (Array.isArray(c))
			append(el, c);
		else
			el.append(c instanceof Node ? c : String(c));
	}
}

// Replaces el's children.
export function mount(el, ...children) {
	el.replaceChildren();
	append(el, children);
	return el;
}

// "2 min ago" for an ISO time; "never" for null.
export function ago(iso, now = Date.now()) {
	if (!iso)
		return 'never';
	const s = Math.round((now - Date.parse(iso)) / 1000);
	if (s < 0)
		return 'just now';
	if (s < 45)
		return s < 10 ? 'just now' : `${s} s ago`;
	if (s < 90 * 60)
		return `${Math.max(1, Math.round(s / 60))} min ago`;
	if (s < 36 * 3600)
		return `${Math.round(s / 3600)} h ago`;
	return `${Math.round(s / 86400)} d ago`;
}

const dtf = new Intl.DateTimeFormat(undefined,
    { dateStyle: 'medium', timeStyle: 'short' });

// A local date and time for an ISO string.
export function when(iso) {
	return iso ? dtf.format(new Date(iso)) : '—';
}

// A number with a unit, or an em dash when it was not measured.
export function num(v, unit = '', digits = 1) {
	if (v === null || v === undefined || Number.isNaN(v))
		return '—';
	const n = Number(v);
	return (Number.isInteger(n) ? String(n) : n.toFixed(digits)) + unit;
}

export function pct(v) {
	return num(v, '%', 1);
}

// Status words as the API gives them, and their order worst-first.
export const STATUS_ORDER = ['critical', 'offline', 'warning', 'pending',
    'suspended', 'healthy'];
export const STATUS_LABEL = {
	critical: 'Critical', warning: 'Warning', healthy: 'Healthy',
	offline: 'Offline', pending: 'Pending first snapshot',
	suspended: 'Suspended', unknown: 'Unknown',
};

export function badge(status, text) {
	return h('span', { class: `badge st-${status}` },
	    text ?? STATUS_LABEL[status] ?? status);
}

// A short-lived message at the bottom of the screen (aria-live).
export function toast(text, kind = 'ok') {
	const box = document.getElementById('toasts');
	const t = h('div', { class: `toast toast-${kind}`, role:
	    kind === 'error' ? 'alert' : 'status' }, text);
	box.append(t);
	// The newest three stay; older ones make room.
	while (box.children.length > 3)
		box.firstElementChild.remove();
	setTimeout(() => t.remove(), kind === 'error' ? 8000 : 4000);
}

// A modal <dialog>; resolves with what close(value) was given (undefined
// when dismissed with Escape or the close button).
export function modal(title, build, { wide = false } = {}) {
	return new Promise((resolve) => {
		let result;
		const close = (v) => { result = v; dlg.close(); };
		const body = h('div', { class: 'dialog-body' });
		const dlg = h('dialog', { class: wide ? 'wide' : '',
		    'aria-labelledby': 'dlg-title' },
		    h('div', { class: 'dialog-head' },
			h('h2', { id: 'dlg-title' }, title),
			h('button', { type: 'button', class: 'icon',
			    'aria-label': 'Close', onclick: () => close() },
			    '×')),
		    body);
		dlg.addEventListener('close', () => {
			dlg.remove();
			resolve(result);
		});
		document.body.append(dlg);
		append(body, [build(close)]);
		dlg.showModal();
		const first = body.querySelector(
		    'input:not([type=hidden]):not([readonly]), select, textarea, button');
		if (first)
			first.focus();
	});
}

// Asks yes or no; resolves true for yes.
export function confirmBox(title, text, yes = 'Confirm', danger = false) {
	return modal(title, (close) => h('div', {},
	    h('p', {}, text),
	    h('div', { class: 'actions' },
		h('button', { type: 'button', class: danger ? 'danger' : 'primary',
		    onclick: () => close(true) }, yes),
		h('button', { type: 'button', onclick: () => close(false) },
		    'Cancel')))).then((v) => v === true);
}

// Copies text; falls back to selecting it where the Clipboard API is
// missing (plain http on another host than localhost).
export async function copy(text, field) {
	try {
		await navigator.clipboard.writeText(text);
		toast('Copied to the clipboard.');
	} catch {
		if (field) {
			field.focus();
			field.select?.();
		}
		toast('Press Ctrl+C (⌘C) to copy the selected text.', 'warn');
	}
}

// A labelled form field.
export function field(label, input, hint) {
	const id = input.id || (input.id = 'f' + Math.random().toString(36).slice(2, 9));
	return h('div', { class: 'field' },
	    h('label', { for: id }, label), input,
	    hint ? h('p', { class: 'hint' }, hint) : null);
}

// An inline error area for a form; show(err) fills it.
export function errorArea() {
	const el = h('p', { class: 'form-error', role: 'alert', hidden: true });
	el.show = (err) => {
		if (!err) {
			el.hidden = true;
			el.textContent = '';
			return;
		}
		el.hidden = false;
		el.textContent = err.message || String(err);
	};
	return el;
}

// Disables a form's controls while fn runs.
export async function busy(form, fn) {
	const ctl = [...form.querySelectorAll('button, input, select, textarea')];
	const was = ctl.map((c) => c.disabled);
	ctl.forEach((c) => { c.disabled = true; });
	form.setAttribute('aria-busy', 'true');
	try {
		return await fn();
	} finally {
		ctl.forEach((c, i) => { c.disabled = was[i]; });
		form.removeAttribute('aria-busy');
	}
}
