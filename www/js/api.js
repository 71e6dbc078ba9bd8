// api: the dashboard's only way to the server, the public /api/v1. The
// session lives in an HttpOnly cookie the browser sends by itself: no
// script here ever holds a token.

export class ApiError extends Error {
	constructor(status, body) {
		super(body?.message || `The server answered ${status}.`);
		this.status = status;
		this.code = body?.error || 'http_' + status;
		this.body = body || {};
	}
	// A Pro feature asked for by a free account.
	get needsPro() {
		return this.status === 402 && (this.code === 'pro_required' ||
		    this.code === 'server_quota_exceeded');
	}
}

let unauthorized = () => {};

// Called with the error when a request gets 401 (the session ended).
export function onUnauthorized(fn) {
	unauthorized = fn;
}

// One request. Resolves with the decoded body (null for 204); rejects
// with an ApiError carrying the envelope's code and message.
export async function api(method, path, body, opts = {}) {
	const init = { method, credentials: 'same-origin', cache: 'no-store',
	    headers: { Accept: 'application/json', ...(opts.headers || {}) } };
	if (body !== undefined) {
		init.headers['Content-Type'] = 'application/json';
		init.body = JSON.stringify(body);
	}
	let res;
	try {
		res = await fetch('/api/v1' + path, init);
	} catch {
		throw new ApiError(0, { error: 'network', message:
		    'The server cannot be reached. Check your connection.' });
	}
	if (res.status === 204)
		return null;
	let data = null;
	try {
		data = await res.json();
	} catch {
		data = null;
	}
	if (!res.ok) {
		const err = new ApiError(res.status, data);
		if (res.status === 429) {
			const after = res.headers.get('Retry-After');
			if (after)
				err.message += ` Try again in ${after} s.`;
		}
		if (res.status === 401 && !opts.quiet401)
			unauthorized(err);
		throw err;
	}
	return data;
}

export const get = (p, o) => api('GET', p, undefined, o);
export const post = (p, b, o) => api('POST', p, b ?? {}, o);
export const put = (p, b, o) => api('PUT', p, b, o);
export const patch = (p, b, o) => api('PATCH', p, b, o);
export const del = (p, o) => api('DELETE', p, undefined, o);

// Query string from an object; arrays repeat the key (?tag=a&tag=b).
export function qs(params) {
	const u = new URLSearchParams();
	for (const [k, v] of Object.entries(params))
		for (const x of [].concat(v))
			if (x !== undefined && x !== null && x !== '')
				u.append(k, x);
	const s = u.toString();
	return s ? '?' + s : '';
}

// Every page of a cursor-paginated list, concatenated.
export async function getAll(path, key, params = {}) {
	const out = [];
	let cursor;
	do {
		const page = await get(path + qs({ ...params, limit: 100, cursor }));
		out.push(...(page[key] || []));
		cursor = page.next_cursor;
	} while (cursor);
	return out;
}
