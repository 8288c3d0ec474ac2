// lensflow clinic portal: hash-routed views over the lensflow API.
// No framework, no build step. Every DOM node is built with el() from
// text, never from HTML strings, so API data cannot inject markup.

// LABELS names every field the API returns in the lab's words, with its
// unit and decimals, says statuses in words and groups a lens's
// parameters as a lab's order form does (labels.js; its Go test fails when
// an API field is missing from it).
import LABELS from './labels.js';

const TOKEN = 'lensflow.token', ROLE = 'lensflow.role', WHO = 'lensflow.who';
const JOB_NEXT = { // shared/workflow: job transitions
  queued: ['cutting', 'cancelled'], cutting: ['inspection'], inspection: ['dispatched', 'failed'],
  failed: ['requeued'], requeued: ['cutting', 'cancelled'],
};

let config = { mode: 'local' };
let generation = 0; // bumped on every navigation: stale async work stops
let redraw = []; // canvas redraws on resize

// ---------- DOM helpers ----------

function el(tag, attrs = {}, ...children) {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) n.addEventListener(k.slice(2), v);
    else if (k === 'text') n.textContent = v;
    else n.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    n.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return n;
}

let uid = 0;
// field is a labelled control: the label wraps the text and the control.
function field(text, control) {
  if (!control.id) control.id = 'f' + (++uid);
  return el('label', { for: control.id }, text, control);
}

// labelCells gives each cell of rows its column's name: on a phone the
// rows stack as cards and show it before the value (app.css).
function labelCells(headers, rows) {
  for (const tr of [rows].flat()) {
    if (!tr || !tr.children) continue;
    [...tr.children].forEach((cell, i) => { if (headers[i]) cell.dataset.label = headers[i]; });
  }
  return rows;
}

function table(headers, rows) {
  labelCells(headers, rows);
  return el('div', { class: 'table-wrap' }, el('table', {},
    el('thead', {}, el('tr', {}, headers.map(h => el('th', { scope: 'col' }, h)))),
    el('tbody', {}, rows)));
}

// tableWithID is table() with an id on the table itself.
function tableWithID(id, headers, rows) {
  const wrap = table(headers, rows);
  wrap.querySelector('table').id = id;
  return wrap;
}

function fmtDate(s) {
  if (!s) return '';
  const d = new Date(s);
  return isNaN(d) ? String(s) : d.toLocaleString();
}

function num(v, digits = 2) {
  if (typeof v !== 'number' || !isFinite(v)) return '—';
  const t = v.toFixed(digits);
  return /^-0(\.0*)?$/.test(t) ? t.slice(1) : t; // no "-0.00"
}

// signed is a power as prescriptions write it: +1.25, -0.50, 0.00.
function signed(v, digits = 2) {
  if (typeof v !== 'number' || !isFinite(v)) return '—';
  const r = Number(v.toFixed(digits));
  return r === 0 ? (0).toFixed(digits) : (r > 0 ? '+' : '') + r.toFixed(digits);
}

// deg is an angle in whole degrees.
function deg(v) {
  return typeof v === 'number' && isFinite(v) ? Math.round(v) + '°' : '—';
}

// axis is a TABO axis in whole degrees, 1-180 as prescriptions write it.
function axis(v) {
  if (typeof v !== 'number' || !isFinite(v)) return '—';
  const a = ((Math.round(v) % 180) + 180) % 180;
  return (a === 0 ? 180 : a) + '°';
}

// rxText is a refraction ({sphere_D, cylinder_D, axis_deg, vertex_mm}) as
// practitioners write it: "-3.00 / -1.25 x 180 at 12 mm".
function rxText(r) {
  if (!r) return '';
  let t = signed(r.sphere_D);
  if (r.cylinder_D) t += ` / ${signed(r.cylinder_D)} x ${axis(r.axis_deg).replace('°', '')}`;
  if (r.vertex_mm) t += ` at ${Math.round(r.vertex_mm * 10) / 10} mm`;
  return t;
}

// kv is a two-column table of [label, value] rows (a value may be a node).
// It stays a table on a phone: two columns fit.
function kv(rows, attrs = {}) {
  return el('table', { class: 'kv', ...attrs }, el('tbody', {},
    rows.filter(Boolean).map(([k, v]) => el('tr', {}, el('th', { scope: 'row' }, k), el('td', { class: 'num' }, v)))));
}

// ---------- labels: names, units, words (labels.js) ----------

// labelFor is the label of the field at path (keys joined by dots, no
// array indices): the path's own entry over its key's, or null when the
// table has neither (the page then shows the key and the raw value, so a
// new field never vanishes).
function labelFor(path) {
  const key = path.slice(path.lastIndexOf('.') + 1);
  const f = LABELS.fields[key], p = LABELS.paths[path];
  return f || p ? { ...f, ...p } : null;
}

// words is a coded value (a status, a lens type) in words; a value the
// table does not know shows as it is.
function words(kind, v) {
  const t = LABELS.values[kind];
  return t && Object.hasOwn(t, v) ? t[v] : String(v ?? '');
}

// visitName is a visit key in words: week-1 reads "Week 1".
function visitName(k) {
  const m = /^(day|week|month|year)-(\d+)$/.exec(k || '');
  if (m) return m[1][0].toUpperCase() + m[1].slice(1) + ' ' + m[2];
  const named = { delivery: 'Delivery', unscheduled: 'Unscheduled visit' };
  return Object.hasOwn(named, k || '') ? named[k] : String(k ?? '');
}

// statusBadge is a status in words; data-status keeps its code.
function statusBadge(kind, v, attrs = {}) {
  return el('span', { class: 'status', 'data-status': v, ...attrs }, words(kind, v));
}

const isObject = v => v !== null && typeof v === 'object' && !Array.isArray(v);

// withUnit writes a number with its unit: "7.75 mm", but "35°".
function withUnit(t, unit) {
  return !unit ? t : unit === '°' ? t + '°' : t + ' ' + unit;
}

// fmtScalar writes one value as its label says (raw without a label):
// decimals as the lab writes them, signed powers, TABO axes, words.
function fmtScalar(v, lab) {
  if (v === null || v === undefined) return '—';
  if (!lab) return typeof v === 'string' ? v : JSON.stringify(v);
  if (typeof v === 'boolean') return v ? 'Yes' : 'No';
  if (typeof v === 'string') {
    if (lab.format === 'visit') return visitName(v);
    if (lab.format === 'field') return LABELS.fields[v] ? LABELS.fields[v].name : v;
    if (lab.format === 'date') return fmtDate(v);
    return lab.values ? words(lab.values, v) : v;
  }
  if (typeof v !== 'number') return JSON.stringify(v);
  const d = lab.decimals ?? 2;
  switch (lab.format) {
    case 'signed': return withUnit(signed(v, d), lab.unit);
    case 'axis': return axis(v);
    case 'bool': return v ? 'Yes' : 'No';
    case 'int': case 'text': case 'id': return String(Math.round(v) === v ? v : num(v, d));
    default: return withUnit(num(v, d), lab.unit);
  }
}

// valueNode shows the value at path: a number or a word as its label
// says, a refraction as prescriptions write it, an object as a nested
// list, a list of records as a table.
function valueNode(v, path) {
  const lab = labelFor(path);
  if (v === null || v === undefined) return '—';
  if (lab && lab.format === 'rx' && isObject(v)) return rxText(v);
  if (Array.isArray(v)) {
    if (!v.length) return 'none';
    if (v.every(isObject)) {
      const flat = v.every(x => Object.values(x).every(y => !isObject(y) && !Array.isArray(y)));
      return flat ? recordTable(v, path) : el('div', { class: 'param-blocks' }, v.map(x => fieldList(x, path)));
    }
    if (v.length > 8 && v.every(x => typeof x === 'number')) return `${v.length} values (in the raw values)`;
    return v.map(x => fmtScalar(x, lab)).join(typeof v[0] === 'string' ? '; ' : ', ');
  }
  if (isObject(v)) {
    if (lab && lab.keys === 'chord') { // a value by chord diameter: { "8": 1.08, "10": 1.75 }
      return el('dl', { class: 'params' }, Object.keys(v).sort((a, b) => Number(a) - Number(b)).map(k =>
        el('div', { class: 'param' }, el('dt', {}, `At the ${k} mm chord`), el('dd', {}, fmtScalar(v[k], lab)))));
    }
    return fieldList(v, path);
  }
  return fmtScalar(v, lab);
}

// fieldRow is one field as a name-value pair of a <dl>.
// A folded object (a nomogram's settings) opens on a click.
function fieldRow(v, path) {
  const lab = labelFor(path), key = path.slice(path.lastIndexOf('.') + 1);
  const value = lab && lab.fold && isObject(v)
    ? el('details', { class: 'fold' }, el('summary', {}, `Show all ${Object.keys(v).length}`), valueNode(v, path)) : valueNode(v, path);
  return el('div', { class: 'param', 'data-field': path },
    el('dt', lab ? {} : { class: 'raw-key' }, lab ? lab.name : key), el('dd', {}, value));
}

// fieldList is every field of obj (at path) as a <dl>.
function fieldList(obj, path, keys = Object.keys(obj)) {
  return el('dl', { class: 'params' }, keys.filter(k => obj[k] !== undefined && obj[k] !== null).map(k => fieldRow(obj[k], path + '.' + k)));
}

// recordTable is a list of records (landing zones, meridians) as a table,
// a column a field. A record naming a field (a revision's override, an
// adjustment's change) has its from and to in that field's unit.
function recordTable(rows, path) {
  const keys = [...new Set(rows.flatMap(r => Object.keys(r)))];
  const heads = keys.map(k => { const l = labelFor(path + '.' + k); return l ? l.name : k; });
  return table(heads, rows.map(r => {
    const named = LABELS.fields[r.field ?? r.parameter];
    return el('tr', {}, keys.map(k => el('td', { class: 'num' }, (k === 'from' || k === 'to') && named
      ? fmtScalar(r[k], named.format === 'bool' ? { format: 'bool' } : named) : valueNode(r[k], path + '.' + k))));
  }));
}

// at is the value at a dotted path under obj.
function at(obj, path) {
  return path.split('.').reduce((o, k) => (o === null || o === undefined ? undefined : o[k]), obj);
}

// unplaced lists the paths under obj that the form's paths do not cover.
function unplaced(obj, placed, prefix = '') {
  const out = [];
  for (const [k, v] of Object.entries(obj || {})) {
    const p = prefix ? prefix + '.' + k : k;
    if (v === undefined || v === null || placed.includes(p)) continue;
    if (isObject(v) && placed.some(q => q.startsWith(p + '.'))) out.push(...unplaced(v, placed, p));
    else out.push(p);
  }
  return out;
}

// orderForm shows obj as the labels table's form name groups it, as a
// lab's order form does: a section a group, a <dl> of named values with
// their units. A field the form does not place shows under "Other".
function orderForm(obj, name, attrs = {}) {
  const f = LABELS.forms[name] || { root: name, groups: [] };
  const placed = [...(f.elsewhere || [])];
  const groups = [];
  for (const g of f.groups) {
    placed.push(...g.fields);
    const rows = g.fields.filter(p => at(obj, p) !== undefined && at(obj, p) !== null).map(p => fieldRow(at(obj, p), f.root + '.' + p));
    if (rows.length) groups.push([g.group, rows]);
  }
  const other = unplaced(obj, placed);
  if (other.length) groups.push(['Other', other.map(p => fieldRow(at(obj, p), f.root + '.' + p))]);
  return el('div', { class: 'order-form', ...attrs }, groups.map(([g, rows]) => {
    const id = 'g' + (++uid);
    return el('section', { class: 'param-group', 'aria-labelledby': id }, el('h5', { id }, g), el('dl', { class: 'params' }, rows));
  }));
}

// rawValues is obj's JSON as the API returned it, folded away.
function rawValues(obj, id) {
  return el('details', { class: 'raw', id }, el('summary', {}, 'Raw values'),
    el('pre', { tabindex: '0', 'aria-label': 'Raw values (JSON)' }, JSON.stringify(obj, null, 2)));
}

// patternBadge is the screening's pattern in words; its colour only
// repeats them.
function patternBadge(pattern) {
  const known = Object.hasOwn(LABELS.values.pattern, pattern);
  return el('span', { class: 'pattern pattern-' + (known ? pattern : 'unknown'), 'data-pattern': pattern },
    known ? words('pattern', pattern) : String(pattern || 'not screened'));
}

function showError(msg) {
  const e = document.getElementById('error');
  e.textContent = msg;
  e.hidden = !msg;
}

function showNotice(msg) {
  const e = document.getElementById('notice');
  e.textContent = msg;
  e.hidden = !msg;
}

function setView(...nodes) {
  const v = document.getElementById('view');
  v.replaceChildren(...nodes);
}

// ---------- API ----------

class APIError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

// problemMessage turns a problem+json body (or anything else) into a sentence.
function problemMessage(status, text) {
  try {
    const p = JSON.parse(text);
    if (p && (p.detail || p.title)) {
      return (p.title && p.detail && !p.detail.startsWith(p.title) ? p.title + ': ' + p.detail : (p.detail || p.title));
    }
  } catch { /* not JSON */ }
  return `The server answered ${status}${text ? ': ' + text.slice(0, 200) : ''}`;
}

function idempotencyKey() {
  return (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random().toString(16).slice(2));
}

async function api(method, path, body, extraHeaders = {}) {
  const headers = { Accept: 'application/json', ...extraHeaders };
  const token = sessionStorage.getItem(TOKEN);
  if (token) headers.Authorization = 'Bearer ' + token;
  let payload;
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, { method, headers, body: payload });
  } catch (e) {
    throw new APIError(0, 'Cannot reach the server: ' + e.message);
  }
  const text = await res.text();
  if (!res.ok) {
    if (res.status === 401 && token) signOut(false);
    throw new APIError(res.status, problemMessage(res.status, text));
  }
  return text ? JSON.parse(text) : null;
}

// RETRYABLE are the statuses a client may retry (besides network errors).
const RETRYABLE = new Set([0, 408, 429, 502, 503, 504]);

// apiCreate POSTs body with an Idempotency-Key, retrying a retryable
// failure with jittered exponential backoff, at most 3 attempts, all with
// the same key: the server answers a repeat with the first response.
async function apiCreate(path, body, key) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await api('POST', path, body, { 'Idempotency-Key': key });
    } catch (e) {
      if (attempt >= 3 || !(e instanceof APIError) || !RETRYABLE.has(e.status)) throw e;
      await new Promise(r => setTimeout(r, (250 << attempt) * (0.5 + Math.random())));
    }
  }
}

// guard runs an async view step and shows its error, unless the user has
// navigated away meanwhile.
async function guard(gen, fn) {
  try {
    return await fn();
  } catch (e) {
    if (gen === generation) showError(e.message || String(e));
    return undefined;
  }
}

// ---------- paged lists ----------

// Every list route pages in AIP-158 style: pageSize and pageToken in the
// query, nextPageToken beside the list in the answer (absent on the last
// page; opaque, passed back unchanged).

// PAGE_SIZE is how many items the portal asks a list for at a time (the
// API's default). A whole number from 1 to 100 under the localStorage key
// lensflow.pageSize replaces it: the browser test sets a small one to page
// through short lists, and a developer can do the same from the console.
const PAGE_SIZE = 50, PAGE_SIZE_KEY = 'lensflow.pageSize';

function pageSize() {
  const n = Number(localStorage.getItem(PAGE_SIZE_KEY));
  return Number.isInteger(n) && n >= 1 && n <= 100 ? n : PAGE_SIZE;
}

// getPage reads one page of the list route path (which may hold a query
// already): the items under key and the next page's token ('' on the last).
async function getPage(path, key, token) {
  const page = new URLSearchParams({ pageSize: String(pageSize()) });
  if (token) page.set('pageToken', token);
  const res = await api('GET', path + (path.includes('?') ? '&' : '?') + page);
  return { items: (res && res[key]) || [], next: (res && res.nextPageToken) || '' };
}

// findInPages reads pages of a list until an item satisfies want, and
// answers it (undefined when no page has one). For a view that needs one
// item of a list no route answers alone.
async function findInPages(path, key, want) {
  let token = '';
  do {
    const p = await getPage(path, key, token);
    const found = p.items.find(want);
    if (found) return found;
    if (p.next === token) break; // a token that does not move on would loop
    token = p.next;
  } while (token);
  return undefined;
}

// allPages reads every page of a list, for a view whose logic needs the
// whole list; a list that is only shown pages with pagedList instead.
async function allPages(path, key) {
  const out = [];
  let token = '';
  do {
    const p = await getPage(path, key, token);
    out.push(...p.items);
    if (p.next === token) break;
    token = p.next;
  } while (token);
  return out;
}

// tableFrame is an empty table() a paged list adds rows to.
function tableFrame(headers) {
  return () => {
    const node = table(headers, []);
    const body = node.querySelector('tbody');
    return { node, add: rows => body.append(...labelCells(headers, rows)) };
  };
}

// listFrame is an empty list (ol, ul) a paged list adds items to.
function listFrame(tag, attrs = {}) {
  return () => {
    const node = el(tag, attrs);
    return { node, add: items => node.append(...items) };
  };
}

// pagedList is how every list view shows a list route: in box, the first
// page as frame() builds it with row(item) for each item and, while the
// answer has a nextPageToken, a "Show more (N shown)" button under it that
// reads the next page and appends its rows to the same table or list. A
// page that fails to load leaves what is shown, shows the error as the
// page does elsewhere and keeps the button to try again.
//
// opts: path and key (the route and its list's field), frame (tableFrame
// or listFrame), row, empty and unavailable (what box shows with no items
// or when the first page fails: a text, or a function making a node).
// It returns { load, count, complete }: load(keep) (re)reads the list from
// its first page and on until at least keep items are shown (a reload
// keeps what the reader had opened; Infinity reads it all), and answers
// the items shown, or undefined when the first page failed.
function pagedList(gen, box, { path, key, frame, row, empty, unavailable }) {
  const node = v => (typeof v === 'function' ? v() : el('p', {}, v));
  let items = [], token = '', add = () => {}, shown = null, run = 0, complete = false;
  // A load is stale once the view, a later load or another list in the
  // same box (the lab queue's filter changed) has taken over.
  const owner = String(++uid);
  const stale = mine => gen !== generation || mine !== run || box.dataset.pager !== owner;
  const more = el('button', { type: 'button', class: 'secondary show-more' });
  const foot = el('div', { class: 'buttons more' }, more);
  const append = (page) => {
    const rows = page.items.map(row);
    items.push(...page.items);
    add(rows);
    token = page.next === token ? '' : page.next; // a token that does not move on would repeat a page
    return rows;
  };
  const settle = () => {
    complete = !token;
    foot.hidden = complete;
    more.textContent = `Show more (${items.length} shown)`;
  };
  more.addEventListener('click', async () => {
    // aria-disabled, not disabled, while the page loads: a disabled button
    // drops the keyboard focus, and the reader's place with it.
    if (more.getAttribute('aria-disabled') === 'true') return;
    const mine = run;
    showError('');
    more.setAttribute('aria-disabled', 'true');
    const page = await guard(gen, () => getPage(path, key, token));
    more.removeAttribute('aria-disabled');
    if (stale(mine) || !page) return;
    const rows = append(page);
    settle();
    if (complete && document.activeElement === more) {
      // The button goes with the last page: focus what it brought.
      const first = rows.length ? rows[0].querySelector('a, button') : null;
      if (first) first.focus();
      else { shown.tabIndex = -1; shown.focus(); }
    }
  });
  const load = async (keep = 0) => {
    const mine = ++run;
    box.dataset.pager = owner;
    let page = await guard(gen, () => getPage(path, key, ''));
    if (stale(mine)) return undefined;
    if (!page) { box.replaceChildren(node(unavailable)); return undefined; }
    const f = frame();
    items = []; token = ''; add = f.add; shown = f.node;
    append(page);
    while (token && items.length < keep) {
      page = await guard(gen, () => getPage(path, key, token));
      if (stale(mine)) return undefined;
      if (!page) break; // shown as far as it loaded; the button reads on
      append(page);
    }
    settle();
    if (!shown.id) shown.id = 'list' + (++uid);
    more.setAttribute('aria-controls', shown.id);
    box.replaceChildren(items.length === 0 && complete ? node(empty) : shown, foot);
    return items;
  };
  return { load, count: () => items.length, complete: () => complete };
}

// ---------- session ----------

function signIn(token, role, who) {
  sessionStorage.setItem(TOKEN, token);
  sessionStorage.setItem(ROLE, role);
  sessionStorage.setItem(WHO, who);
  location.hash = role === 'lab' ? '#/lab' : '#/patients';
  render();
}

function signOut(navigate = true) {
  sessionStorage.removeItem(TOKEN);
  sessionStorage.removeItem(ROLE);
  sessionStorage.removeItem(WHO);
  if (navigate) location.hash = '#/signin';
  renderNav();
}

function claims(jwt) {
  try {
    const p = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(p + '='.repeat((4 - p.length % 4) % 4)));
  } catch { return {}; }
}

function renderNav() {
  const nav = document.getElementById('nav');
  const role = sessionStorage.getItem(ROLE);
  const here = location.hash.split('/')[1] || '';
  const link = (href, text, key) => el('a', { href, 'aria-current': here === key ? 'page' : null }, text);
  if (!sessionStorage.getItem(TOKEN)) {
    nav.replaceChildren(link('#/signin', 'Sign in', 'signin'));
    return;
  }
  const items = role === 'lab'
    ? [link('#/lab', 'Lab jobs', 'lab')]
    : [link('#/patients', 'Patients', 'patients'), link('#/orders', 'Orders', 'orders'), link('#/follow-ups', 'Follow-ups due', 'follow-ups')];
  nav.replaceChildren(...items,
    el('span', { class: 'who' }, sessionStorage.getItem(WHO) || ''),
    el('button', { type: 'button', class: 'secondary', id: 'signout', onclick: () => signOut() }, 'Sign out'));
}

// ---------- views ----------

async function viewSignIn(gen) {
  const head = el('h2', {}, 'Sign in');
  if (config.mode === 'local') {
    const box = el('div', { class: 'buttons', id: 'signin-buttons' }, el('p', { class: 'muted' }, 'Loading development accounts…'));
    setView(head, el('p', {}, 'Local stack: choose a development account.'), box);
    const toks = await guard(gen, () => api('GET', '/dev/tokens'));
    if (!toks || gen !== generation) { box.replaceChildren(); return; }
    const choices = [];
    for (const [clinic, tok] of Object.entries(toks.clinics || {})) {
      choices.push(el('button', { type: 'button', 'data-account': clinic, onclick: () => signIn(tok, 'practitioner', clinic + ' practitioner') }, clinic + ' practitioner'));
    }
    if (toks.lab) choices.push(el('button', { type: 'button', 'data-account': 'lab', onclick: () => signIn(toks.lab, 'lab', 'lab staff') }, 'lab staff'));
    box.replaceChildren(...choices);
    return;
  }
  const email = el('input', { type: 'email', name: 'email', autocomplete: 'username', required: true });
  const password = el('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: true });
  const submit = el('button', { type: 'submit', id: 'signin-submit' }, 'Sign in');
  const form = el('form', { class: 'panel', onsubmit: async (ev) => {
    ev.preventDefault();
    showError('');
    submit.disabled = true;
    try {
      const url = 'https://identitytoolkit.googleapis.com/v1/accounts:signInWithPassword?key=' + encodeURIComponent(config.apiKey || '');
      const res = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ email: email.value, password: password.value, returnSecureToken: true }) });
      const body = await res.json().catch(() => ({}));
      if (!res.ok) throw new Error('Sign-in failed: ' + ((body.error && body.error.message) || res.status));
      const c = claims(body.idToken);
      signIn(body.idToken, c.role || 'practitioner', body.email || email.value);
    } catch (e) {
      showError(e.message);
    } finally {
      submit.disabled = false;
    }
  } }, field('Email', email), field('Password', password), el('div', { class: 'buttons' }, submit));
  setView(head, form);
}

async function viewPatients(gen) {
  const list = el('div', {}, el('p', { class: 'muted' }, 'Loading patients…'));
  const name = el('input', { name: 'name', required: true, autocomplete: 'off' });
  const birth = el('input', { name: 'birthDate', type: 'date', required: true });
  const create = el('button', { type: 'submit', id: 'create-patient' }, 'Create patient');
  const form = el('form', { class: 'panel', onsubmit: async (ev) => {
    ev.preventDefault();
    showError('');
    create.disabled = true;
    const p = await guard(gen, () => api('POST', '/v1/patients', { name: name.value, birthDate: birth.value }, { 'Idempotency-Key': idempotencyKey() }));
    create.disabled = false;
    if (p && p.id) location.hash = '#/patients/' + encodeURIComponent(p.id);
  } }, el('h3', {}, 'New patient'), el('div', { class: 'fields' }, field('Name', name), field('Birth date', birth)), el('div', { class: 'buttons' }, create));
  setView(el('h2', {}, 'Patients'), el('div', { class: 'grid two' }, el('section', { class: 'panel', 'aria-label': 'Patient list' }, list), form));
  await pagedList(gen, list, { path: '/v1/patients', key: 'patients', frame: tableFrame(['Name', 'Birth date', 'Created']),
    row: p => el('tr', { 'data-patient': p.id }, el('td', {}, el('a', { href: '#/patients/' + encodeURIComponent(p.id) }, p.name || p.id)), el('td', {}, p.birthDate || ''), el('td', {}, fmtDate(p.created))),
    empty: 'No patients yet.', unavailable: 'The patient list is not available.' }).load();
}

// fieldHint is a labelled control with a hint below it, tied to the
// control by aria-describedby; wide spans the whole row of a .fields grid.
function fieldHint(text, control, hintText, wide = false) {
  const f = field(text, control);
  const id = control.id + '-hint';
  control.setAttribute('aria-describedby', id);
  return el('div', { class: 'field' + (wide ? ' wide' : '') }, f, el('p', { class: 'hint', id }, hintText));
}

// problemField is the query parameter a problem+json body names, if any.
function problemField(text) {
  try {
    const p = JSON.parse(text);
    return p && typeof p.field === 'string' ? p.field : '';
  } catch { return ''; }
}

// lastUpload is this session's last upload: its scan, file and query
// parameters, so that a scan refused for ortho-k can be sent again with the
// override without choosing the file again (a page reload forgets it).
let lastUpload = null;

const OVERRIDE_LABEL = 'Design ortho-k even if the screening finds keratoconus or an irregular cornea (my clinical decision; recorded)';

// needsOverride tells whether a failed scan's reason asks for the ortho-k
// override.
function needsOverride(scan) {
  return !!scan && scan.status === 'failed' && scan.lensType === 'orthok' && /orthokOverride/.test(scan.reason || '');
}

// viewPatient lists a patient's scans beside the upload form. With
// againScanId (#/patients/{id}/again/{scanId}) the form is filled in from
// that scan, to send it again (with the ortho-k override, when that is why
// it failed).
async function viewPatient(gen, patientId, againScanId) {
  const scans = el('div', {}, el('p', { class: 'muted' }, 'Loading scans…'));
  const file = el('input', { type: 'file', name: 'file', required: true, accept: '.csv,.txt,.xyz,text/csv,text/plain' });
  const fileNote = el('p', { class: 'hint', id: 'file-note', hidden: true });
  const eye = el('select', { name: 'eye' }, el('option', { value: 'OD' }, 'OD (right)'), el('option', { value: 'OS' }, 'OS (left)'));
  const lensType = el('select', { name: 'lensType' }, el('option', { value: 'rgp' }, 'RGP'), el('option', { value: 'orthok' }, 'Ortho-k'), el('option', { value: 'scleral' }, 'Scleral'));
  const rx = el('input', { name: 'rx', type: 'text', autocomplete: 'off', spellcheck: 'false', placeholder: '-3.00 / -1.25 x 180' });
  const vertex = el('input', { name: 'vertex', type: 'number', step: '0.5', min: '0', max: '20', placeholder: '12' });
  const hvid = el('input', { name: 'hvid', type: 'number', step: '0.1', min: '9', max: '14', placeholder: '11.8' });
  const override = el('input', { type: 'checkbox', name: 'orthokOverride', value: 'true', id: 'orthok-override' });
  const overrideBox = el('div', { class: 'override', id: 'override-box' },
    el('label', { class: 'check', for: 'orthok-override' }, override, el('span', {}, OVERRIDE_LABEL)),
    el('p', { class: 'hint', id: 'orthok-override-hint' }, 'Leave it unticked unless you mean it. The screening refuses ortho-k on a keratoconic or irregular cornea; ticked, the lens is designed anyway and your decision is recorded on the scan and in the audit log.'));
  override.setAttribute('aria-describedby', 'orthok-override-hint');
  const heightSign = el('select', { name: 'heightSign' }, el('option', { value: '' }, 'Automatic (from the file)'),
    el('option', { value: 'depth' }, 'Depth (positive into the eye)'), el('option', { value: 'elevation' }, 'Elevation (negative below the apex)'));
  const gridUnits = el('select', { name: 'gridUnits' }, el('option', { value: '' }, 'Automatic (from the file)'), el('option', { value: 'mm' }, 'mm'), el('option', { value: 'um' }, 'µm'));
  const gridReference = el('select', { name: 'gridReference' }, el('option', { value: '' }, 'Automatic (from the file)'),
    el('option', { value: 'apex' }, 'Apex plane'), el('option', { value: 'bfs' }, 'Best-fit sphere'));
  const gridBfs = el('input', { name: 'gridBfs', type: 'number', step: '0.01', min: '5', max: '12' });
  const fileOptions = el('details', { class: 'file-options', id: 'file-options' },
    el('summary', {}, 'File options (only when an upload asks for them)'),
    el('p', { class: 'hint' }, 'Most files say all of this themselves. Set an option only when the upload is refused for want of it.'),
    el('div', { class: 'fields' }, field('Height sign', heightSign), field('Grid units', gridUnits), field('Grid reference', gridReference), field('Best-fit sphere radius (mm)', gridBfs)));
  const controls = { eye, lensType, rx, vertex, hvid, orthokOverride: override, heightSign, gridUnits, gridReference, gridBfs, file };
  const showOverride = () => {
    const orthok = lensType.value === 'orthok';
    overrideBox.hidden = !orthok;
    override.disabled = !orthok;
    if (!orthok) override.checked = false;
  };
  lensType.addEventListener('change', showOverride);
  for (const c of Object.values(controls)) c.addEventListener('input', () => c.removeAttribute('aria-invalid'));
  const progress = el('progress', { max: '100', value: '0', id: 'upload-progress' });
  const progressLabel = el('label', { for: 'upload-progress' }, 'Upload progress', progress);
  progressLabel.hidden = true;
  const send = el('button', { type: 'submit', id: 'upload' }, 'Upload scan');
  const againNote = el('div', { class: 'callout', id: 'again-note', hidden: true });
  const heading = el('h3', { id: 'upload-h' }, 'Upload a scan');
  const form = el('form', { class: 'panel', id: 'upload-form', 'aria-labelledby': 'upload-h', onsubmit: (ev) => {
    ev.preventDefault();
    showError('');
    for (const c of Object.values(controls)) c.removeAttribute('aria-invalid');
    if (!file.files.length) { showError('Choose a scan file.'); file.setAttribute('aria-invalid', 'true'); file.focus(); return; }
    const q = new URLSearchParams({ eye: eye.value, lensType: lensType.value });
    for (const [k, c] of Object.entries({ rx, vertex, hvid, heightSign, gridUnits, gridReference, gridBfs })) {
      const v = c.value.trim();
      if (v) q.set(k, v);
    }
    if (lensType.value === 'orthok' && override.checked) q.set('orthokOverride', 'true');
    const chosen = file.files[0];
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/v1/patients/' + encodeURIComponent(patientId) + '/scans?' + q);
    xhr.setRequestHeader('Authorization', 'Bearer ' + sessionStorage.getItem(TOKEN));
    xhr.setRequestHeader('Content-Type', 'text/csv');
    xhr.setRequestHeader('Idempotency-Key', idempotencyKey());
    xhr.setRequestHeader('Accept', 'application/json');
    progressLabel.hidden = false;
    progress.value = 0;
    send.disabled = true;
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) progress.value = Math.round(100 * e.loaded / e.total); };
    xhr.onerror = () => { send.disabled = false; showError('The upload failed: cannot reach the server.'); };
    xhr.onload = () => {
      send.disabled = false;
      if (xhr.status !== 201 && xhr.status !== 200) {
        showError(problemMessage(xhr.status, xhr.responseText));
        // Point at the field the API names, opening the file options if
        // that is where it is.
        const c = controls[problemField(xhr.responseText)];
        if (c) {
          if (fileOptions.contains(c)) fileOptions.open = true;
          c.setAttribute('aria-invalid', 'true');
          c.focus();
        }
        return;
      }
      progress.value = 100;
      const sc = JSON.parse(xhr.responseText);
      q.delete('orthokOverride');
      lastUpload = { patientId, scanId: sc.id, file: chosen, params: Object.fromEntries(q) };
      location.hash = '#/scans/' + encodeURIComponent(sc.id);
    };
    xhr.send(chosen);
  } }, heading, againNote,
  field('Scan file', file), fileNote,
  el('div', { class: 'fields' }, field('Eye', eye), field('Lens type', lensType)),
  el('div', { class: 'fields' },
    fieldHint('Refraction (spectacle Rx)', rx, 'Sphere / cylinder x axis as on the prescription, e.g. -3.00 / -1.25 x 180; a sphere alone (-2.50) will do. Ortho-k: the myopia to correct.', true),
    fieldHint('Vertex distance (mm)', vertex, 'Optional. Empty: 12 mm.'),
    fieldHint('HVID (mm)', hvid, 'Optional. Empty: the topographer\'s corneal diameter, else 11.8 mm.')),
  overrideBox, fileOptions,
  progressLabel, el('div', { class: 'buttons' }, send));
  showOverride();
  setView(el('p', {}, el('a', { href: '#/patients' }, '← Patients')), el('h2', {}, 'Patient'),
    el('div', { class: 'grid two' }, el('section', { class: 'panel', 'aria-label': 'Scans' }, el('h3', {}, 'Scans'), scans), form));
  if (againScanId) {
    const prev = await guard(gen, () => api('GET', '/v1/scans/' + encodeURIComponent(againScanId)));
    if (gen !== generation) return;
    if (prev) fillAgain(prev);
  }
  await pagedList(gen, scans, { path: '/v1/patients/' + encodeURIComponent(patientId) + '/scans', key: 'scans',
    frame: tableFrame(['Scan', 'Eye', 'Lens', 'Status', 'Received']),
    row: s => el('tr', {}, el('td', {}, el('a', { href: '#/scans/' + encodeURIComponent(s.id) }, 'Scan ' + s.id.slice(0, 8))),
      el('td', {}, s.eye), el('td', {}, words('lensType', s.lensType) + (s.orthokOverride ? ' (override)' : '')), el('td', {}, statusBadge('scanStatus', s.status)), el('td', {}, fmtDate(s.receivedAt))),
    empty: 'No scans yet.', unavailable: 'The scan list is not available.' }).load();

  // fillAgain fills the form in from scan prev: this session's own upload
  // of it when there is one (every option, and the file), else the scan's
  // record. The override is never ticked for the user.
  function fillAgain(prev) {
    const mine = lastUpload && lastUpload.scanId === prev.id ? lastUpload : null;
    const params = mine ? mine.params : { eye: prev.eye, lensType: prev.lensType, rx: prev.rx || '',
      vertex: prev.vertexMM ? String(prev.vertexMM) : '', hvid: prev.hvidMM ? String(prev.hvidMM) : '' };
    for (const [k, v] of Object.entries(params)) if (controls[k] && k !== 'file') controls[k].value = v;
    if (params.heightSign || params.gridUnits || params.gridReference || params.gridBfs) fileOptions.open = true;
    showOverride();
    fileNote.hidden = false;
    if (mine) {
      try {
        const dt = new DataTransfer();
        dt.items.add(mine.file);
        file.files = dt.files;
        fileNote.textContent = `The same file, ${mine.file.name}, is chosen again.`;
      } catch {
        fileNote.textContent = 'Choose the same scan file again.';
      }
    } else {
      fileNote.textContent = 'Choose the same scan file again (the portal does not keep files once the page is reloaded).';
    }
    heading.textContent = 'Upload scan ' + prev.id.slice(0, 8) + ' again';
    againNote.hidden = false;
    if (needsOverride(prev)) {
      againNote.replaceChildren(el('p', {}, el('strong', {}, 'The screening refused ortho-k on this cornea. '),
        'If ortho-k is still your clinical decision, tick the override below and upload again; otherwise consider a scleral lens.'));
      override.focus();
    } else {
      againNote.replaceChildren(el('p', {}, 'The form holds the options of scan ' + prev.id.slice(0, 8) + '. Change what needs changing and upload again.'));
      send.focus();
    }
  }
}

// ---------- topography map ----------

const SCALE = [[0, [20, 40, 160]], [0.25, [30, 140, 230]], [0.45, [40, 170, 90]], [0.6, [240, 220, 40]], [0.8, [240, 120, 30]], [1, [180, 20, 30]]];

function colourAt(t) {
  t = Math.min(1, Math.max(0, t));
  for (let i = 1; i < SCALE.length; i++) {
    const [t1, c1] = SCALE[i];
    const [t0, c0] = SCALE[i - 1];
    if (t <= t1) {
      const f = (t - t0) / (t1 - t0);
      return c0.map((v, k) => Math.round(v + f * (c1[k] - v)));
    }
  }
  return SCALE[SCALE.length - 1][1];
}

// sizeCanvas sets the canvas bitmap to its CSS width (times the pixel
// ratio) at the given aspect, and returns a context in CSS pixels.
function sizeCanvas(canvas, aspect) {
  const w = Math.max(280, canvas.clientWidth || canvas.parentElement.clientWidth || 600);
  const h = Math.round(w * aspect);
  const dpr = window.devicePixelRatio || 1;
  canvas.width = Math.round(w * dpr);
  canvas.height = Math.round(h * dpr);
  const ctx = canvas.getContext('2d');
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  return { ctx, w, h };
}

function drawMap(canvas, m, kind) {
  const { ctx, w, h } = sizeCanvas(canvas, 0.78);
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, w, h);
  const values = kind === 'elevation' ? m.elevation_um : m.axial_D;
  const range = kind === 'elevation' ? m.elevation_range_um : m.axial_range_D;
  const unit = kind === 'elevation' ? 'µm' : 'D';
  let [lo, hi] = range || [0, 1];
  if (!(hi > lo)) hi = lo + 1;
  const legendW = Math.max(70, w * 0.16);
  const size = Math.min(w - legendW - 20, h - 30);
  const ox = 10, oy = 20;
  const n = m.n;
  const cell = size / n;
  // Draw cells as rectangles (simple and crisp at any scale).
  for (let row = 0; row < n; row++) {
    for (let col = 0; col < n; col++) {
      const v = values[row * n + col];
      if (v === null || v === undefined) continue;
      const [r, g, b] = colourAt((v - lo) / (hi - lo));
      ctx.fillStyle = `rgb(${r},${g},${b})`;
      ctx.fillRect(ox + col * cell, oy + row * cell, Math.ceil(cell), Math.ceil(cell));
    }
  }
  const cx = ox + size / 2, cy = oy + size / 2;
  const mmToPx = size / (2 * m.extent_mm);
  // Principal meridians (angle counter-clockwise from the x axis, y up).
  // Each label sits on its own half of its line (flat on the negative
  // half, steep on the positive), so the two do not meet on a small map.
  const meridian = (deg, k, label, colour, side) => {
    const a = deg * Math.PI / 180;
    const dx = Math.cos(a) * m.extent_mm * mmToPx, dy = -Math.sin(a) * m.extent_mm * mmToPx;
    ctx.strokeStyle = colour;
    ctx.lineWidth = 2.5;
    ctx.beginPath();
    ctx.moveTo(cx - dx, cy - dy);
    ctx.lineTo(cx + dx, cy + dy);
    ctx.stroke();
    const text = `${label} ${num(k)} D @ ${Math.round(deg)}°`;
    ctx.font = '600 13px system-ui, sans-serif';
    const tw = ctx.measureText(text).width;
    let tx = cx + side * dx * 0.55 + 6, ty = cy + side * dy * 0.55 - 6;
    tx = Math.min(Math.max(ox + 2, tx), ox + size - tw - 6);
    ty = Math.min(Math.max(oy + 14, ty), oy + size - 4);
    ctx.fillStyle = 'rgba(255,255,255,0.85)';
    ctx.fillRect(tx - 3, ty - 13, tw + 6, 17);
    ctx.fillStyle = '#111111';
    ctx.fillText(text, tx, ty);
  };
  meridian(m.flat_meridian_deg, m.flat_k_D, 'Flat', '#111111', -1);
  meridian(m.steep_meridian_deg, m.steep_k_D, 'Steep', '#5b0f8a', 1);
  // Scale bar in mm.
  ctx.fillStyle = '#1a1a1a';
  ctx.font = '12px system-ui, sans-serif';
  ctx.fillText(`${kind === 'elevation' ? 'Elevation (vs best-fit sphere)' : 'Axial curvature'} · ±${m.extent_mm} mm`, ox, 14);
  // Colour scale.
  const lx = ox + size + 16, ly = oy, lh = size, bw = 18;
  for (let i = 0; i < lh; i++) {
    const [r, g, b] = colourAt(1 - i / lh);
    ctx.fillStyle = `rgb(${r},${g},${b})`;
    ctx.fillRect(lx, ly + i, bw, 1.5);
  }
  ctx.strokeStyle = '#1a1a1a';
  ctx.lineWidth = 1;
  ctx.strokeRect(lx, ly, bw, lh);
  ctx.fillStyle = '#1a1a1a';
  ctx.font = '12px system-ui, sans-serif';
  const ticks = 6;
  for (let i = 0; i <= ticks; i++) {
    const v = hi - (hi - lo) * i / ticks;
    const y = ly + lh * i / ticks;
    ctx.fillRect(lx + bw, y - 0.5, 4, 1);
    ctx.fillText(v.toFixed(kind === 'elevation' ? 0 : 1), lx + bw + 6, y + 4);
  }
  ctx.font = '600 12px system-ui, sans-serif';
  ctx.fillText(unit, lx, 14);
}

// ---------- design plot ----------

// drawDesign plots the lens back surface over the cornea along the flat
// meridian (left, r negated) and the steep one (right), the clearance on
// the right axis; a "steepest" profile (a semi-meridian through a cone,
// over the measured cornea only) is drawn on the right in its own colour
// and dash, with the cone's scleral clearance marked when given.
function drawDesign(canvas, profiles, cone) {
  const narrow = (canvas.clientWidth || 600) < 520;
  const flat = profiles.find(p => p.label === 'flat') || profiles[0];
  const steep = profiles.find(p => p.label === 'steep') || profiles[1] || profiles[0];
  const steepest = profiles.find(p => p.label === 'steepest');
  const series = (p, sign) => {
    const eye = [], lens = [], clr = [];
    for (let i = 0; i < p.r_mm.length; i++) {
      const r = sign * p.r_mm[i];
      eye.push([r, p.eye_sag_mm[i]]);
      lens.push([r, p.lens_sag_mm[i] - p.apex_clearance_um / 1000]);
      if (p.clearance_um) clr.push([r, p.clearance_um[i]]);
    }
    return { eye, lens, clr };
  };
  const L = series(flat, -1), R = series(steep, 1);
  const S = steepest ? series(steepest, 1) : { eye: [], lens: [], clr: [] };
  const CORNEA = '#7a3b00', LENS = '#0b4f8a', CLEAR = '#0f7a3a', CONE = '#a3136b';
  const DASH = { cornea: [], lens: [7, 4], clear: [2, 3], coneEye: [12, 3, 3, 3], coneClear: [5, 2, 1, 2] };
  const items = [['Cornea', CORNEA, DASH.cornea], ['Lens back surface', LENS, DASH.lens], ['Clearance (µm, right axis)', CLEAR, DASH.clear]];
  if (steepest) {
    items.push([`Cornea, steepest (${deg(steepest.meridian_deg)}, cone)`, CONE, DASH.coneEye],
      ['Clearance, steepest (µm)', CONE, DASH.coneClear]);
  }
  if (cone) items.push(['Over the cone: inserted, settled', CONE, null]);
  // The legend first: its height sets the top margin.
  // On a phone the legend takes several lines: the canvas grows to keep
  // the plot readable.
  const { ctx, w, h } = sizeCanvas(canvas, narrow ? (items.length > 3 ? 1.2 : 0.95) : 0.62);
  ctx.font = '12px system-ui, sans-serif';
  const placed = [];
  let lx = 10, ly = 16;
  for (const [label, colour, dash] of items) {
    const iw = 40 + ctx.measureText(label).width;
    if (lx > 10 && lx + iw > w - 4) { lx = 10; ly += 18; }
    placed.push([label, colour, dash, lx, ly]);
    lx += iw;
  }
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, w, h);
  const rMax = Math.max(...flat.r_mm, ...steep.r_mm);
  const depths = [...L.eye, ...L.lens, ...R.eye, ...R.lens, ...S.eye].map(p => p[1]);
  const dMin = Math.min(0, ...depths), dMax = Math.max(...depths);
  const clears = [...L.clr, ...R.clr, ...S.clr].map(p => p[1]);
  if (cone) clears.push(cone.clearance_um, cone.settled_clearance_um);
  const cMax = Math.max(10, ...clears) * 1.1, cMin = Math.min(0, ...clears);
  const pad = { l: 66, r: 64, t: ly + 24, b: 44 };
  const pw = w - pad.l - pad.r, ph = h - pad.t - pad.b;
  const X = r => pad.l + (r + rMax) / (2 * rMax) * pw;
  const Y = d => pad.t + (d - dMin) / ((dMax - dMin) || 1) * ph; // depth grows downwards
  const Yc = c => pad.t + ph - (c - cMin) / ((cMax - cMin) || 1) * ph;
  ctx.strokeStyle = '#6b7280';
  ctx.lineWidth = 1;
  ctx.strokeRect(pad.l, pad.t, pw, ph);
  ctx.fillStyle = '#1a1a1a';
  ctx.font = '12px system-ui, sans-serif';
  // x ticks
  const step = rMax > 6 || pw < 320 ? 2 : 1;
  for (let r = -Math.floor(rMax / step) * step; r <= rMax + 1e-9; r += step) {
    const x = X(r);
    ctx.fillRect(x - 0.5, pad.t + ph, 1, 5);
    ctx.fillText(String(r), x - 6, pad.t + ph + 17);
  }
  const axisText = steepest ? '← flat    r (mm)    steep, steepest →' : '← flat meridian    r (mm)    steep meridian →';
  ctx.fillText(axisText, pad.l + pw / 2 - ctx.measureText(axisText).width / 2, h - 8);
  // left axis: depth mm
  for (let i = 0; i <= 5; i++) {
    const d = dMin + (dMax - dMin) * i / 5;
    const y = Y(d);
    ctx.fillRect(pad.l - 5, y - 0.5, 5, 1);
    ctx.fillText(d.toFixed(2), pad.l - 40, y + 4);
  }
  ctx.save();
  ctx.translate(14, pad.t + ph / 2 + 40);
  ctx.rotate(-Math.PI / 2);
  ctx.fillText('depth (mm)', 0, 0);
  ctx.restore();
  // right axis: clearance µm
  for (let i = 0; i <= 5; i++) {
    const c = cMin + (cMax - cMin) * i / 5;
    const y = Yc(c);
    ctx.fillRect(pad.l + pw, y - 0.5, 5, 1);
    ctx.fillText(c.toFixed(0), pad.l + pw + 8, y + 4);
  }
  ctx.save();
  ctx.translate(w - 8, pad.t + ph / 2 - 50);
  ctx.rotate(Math.PI / 2);
  ctx.fillText('clearance (µm)', 0, 0);
  ctx.restore();
  // centre line
  ctx.strokeStyle = '#d1d5db';
  ctx.beginPath(); ctx.moveTo(X(0), pad.t); ctx.lineTo(X(0), pad.t + ph); ctx.stroke();
  const line = (pts, y, colour, width, dash) => {
    if (!pts.length) return;
    ctx.strokeStyle = colour; ctx.lineWidth = width; ctx.setLineDash(dash);
    ctx.beginPath();
    pts.forEach(([r, v], i) => (i ? ctx.lineTo(X(r), y(v)) : ctx.moveTo(X(r), y(v))));
    ctx.stroke();
    ctx.setLineDash([]);
  };
  line(L.eye, Y, CORNEA, 2.5, DASH.cornea); line(R.eye, Y, CORNEA, 2.5, DASH.cornea);
  line(L.lens, Y, LENS, 2.5, DASH.lens); line(R.lens, Y, LENS, 2.5, DASH.lens);
  line(L.clr, Yc, CLEAR, 1.75, DASH.clear); line(R.clr, Yc, CLEAR, 1.75, DASH.clear);
  line(S.eye, Y, CONE, 2.25, DASH.coneEye);
  line(S.clr, Yc, CONE, 2, DASH.coneClear);
  if (cone && typeof cone.radius_mm === 'number' && cone.radius_mm <= rMax) {
    // The cone's clearance at insertion (filled) and after settling (open).
    const x = X(cone.radius_mm);
    ctx.fillStyle = CONE; ctx.strokeStyle = CONE; ctx.lineWidth = 2;
    ctx.beginPath(); ctx.arc(x, Yc(cone.clearance_um), 4.5, 0, 2 * Math.PI); ctx.fill();
    ctx.beginPath(); ctx.arc(x, Yc(cone.settled_clearance_um), 4.5, 0, 2 * Math.PI); ctx.stroke();
    ctx.fillStyle = '#1a1a1a';
    ctx.fillText('cone', x + 8, Yc(cone.clearance_um) + 4);
  }
  // legend
  for (const [label, colour, dash, x, y] of placed) {
    ctx.strokeStyle = colour; ctx.fillStyle = colour; ctx.lineWidth = 2;
    if (dash) {
      ctx.lineWidth = 2.5; ctx.setLineDash(dash);
      ctx.beginPath(); ctx.moveTo(x, y); ctx.lineTo(x + 26, y); ctx.stroke();
      ctx.setLineDash([]);
    } else { // the cone's markers
      ctx.beginPath(); ctx.arc(x + 6, y, 4.5, 0, 2 * Math.PI); ctx.fill();
      ctx.beginPath(); ctx.arc(x + 20, y, 4.5, 0, 2 * Math.PI); ctx.stroke();
    }
    ctx.fillStyle = '#1a1a1a';
    ctx.fillText(label, x + 32, y + 4);
  }
}

async function viewScan(gen, scanId) {
  const statusLine = el('p', { id: 'scan-status' }, 'Loading scan…');
  const inputs = el('p', { id: 'scan-inputs', class: 'muted', hidden: true });
  const layout = el('p', { id: 'scan-layout', class: 'muted', hidden: true });
  const overrideNote = el('p', { class: 'callout', id: 'override-note', hidden: true });
  const failed = el('section', { class: 'panel failed', id: 'scan-failed', 'aria-labelledby': 'failed-h', hidden: true });
  const warnings = el('section', { class: 'warnings', id: 'warnings', 'aria-labelledby': 'warnings-h', hidden: true });
  const mapBox = el('section', { class: 'panel', 'aria-labelledby': 'map-h' }, el('h3', { id: 'map-h' }, 'Topography'), el('p', { class: 'muted' }, 'Loading map…'));
  const corneaBox = el('section', { class: 'panel', id: 'cornea-box', 'aria-labelledby': 'cornea-h' }, el('h3', { id: 'cornea-h' }, 'Cornea and screening'),
    el('p', { class: 'muted' }, 'Waiting for the design…'));
  const designBox = el('section', { class: 'panel', 'aria-labelledby': 'design-h' }, el('h3', { id: 'design-h' }, 'Design'), el('p', { class: 'muted' }, 'Waiting for the design…'));
  const tearBox = el('section', { class: 'panel', id: 'tear-box', 'aria-labelledby': 'tear-h', hidden: true });
  setView(el('h2', {}, 'Scan'), statusLine, inputs, layout, overrideNote, failed, warnings,
    el('div', { class: 'grid two scan' }, el('div', { class: 'stack' }, mapBox, tearBox, corneaBox), designBox));
  let scan = await guard(gen, () => api('GET', '/v1/scans/' + encodeURIComponent(scanId)));
  if (!scan || gen !== generation) return;
  statusLine.replaceChildren(`${words('eye', scan.eye)} · ${words('lensType', scan.lensType)} · `, statusBadge('scanStatus', scan.status), ' · ',
    el('a', { href: '#/patients/' + encodeURIComponent(scan.patientId) }, 'patient'));
  const said = [];
  if (scan.rx) said.push(`Refraction ${scan.rx}${scan.vertexMM ? ` at ${Math.round(scan.vertexMM * 10) / 10} mm` : ''}`);
  if (scan.hvidMM) said.push(`HVID ${num(scan.hvidMM, 1)} mm`);
  said.push(`${scan.format || 'file'}, ${scan.points} points`);
  inputs.textContent = said.join(' · ');
  inputs.hidden = false;
  if (scan.layout && scan.layout.length) {
    // The file's layout variants the reader detected: how it was read.
    layout.textContent = 'Read as: ' + scan.layout.join('; ') + '.';
    layout.hidden = false;
  }
  if (scan.orthokOverride) {
    overrideNote.replaceChildren(el('strong', {}, 'Ortho-k override: '),
      'you asked for ortho-k even if the screening finds keratoconus or an irregular cornea. Your decision is recorded on the scan.');
    overrideNote.hidden = false;
  }
  const map = loadMap(gen, scanId, mapBox);
  // Poll until the design function has done its work.
  while (scan.status !== 'designed' && scan.status !== 'failed' && scan.status !== 'rejected') {
    await new Promise(r => setTimeout(r, 1000));
    if (gen !== generation) return;
    const s = await guard(gen, () => api('GET', '/v1/scans/' + encodeURIComponent(scanId)));
    if (!s) return;
    scan = s;
    statusLine.querySelector('.status').replaceWith(statusBadge('scanStatus', scan.status));
  }
  if (scan.status !== 'designed') {
    showFailed(scan, failed);
    designBox.hidden = true; // the reason above says why there is none
    corneaBox.hidden = true; // the screening comes with a design
    return;
  }
  const d = await guard(gen, () => api('GET', '/v1/scans/' + encodeURIComponent(scanId) + '/design'));
  if (!d || gen !== generation) return;
  showWarnings(d, warnings);
  showCornea(scan, d, corneaBox);
  showDesign(gen, scan, d, designBox);
  loadTearLayers(gen, scan, tearBox);
  const shown = await map;
  if (shown && gen === generation) shown.pattern(d.screening);
}

// loadTearLayers shows the simulated fluorescein pattern of the lens
// resting on the cornea, for the current design and, after an adjustment,
// the version before it beside it; the film under the pointer is read out.
// place moves the lens centre off the corneal apex ({x, y} in mm), as a
// lens riding high or low does; the form under the patterns sets it.
async function loadTearLayers(gen, scan, box, place = { x: 0, y: 0 }) {
  const base = '/v1/scans/' + encodeURIComponent(scan.id) + '/design/tear-layer';
  const versions = [scan.designVersion || 1];
  if (versions[0] > 1) versions.unshift(versions[0] - 1);
  const where = (place.x ? '&decentrationX=' + place.x : '') + (place.y ? '&decentrationY=' + place.y : '');
  const layers = await guard(gen, () => Promise.all(versions.map(v => api('GET', base + '?version=' + v + where))));
  if (gen !== generation || !layers) return;
  const readout = el('p', { class: 'kvals', id: 'tear-readout', 'aria-live': 'polite' }, 'Point at the pattern to read the tear film.');
  redraw = redraw.filter(f => !f.tear); // the patterns shown before
  const panes = layers.map((t, k) => {
    const canvas = el('canvas', { class: 'tear-canvas', id: 'tear-canvas-v' + t.version, role: 'img',
      'aria-label': `Simulated fluorescein pattern of design version ${t.version}: tear film ${num(t.min_um, 0)} to ${num(t.max_um, 0)} µm, ${num(t.rest.apex_clearance_um, 0)} µm at the centre.` });
    const draw = () => drawTearLayer(canvas, t);
    draw.tear = true;
    redraw.push(draw);
    canvas.addEventListener('pointermove', (ev) => {
      const r = canvas.getBoundingClientRect();
      const n = t.axis_mm.length, size = Math.min(r.width, r.height);
      const j = Math.floor((ev.clientX - r.left) / size * n), i = n - 1 - Math.floor((ev.clientY - r.top) / size * n);
      const v = i >= 0 && j >= 0 && i < n && j < n ? t.thickness_um[i][j] : null;
      readout.textContent = v === null || v === undefined ? `Version ${t.version}: outside the lens.` :
        `Version ${t.version}: tear film ${num(v, 0)} µm at ${num(t.axis_mm[j], 1)}, ${num(t.axis_mm[i], 1)} mm from the lens centre.`;
    });
    return { canvas, draw, t, last: k === layers.length - 1 };
  });
  const cur = layers[layers.length - 1];
  box.replaceChildren(el('h3', { id: 'tear-h' }, 'Fluorescein pattern (simulated)'),
    el('div', { class: 'tear-panes' }, panes.map(p => el('figure', {}, p.canvas,
      el('figcaption', {}, `Version ${p.t.version}${p.last ? ' (current)' : ''}: ${num(p.t.rest.apex_clearance_um, 0)} µm at the centre, least ${num(p.t.min_um, 0)} µm`)))),
    readout, decentreForm(gen, scan, box, place),
    el('p', { class: 'hint', id: 'tear-model' }, `Dark where the film is under ${num(cur.model.dark_below_um, 0)} µm (bearing), brighter green as it thickens, saturated by ${num(cur.model.saturation_um, 0)} µm; ${cur.rest.method}. Model ${cur.model.version}.`));
  box.hidden = false;
  panes.forEach(p => p.draw());
}

// decentreForm moves the lens off the corneal apex and shows the patterns
// again; the API refuses a decentration the simulation cannot show, and
// its reason is shown.
function decentreForm(gen, scan, box, place) {
  const input = (name, v) => el('input', { name, type: 'number', step: '0.1', min: '-1', max: '1', value: String(v), inputmode: 'decimal' });
  const x = input('decentrationX', place.x), y = input('decentrationY', place.y);
  const show = el('button', { type: 'submit', class: 'secondary', id: 'tear-decentre' }, 'Show');
  return el('form', { class: 'fields tear-decentre', 'aria-label': 'Lens position', onsubmit: async (ev) => {
    ev.preventDefault();
    showError('');
    show.disabled = true;
    await loadTearLayers(gen, scan, box, { x: Number(x.value) || 0, y: Number(y.value) || 0 });
    show.disabled = false;
  } }, field('Lens centre right of the apex (mm)', x), field('Lens centre above the apex (mm)', y), el('div', { class: 'buttons' }, show));
}

// drawTearLayer paints a tear layer's cells in the fluorescein green of
// their brightness on a dark ground, and the lens edge.
function drawTearLayer(canvas, t) {
  const { ctx, w } = sizeCanvas(canvas, 1);
  ctx.fillStyle = '#0c0e14';
  ctx.fillRect(0, 0, w, w);
  const n = t.axis_mm.length, cell = w / n;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const v = t.intensity[i][j];
      if (v === null || v === undefined) continue;
      ctx.fillStyle = `rgb(${Math.round(20 + 130 * v * v)},${Math.round(22 + 233 * v)},${Math.round(18 + 40 * v)})`;
      ctx.fillRect(j * cell, (n - 1 - i) * cell, Math.ceil(cell), Math.ceil(cell));
    }
  }
  ctx.strokeStyle = '#5a6e8c';
  ctx.lineWidth = 1;
  ctx.beginPath();
  ctx.arc(w / 2, w / 2, w / 2 - 1, 0, 2 * Math.PI);
  ctx.stroke();
}

// showFailed says why a scan has no design and, when the screening refused
// ortho-k, how to send it again with the override.
function showFailed(scan, box) {
  const parts = [el('h3', { id: 'failed-h' }, 'No design'), el('p', { id: 'failed-reason' }, scan.reason || scan.status)];
  if (needsOverride(scan)) {
    parts.push(el('p', {}, 'The screening contraindicates ortho-k on this cornea, so no lens was designed. A scleral lens suits a keratoconic cornea. ' +
      'If ortho-k is nevertheless your clinical decision, upload the scan again with the override ticked: the design then records it.'),
    el('p', { class: 'buttons' }, el('a', { class: 'button', id: 'again-with-override',
      href: '#/patients/' + encodeURIComponent(scan.patientId) + '/again/' + encodeURIComponent(scan.id) }, 'Upload again with the ortho-k override…')));
  } else if (scan.status === 'failed') {
    parts.push(el('p', { class: 'buttons' }, el('a', { class: 'button secondary', id: 'again',
      href: '#/patients/' + encodeURIComponent(scan.patientId) + '/again/' + encodeURIComponent(scan.id) }, 'Upload again…')));
  }
  box.replaceChildren(...parts);
  box.hidden = false;
}

// showWarnings lists the design's warnings (the fit's, the screening's and
// the lens's) where they cannot be missed: above the map and the design.
function showWarnings(d, box) {
  // A warning quoting every reason of the screening says so instead of
  // repeating them: they are listed, one a line, under Screening.
  const reasons = d.screening && (d.screening.reasons || []).length ? d.screening.reasons.join('; ') : '';
  const short = w => (reasons && w.includes('(' + reasons + ')') ? w.replace('(' + reasons + ')', '(the reasons are listed under Screening)') : w);
  const ws = [...new Set([...(d.warnings || []), ...((d.lens && d.lens.warnings) || [])].map(short))];
  box.classList.toggle('none', !ws.length);
  box.hidden = false;
  if (!ws.length) {
    box.replaceChildren(el('p', { id: 'warnings-h' }, 'No warnings.'));
    return;
  }
  box.replaceChildren(el('h3', { id: 'warnings-h' }, ws.length === 1 ? '1 warning' : `${ws.length} warnings`),
    el('ul', { id: 'warning-list' }, ws.map(w => el('li', {}, w))));
}

// kRow is one keratometry reading as a table row: flat and steep K, their
// cylinder and the flat axis.
function kRow(name, k) {
  return el('tr', { 'data-k': name }, el('th', { scope: 'row' }, name), el('td', { class: 'num' }, num(k.flatK_D)),
    el('td', { class: 'num' }, num(k.steepK_D)), el('td', { class: 'num' }, num(k.steepK_D - k.flatK_D)), el('td', { class: 'num' }, axis(k.flatAxis_deg)));
}

// apexText says where the corneal apex sits on the map, nasal or temporal
// by the eye (the map is in the examiner's view: a right eye's nasal side
// is on the examiner's right), and how the cornea is tilted.
function apexText(eye, a) {
  const x = a.x_mm || 0, y = a.y_mm || 0, tilt = a.tilt_deg || 0;
  const side = eye === 'OD' ? (x >= 0 ? 'nasal' : 'temporal') : eye === 'OS' ? (x >= 0 ? 'temporal' : 'nasal') : (x >= 0 ? 'to the examiner\'s right' : 'to the examiner\'s left');
  const ways = [];
  if (Math.abs(x) >= 0.005) ways.push(`${num(Math.abs(x))} mm ${side}`);
  if (Math.abs(y) >= 0.005) ways.push(`${num(Math.abs(y))} mm ${y >= 0 ? 'superior' : 'inferior'}`);
  const where = ways.length ? `The apex sits ${num(Math.hypot(x, y))} mm from the map centre (${ways.join(', ')})` : 'The apex sits at the map centre';
  return where + (tilt >= 0.05 ? `; the corneal axis is tilted ${num(tilt, 1)}° towards ${deg(a.tiltAxis_deg)}.` : '; the cornea is not tilted.');
}

// showCornea shows the screening (pattern, reasons, indices), the
// keratometry (Sim-K, apical K, the device's Sim-K) and the apex.
function showCornea(scan, d, box) {
  const c = d.cornea || {}, sc = d.screening, lens = d.lens || {};
  const parts = [el('h3', { id: 'cornea-h' }, 'Cornea and screening')];
  if (sc) {
    // The indices as the labels table names and orders them; one that
    // could not be computed says so, and the steepest point reads as a
    // sentence.
    const ix = sc.indices || {};
    const rows = LABELS.forms.indices.groups.flatMap(g => g.fields).filter(k => k !== 'steepest' && (k in ix || !k.startsWith('steepestAxis')))
      .map(k => { const lab = labelFor('screening.indices.' + k); return [lab.name, ix[k] === null || ix[k] === undefined ? 'not computed' : fmtScalar(ix[k], lab)]; });
    if (ix.steepest) rows.push([labelFor('screening.indices.steepest').name, `${num(ix.steepest.power_D)} D at ${num(ix.steepest.radius_mm, 1)} mm from the apex, semi-meridian ${deg(ix.steepest.semiMeridian_deg)}`]);
    if (sc.dominantTerms && sc.dominantTerms.length) rows.push(['Leading higher-order term', `${sc.dominantTerms[0].name} (${num(sc.dominantTerms[0].coefficient_um, 1)} µm)`]);
    parts.push(el('h4', {}, 'Screening'),
      el('p', { class: 'pattern-line' }, patternBadge(sc.pattern), el('span', { class: 'muted' }, ' ' + (sc.table || ''))));
    if (sc.override) parts.push(el('p', { class: 'callout', id: 'screening-override' }, el('strong', {}, 'Override: '), sc.override));
    parts.push((sc.reasons || []).length
      ? el('ul', { id: 'screening-reasons', class: 'reasons' }, sc.reasons.map(r => el('li', {}, r)))
      : el('p', { id: 'screening-reasons' }, 'No index beyond its threshold.'));
    if ((sc.notes || []).length) parts.push(el('ul', { class: 'notes' }, sc.notes.map(n => el('li', {}, n))));
    parts.push(el('h5', {}, 'Indices'), kv(rows, { id: 'screening-indices' }));
  } else {
    parts.push(el('p', {}, 'This design has no screening (designed before the screening was added).'));
  }
  const krows = [];
  if (c.simK) krows.push(kRow(`Sim-K (${num(c.simK.zone_mm, 0)} mm)`, c.simK));
  // A design made before Sim-K was reported has only its own K.
  else if (typeof c.flatK_D === 'number') krows.push(kRow('K (as designed)', { flatK_D: c.flatK_D, steepK_D: c.steepK_D, flatAxis_deg: c.flatAxis_deg }));
  if (c.apicalK) krows.push(kRow('Apical K', c.apicalK));
  if (c.deviceSimK) krows.push(kRow('Device Sim-K', c.deviceSimK));
  parts.push(el('h4', {}, 'Keratometry'),
    el('div', { class: 'table-scroll' }, el('table', { class: 'ktable', id: 'keratometry' },
      el('thead', {}, el('tr', {}, ['Reading', 'Flat K (D)', 'Steep K (D)', 'Cyl (D)', 'Flat axis'].map(h => el('th', { scope: 'col' }, h)))),
      el('tbody', {}, krows))),
    el('p', { class: 'hint' }, 'Sim-K is the axial power on the 3 mm ring, as topographers report K; apical K, the fitted apex, is steeper on a prolate cornea. ' +
      (lens.k_reading ? `The nomogram reads ${words('kReading', lens.k_reading)}.` : '')));
  if (c.apex) parts.push(el('h4', {}, 'Apex and tilt'), el('p', { id: 'apex' }, apexText(scan.eye, c.apex)));
  parts.push(el('details', { id: 'cornea-all' }, el('summary', {}, 'All fitted corneal values'), orderForm(c, 'cornea', { id: 'cornea-params' })),
    rawValues({ cornea: d.cornea, screening: d.screening, deviceMeasurements: d.deviceMeasurements }, 'cornea-raw'));
  box.replaceChildren(...parts);
}

// loadMap draws the topography map with its keratometry beside it. It
// returns { pattern(screening) }, to add the screening's pattern once the
// design is in, or undefined when there is no map.
async function loadMap(gen, scanId, box) {
  const m = await guard(gen, () => api('GET', '/v1/scans/' + encodeURIComponent(scanId) + '/map'));
  if (gen !== generation) return undefined;
  if (!m) { box.replaceChildren(el('h3', { id: 'map-h' }, 'Topography'), el('p', {}, 'The map is not available.')); return undefined; }
  let kind = 'axial';
  const apical = typeof m.apical_flat_k_D === 'number';
  const kText = `Sim-K: flat K ${num(m.flat_k_D)} D at ${Math.round(m.flat_meridian_deg)}°, steep K ${num(m.steep_k_D)} D at ${Math.round(m.steep_meridian_deg)}°` +
    (apical ? `; apical K: flat ${num(m.apical_flat_k_D)} D, steep ${num(m.apical_steep_k_D)} D` : '') +
    (m.axial_range_D ? `; axial ${num(m.axial_range_D[0])} to ${num(m.axial_range_D[1])} D` : '');
  const canvas = el('canvas', { id: 'map-canvas', role: 'img', 'aria-label': 'Topography map. ' + kText });
  const bAxial = el('button', { type: 'button', 'aria-pressed': 'true', id: 'map-axial' }, 'Axial');
  const bElev = el('button', { type: 'button', 'aria-pressed': 'false', id: 'map-elevation' }, 'Elevation');
  const draw = () => drawMap(canvas, m, kind);
  const choose = (k) => { kind = k; bAxial.setAttribute('aria-pressed', String(k === 'axial')); bElev.setAttribute('aria-pressed', String(k === 'elevation')); draw(); };
  bAxial.addEventListener('click', () => choose('axial'));
  bElev.addEventListener('click', () => choose('elevation'));
  const pattern = el('p', { id: 'map-pattern', class: 'pattern-line', hidden: true });
  const row = (name, sim, ap) => el('tr', {}, el('th', { scope: 'row' }, name), el('td', { class: 'num' }, num(sim)), apical ? el('td', { class: 'num' }, num(ap)) : null);
  const ks = el('table', { class: 'ktable', id: 'map-k', 'aria-describedby': 'k-values' },
    el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'Keratometry (D)'), el('th', { scope: 'col' }, 'Sim-K (3 mm)'), apical ? el('th', { scope: 'col' }, 'Apical K') : null)),
    el('tbody', {},
      row('Flat K', m.flat_k_D, m.apical_flat_k_D),
      row('Steep K', m.steep_k_D, m.apical_steep_k_D),
      row('Cylinder', m.steep_k_D - m.flat_k_D, m.apical_steep_k_D - m.apical_flat_k_D)));
  box.replaceChildren(el('h3', { id: 'map-h' }, 'Topography'),
    el('div', { class: 'buttons', role: 'group', 'aria-label': 'Map type' }, bAxial, bElev), canvas,
    el('div', { class: 'map-side' }, pattern, el('div', { class: 'table-scroll' }, ks),
      el('p', { class: 'kvals hint', id: 'k-values' }, `Sim-K flat axis ${axis(m.flat_meridian_deg)}, steep ${axis(m.steep_meridian_deg)}.` +
        (m.axial_range_D ? ` Axial power on the map: ${num(m.axial_range_D[0])} to ${num(m.axial_range_D[1])} D.` : ''))));
  redraw.push(draw);
  draw();
  return {
    pattern(sc) {
      if (!sc) return;
      pattern.replaceChildren('Screening: ', patternBadge(sc.pattern));
      pattern.hidden = false;
    },
  };
}

// rgpSection is an RGP lens's form and astigmatism: corneal, residual and,
// for a bitoric, its meridians.
function rgpSection(lens) {
  const g = lens.rgp;
  if (!g || !g.form) return null;
  const res = g.residual_astigmatism;
  const rows = [
    ['Form', words('rgpForm', g.form)],
    typeof g.corneal_cylinder_D === 'number' ? ['Corneal astigmatism', `${num(g.corneal_cylinder_D)} D` + (typeof g.corneal_cylinder_axis_deg === 'number' ? `, steep at ${axis(g.corneal_cylinder_axis_deg)}` : '')] : null,
    res ? ['Residual astigmatism', `${signed(res.cylinder_D)} D x ${axis(res.axis_deg).replace('°', '')}` + (Math.abs(res.cylinder_D) >= 0.75 ? ' (0.75 D or more costs vision)' : '')] : null,
    g.bitoric ? ['Power effect', g.bitoric.effect || (g.bitoric.spherical_power_effect ? 'spherical power effect' : 'cylindrical power effect')] : null,
  ];
  const out = [el('h4', {}, 'RGP form and astigmatism'), kv(rows, { id: 'rgp-form' })];
  if (g.bitoric && g.bitoric.summary) out.push(el('p', { class: 'hint', id: 'bitoric-summary' }, g.bitoric.summary));
  if (Array.isArray(lens.meridians) && lens.meridians.length) {
    out.push(el('h5', {}, 'Meridians'), tableWithID('bitoric-meridians', ['Meridian', 'BOZR (mm)', 'Power (D)', 'Front radius (mm)'], lens.meridians.map(mr => el('tr', {},
      el('td', {}, axis(mr.meridian_deg)), el('td', { class: 'num' }, num(mr.bozr_mm)), el('td', { class: 'num' }, signed(mr.power_D)), el('td', { class: 'num' }, num(mr.front_radius_mm))))));
  }
  return out;
}

// profileName is a clearance profile in words.
function profileName(p) {
  if (p.label === 'steepest') return `steepest semi-meridian (${deg(p.meridian_deg)}, through the cone)`;
  return `${p.label} meridian (${axis(p.meridian_deg)})`;
}

function showDesign(gen, scan, d, box) {
  const lens = d.lens || {};
  const plot = el('canvas', { id: 'design-canvas', role: 'img' });
  const profiles = Array.isArray(lens.clearance) ? lens.clearance : [];
  const cone = lens.scleral && lens.scleral.cone;
  const clrText = profiles.map(p => `${profileName(p)}: apex clearance ${num(p.apex_clearance_um, 0)} µm, minimum ${num(p.min_clearance_um, 0)} µm at ${num(p.min_at_mm, 1)} mm`).join('; ');
  const coneText = cone ? `Over the cone (semi-meridian ${deg(cone.semi_meridian_deg)}, ${num(cone.radius_mm, 1)} mm from the apex): ` +
    `${num(cone.clearance_um, 0)} µm at insertion, ${num(cone.settled_clearance_um, 0)} µm after settling; ` +
    `the least along it over the cornea ${num(cone.min_over_cornea_um, 0)} µm at ${num(cone.min_at_mm, 1)} mm.` : '';
  plot.setAttribute('aria-label', 'Lens back surface over the cornea. ' + clrText + (coneText ? '. ' + coneText : ''));
  const qty = el('input', { type: 'number', name: 'quantity', min: '1', max: '10', value: '1' });
  const notes = el('textarea', { name: 'notes', rows: '2' });
  const order = el('button', { type: 'submit', id: 'order' }, 'Order this design');
  const form = el('form', { onsubmit: async (ev) => {
    ev.preventDefault();
    showError('');
    order.disabled = true;
    const o = await guard(gen, () => api('POST', '/v1/orders', { designId: scan.designId, quantity: Number(qty.value), notes: notes.value }, { 'Idempotency-Key': idempotencyKey() }));
    order.disabled = false;
    if (o && o.id) location.hash = '#/orders/' + encodeURIComponent(o.id);
  } }, el('div', { class: 'fields' }, field('Quantity', qty), field('Notes for the lab', notes)), el('div', { class: 'buttons' }, order));
  const steepest = profiles.some(p => p.label === 'steepest');
  box.replaceChildren(...[el('h3', { id: 'design-h' }, `Design v${scan.designVersion || 1}`),
    lens.refraction ? el('p', { id: 'design-rx' }, `Refraction ${rxText(lens.refraction)}` + (lens.k_reading ? ` · K read as ${words('kReading', lens.k_reading)}` : '')) : null,
    rgpSection(lens),
    el('h4', {}, `${words('lensType', lens.type)} lens parameters`),
    orderForm(lens, lens.type, { id: 'lens-params' }),
    el('h4', {}, steepest ? 'Fit along the principal meridians and through the cone' : 'Fit along the principal meridians'),
    profiles.length ? plot : el('p', {}, 'This design has no clearance profiles.'),
    el('p', { class: 'kvals', id: 'clearance-text' }, clrText),
    coneText ? el('p', { class: 'kvals', id: 'cone-clearance' }, coneText) : null,
    rawValues(d, 'design-raw'),
    el('h4', {}, 'Order'), form].flat().filter(Boolean));
  if (profiles.length) {
    const draw = () => drawDesign(plot, profiles, cone);
    redraw.push(draw);
    draw();
  }
}

async function viewOrders(gen) {
  const list = el('div', {}, el('p', { class: 'muted' }, 'Loading orders…'));
  setView(el('h2', {}, 'Orders'), el('section', { class: 'panel', 'aria-label': 'Orders' }, list));
  await pagedList(gen, list, { path: '/v1/orders', key: 'orders', frame: tableFrame(['Order', 'Status', 'Quantity', 'Created', 'Updated']),
    row: o => el('tr', { 'data-order': o.id }, el('td', {}, el('a', { href: '#/orders/' + encodeURIComponent(o.id) }, 'Order ' + o.id.slice(0, 8))),
      el('td', {}, statusBadge('orderStatus', o.status)), el('td', { class: 'num' }, o.quantity), el('td', {}, fmtDate(o.created)), el('td', {}, fmtDate(o.updated))),
    empty: 'No orders yet.', unavailable: 'The order list is not available.' }).load();
}

async function viewOrder(gen, orderId) {
  const detail = el('div', {}, el('p', { class: 'muted' }, 'Loading order…'));
  const past = el('div', {});
  const visit = el('input', { name: 'visitKey', value: 'week-1', required: true });
  const va = el('input', { name: 'visualAcuity', value: '6/6', required: true });
  const sphere = el('input', { name: 'sphereD', type: 'number', step: '0.25' });
  const comfort = el('input', { name: 'comfort', type: 'number', min: '1', max: '10', value: '8', required: true });
  const outcome = el('select', { name: 'outcome' }, el('option', { value: 'continue' }, 'Continue'), el('option', { value: 'adjust' }, 'Adjust'));
  const notes = el('textarea', { name: 'fluoresceinNotes', rows: '2' });
  // A visit has one assessment: recording a different one for a visit
  // already assessed is refused (409) unless it explicitly replaces the
  // recorded one, which the API records and audits.
  const replace = el('input', { type: 'checkbox', name: 'supersede', id: 'supersede' });
  const replaceRow = el('label', { class: 'check', id: 'supersede-row', hidden: true }, replace,
    ' Replace the assessment already recorded for this visit (any adjustment is made again from the design that visit started with)');
  const save = el('button', { type: 'submit', id: 'record-assessment' }, 'Record assessment');
  const base = '/v1/orders/' + encodeURIComponent(orderId);
  let recorded = [];
  const form = el('form', { class: 'panel', onsubmit: async (ev) => {
    ev.preventDefault();
    showError(''); showNotice('');
    const body = { visitKey: visit.value, visualAcuity: va.value, comfort: Number(comfort.value), outcome: outcome.value };
    if (sphere.value !== '') body.overRefraction = { sphereD: Number(sphere.value) };
    if (notes.value) body.fluoresceinNotes = notes.value;
    if (replace.checked) {
      const current = recorded.filter(a => a.visitKey === visit.value && !a.supersededBy).pop();
      if (!current) { showError(`No assessment is recorded for visit ${visit.value}: there is nothing to replace.`); return; }
      body.supersedes = current.id;
    }
    save.disabled = true;
    let a;
    try {
      a = await api('POST', base + '/assessments', body, { 'Idempotency-Key': idempotencyKey() });
    } catch (e) {
      if (gen === generation) {
        const already = e.status === 409 && recorded.some(r => r.visitKey === visit.value);
        showError((e.message || String(e)) + (already ? ' To record this one instead, tick "Replace the assessment already recorded for this visit" and record it again.' : ''));
        if (already) replaceRow.hidden = false;
      }
    }
    save.disabled = false;
    if (a) {
      replace.checked = false;
      replaceRow.hidden = true;
      showNotice((a.supersedes ? 'Assessment replaced' : 'Assessment recorded') + (a.revisedVersion ? `: design revised to version ${a.revisedVersion}.` : '.'));
      loadOrder();
    }
  } }, el('h3', {}, 'Record an aftercare assessment'),
  el('div', { class: 'fields' }, field('Visit', visit), field('Visual acuity', va), field('Over-refraction sphere (D)', sphere), field('Comfort (1–10)', comfort), field('Outcome', outcome)),
  field('Fluorescein notes', notes), replaceRow, el('div', { class: 'buttons' }, save));
  // The timeline notes a comment shortly after it is posted (an event
  // goes round): look again a little later.
  const talk = conversation(gen, orderId, 'practitioner', () => setTimeout(() => { if (gen === generation) loadOrder(); }, 2500));
  setView(el('p', {}, el('a', { href: '#/orders' }, '← Orders')), el('h2', {}, 'Order'),
    el('div', { class: 'grid two' }, el('section', { class: 'panel', 'aria-label': 'Order detail' }, detail, past), form), talk.section);
  const loadOrder = async () => {
    const o = await guard(gen, () => api('GET', base));
    if (gen !== generation) return;
    if (!o) { detail.replaceChildren(el('p', {}, 'The order is not available.')); return false; }
    detail.replaceChildren(
      el('p', {}, 'Status: ', statusBadge('orderStatus', o.status, { id: 'order-status' }), ` · ${words('lensType', o.lensType || '')} · quantity ${o.quantity}`),
      el('p', {}, el('a', { href: '#/scans/' + encodeURIComponent(o.scanId) }, 'Scan and design')),
      el('h3', {}, 'Timeline'),
      el('ol', { class: 'timeline', id: 'order-timeline' }, (o.timeline || []).map(t => el('li', {}, `${fmtDate(t.at)}: ${timelineText(t)}`))));
    // Every page of the assessments, not a "Show more" button: the form
    // reads the whole list (which visits are assessed, the one a
    // replacement supersedes).
    const list = await guard(gen, () => allPages(base + '/assessments', 'assessments'));
    if (gen !== generation || !list) return true;
    recorded = list;
    past.replaceChildren(el('h3', {}, 'Assessments'), list.length === 0 ? el('p', {}, 'None recorded.') :
      el('ul', { class: 'assessments', id: 'assessments' }, list.map(assessmentItem)));
    return true;
  };
  if (await loadOrder()) await talk.load();
  else talk.section.hidden = true; // no order, no conversation
}

// assessmentItem is a recorded assessment: the visit and outcome in words,
// its findings named with their units (and any adjustment it made), the
// raw values a click away.
function assessmentItem(a) {
  const line = `${visitName(a.visitKey)}: ${words('outcome', a.outcome)}${a.revisedVersion ? ', design v' + a.revisedVersion : ''}` +
    (a.supersededBy ? ' (replaced)' : a.supersedes ? ' (replaces an earlier one)' : '');
  return el('li', { 'data-assessment': a.id },
    el('p', { class: 'assessment-line' }, el('time', { datetime: a.created }, fmtDate(a.created)), ' · ', line),
    el('details', { class: 'findings' }, el('summary', {}, 'Findings'),
      a.assessment ? orderForm(a.assessment, 'assessment') : null,
      a.adjustment ? el('section', { class: 'param-group' }, el('h5', {}, 'Adjustment'), fieldList(a.adjustment, 'adjustment')) : null,
      rawValues(a, 'assessment-raw-' + a.id)));
}

async function viewFollowUps(gen) {
  const list = el('div', {}, el('p', { class: 'muted' }, 'Loading follow-ups…'));
  setView(el('h2', {}, 'Follow-ups due'), el('section', { class: 'panel', 'aria-label': 'Follow-ups' }, list));
  await pagedList(gen, list, { path: '/v1/follow-ups', key: 'followUps', frame: tableFrame(['Visit', 'Due', 'State', 'Order']),
    row: f => el('tr', {}, el('td', {}, f.label || visitName(f.visit)), el('td', {}, fmtDate(f.due)), el('td', {}, statusBadge('followUpState', f.state)),
      el('td', {}, el('a', { href: '#/orders/' + encodeURIComponent(f.orderId) }, 'Order ' + String(f.orderId).slice(0, 8)))),
    empty: 'No follow-ups due.', unavailable: 'The follow-up list is not available.' }).load();
}

async function download(gen, jobId, name) {
  showError(''); showNotice('');
  const res = await guard(gen, async () => {
    const r = await fetch('/v1/lab/jobs/' + encodeURIComponent(jobId) + '/files/' + encodeURIComponent(name),
      { headers: { Authorization: 'Bearer ' + sessionStorage.getItem(TOKEN) } });
    if (!r.ok) throw new APIError(r.status, problemMessage(r.status, await r.text()));
    return r.blob();
  });
  if (!res) return;
  const url = URL.createObjectURL(res);
  const a = el('a', { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
  showNotice(`Downloaded ${name} (${res.size} bytes).`);
}

async function viewLab(gen) {
  const list = el('div', {}, el('p', { class: 'muted' }, 'Loading jobs…'));
  // The queue, or the jobs in one status (GET /v1/lab/jobs?status=).
  const filter = el('select', { name: 'status', id: 'job-filter' }, el('option', { value: '' }, 'Every status'),
    Object.keys(LABELS.values.jobStatus).map(s => el('option', { value: s }, words('jobStatus', s))));
  setView(el('h2', {}, 'Lab jobs'), el('section', { class: 'panel', 'aria-label': 'Jobs' },
    el('div', { class: 'fields filter' }, field('Show jobs', filter)), list));
  let jobs;
  const show = () => {
    jobs = pagedList(gen, list, { path: '/v1/lab/jobs' + (filter.value ? '?status=' + encodeURIComponent(filter.value) : ''), key: 'jobs',
      frame: tableFrame(['Job', 'Order', 'Lens', 'Qty', 'Status', 'Move to', 'Point files']), row: jobRow,
      empty: filter.value ? `No jobs with the status “${words('jobStatus', filter.value)}”.` : 'The queue is empty.',
      unavailable: 'The job queue is not available.' });
    return jobs.load();
  };
  // After a move the queue is read again as far as it was shown.
  const load = () => jobs.load(jobs.count());
  filter.addEventListener('change', () => { showError(''); showNotice(''); show(); });
  const jobRow = j => el('tr', { 'data-job': j.id },
    el('td', {}, j.id.slice(0, 10)),
    el('td', {}, j.orderId ? el('a', { href: labConversationHash(j.orderId), 'data-conversation': j.orderId }, `Conversation on order ${j.orderId.slice(0, 8)}`) : '—'),
    el('td', {}, words('lensType', j.lensType)), el('td', { class: 'num' }, j.quantity),
    el('td', {}, statusBadge('jobStatus', j.status)),
    el('td', {}, el('div', { class: 'buttons' }, (JOB_NEXT[j.status] || []).map(s => el('button', { type: 'button', 'data-status': s, onclick: async () => {
      // Cancelling withdraws the job for good: ask first.
      if (s === 'cancelled' && !window.confirm(`Cancel job ${j.id.slice(0, 10)}? A cancelled job cannot be resumed.`)) return;
      showError(''); showNotice('');
      const r = await guard(gen, () => api('POST', '/v1/lab/jobs/' + encodeURIComponent(j.id) + '/status', { status: s }));
      if (r) { showNotice(`Job moved to ${words('jobStatus', s).toLowerCase()}.`); load(); }
    } }, words('jobStatus', s))))),
    el('td', {}, el('div', { class: 'buttons' }, (j.files || []).map(f => el('button', { type: 'button', class: 'secondary', 'data-file': f.name, onclick: () => download(gen, j.id, f.name) }, f.name)))));
  await show();
}

// ---------- conversation on an order ----------

// timelineText is a timeline entry in words: a comment noted on the order
// reads "comment posted by the lab", a change "order placed → cutting (lab)".
function timelineText(t) {
  if (t.subject === 'comment') {
    const who = t.actor === 'lab' ? 'the lab' : t.actor === 'practitioner' ? 'the clinic' : t.actor;
    return `comment ${t.to} by ${who}`;
  }
  const kind = t.subject === 'job' ? 'jobStatus' : 'orderStatus';
  const subject = String(t.subject || '');
  return `${subject.charAt(0).toUpperCase() + subject.slice(1)}: ${t.from ? words(kind, t.from) + ' → ' : ''}${words(kind, t.to)} (${t.actor})`;
}

function labConversationHash(orderId) {
  return '#/lab/orders/' + encodeURIComponent(orderId) + '/comments';
}

// authorName is who wrote a comment, as the reader sees it.
function authorName(c) {
  if (c.mine) return 'You';
  return c.authorRole === 'lab' ? 'Lab' : 'Clinic';
}

function commentItem(c) {
  const created = c.created ? el('time', { datetime: c.created }, fmtDate(c.created)) : null;
  return el('li', { class: 'comment' + (c.mine ? ' mine' : ''), 'data-comment': c.id, 'data-author': c.authorRole, 'data-mine': String(!!c.mine) },
    el('p', { class: 'comment-meta' }, el('strong', { class: 'comment-author' }, authorName(c)), created ? ' · ' : '', created),
    el('p', { class: 'comment-text' }, c.text)); // text, never markup; app.css keeps its line breaks
}

// conversation builds the thread of an order and its form for reader
// ('practitioner' or 'lab'). It returns the section and load(), which
// (re)loads the thread; onPosted runs after a comment is sent.
function conversation(gen, orderId, reader, onPosted) {
  const path = '/v1/orders/' + encodeURIComponent(orderId) + '/comments';
  const MAX = 2000;
  const thread = el('div', { id: 'comment-thread' }, el('p', { class: 'muted' }, 'Loading the conversation…'));
  const counter = el('p', { class: 'counter', id: 'comment-count' }, `0 of ${MAX} characters`);
  const text = el('textarea', { name: 'comment', id: 'comment-text', rows: '4', required: true, 'aria-describedby': 'comment-count comment-hint' });
  const hint = el('p', { class: 'hint', id: 'comment-hint' }, 'Line breaks are kept. Ctrl+Enter (⌘+Enter on a Mac) also sends.');
  const send = el('button', { type: 'submit', id: 'comment-send' }, 'Send');
  const refresh = el('button', { type: 'button', class: 'secondary', id: 'comment-refresh' }, 'Check for replies');
  const status = el('p', { id: 'comment-status', class: 'status-line', role: 'status', 'aria-live': 'polite' });
  let pending = null; // { text, key }: a failed submission retried keeps its key
  const length = () => [...text.value.trim()].length; // characters as the API counts them
  const count = () => {
    const n = length();
    counter.textContent = n > MAX ? `${n} of ${MAX} characters: ${n - MAX} too many` : `${n} of ${MAX} characters`;
    counter.classList.toggle('over', n > MAX);
    if (n > MAX) text.setAttribute('aria-invalid', 'true'); else text.removeAttribute('aria-invalid');
  };
  text.addEventListener('input', () => { count(); status.textContent = ''; });
  text.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) { ev.preventDefault(); form.requestSubmit(); }
  });
  // The thread reads oldest first, as the API answers it: "Show more"
  // under it brings later messages. Opening it shows the first page;
  // after sending, or asked to check for replies, it is read to its end,
  // where the newest messages are.
  const pages = pagedList(gen, thread, { path, key: 'comments', row: commentItem,
    frame: listFrame('ol', { class: 'thread', 'aria-label': 'Messages, oldest first' }),
    empty: () => el('p', { class: 'muted' }, 'No messages yet.'), unavailable: 'The conversation is not available.' });
  let opened = false;
  const load = async () => {
    const keep = opened ? Infinity : 0;
    opened = true;
    await pages.load(keep);
  };
  const form = el('form', { class: 'comment-form', onsubmit: async (ev) => {
    ev.preventDefault();
    showError('');
    status.textContent = '';
    const body = text.value;
    const n = length();
    if (n === 0 || n > MAX) {
      showError(n === 0 ? 'Write a message before sending.' : `The message is ${n - MAX} characters too long (at most ${MAX}).`);
      text.setAttribute('aria-invalid', 'true');
      text.focus();
      return;
    }
    if (!pending || pending.text !== body) pending = { text: body, key: idempotencyKey() };
    send.disabled = true;
    status.textContent = 'Sending…';
    let sent;
    try {
      sent = await apiCreate(path, { text: body }, pending.key);
    } catch (e) {
      if (gen !== generation) return;
      status.textContent = 'Not sent.';
      showError(e.message || String(e));
      if (!RETRYABLE.has(e.status)) pending = null; // a refused message is not the same submission again
      if (e.status === 400) text.setAttribute('aria-invalid', 'true');
      text.focus();
      return;
    } finally {
      send.disabled = false;
    }
    if (gen !== generation) return;
    pending = null;
    text.value = '';
    count();
    await load();
    status.textContent = `Message sent at ${fmtDate(sent.created)}.`;
    text.focus();
    if (onPosted) onPosted(sent);
  } },
  field('Your message', text), counter, hint,
  el('div', { class: 'buttons' }, send, refresh), status);
  refresh.addEventListener('click', async () => { showError(''); status.textContent = ''; await load(); if (gen === generation) status.textContent = 'Conversation up to date.'; });
  const other = reader === 'lab' ? 'the clinic' : 'the lab';
  const section = el('section', { class: 'panel conversation', id: 'conversation', 'aria-labelledby': 'conversation-h' },
    el('h3', { id: 'conversation-h' }, 'Conversation with ' + other), thread, form);
  return { section, load };
}

async function viewLabConversation(gen, orderId) {
  const summary = el('p', { id: 'job-summary' }, `Order ${orderId.slice(0, 8)}`);
  const talk = conversation(gen, orderId, 'lab');
  setView(el('p', {}, el('a', { href: '#/lab', id: 'back-to-jobs' }, '← Lab jobs')), el('h2', {}, `Order ${orderId.slice(0, 8)}`), summary, talk.section);
  await talk.load();
  // No route answers an order's job: read the queue's pages until it is found.
  const j = await guard(gen, () => findInPages('/v1/lab/jobs', 'jobs', x => x.orderId === orderId));
  if (gen !== generation) return;
  if (j) summary.replaceChildren(`Job ${j.id.slice(0, 10)} · ${words('lensType', j.lensType)} · quantity ${j.quantity} · `, statusBadge('jobStatus', j.status));
}

// ---------- router ----------

function route() {
  const parts = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  const signedIn = !!sessionStorage.getItem(TOKEN);
  if (!signedIn || parts[0] === 'signin') return [viewSignIn];
  const lab = sessionStorage.getItem(ROLE) === 'lab';
  switch (parts[0]) {
    case 'patients': return parts[1] ? [viewPatient, parts[1], parts[2] === 'again' ? parts[3] : undefined] : [viewPatients];
    case 'scans': return [viewScan, parts[1]];
    case 'orders': return parts[1] ? [viewOrder, parts[1]] : [viewOrders];
    case 'follow-ups': return [viewFollowUps];
    case 'lab': return parts[1] === 'orders' && parts[2] && lab ? [viewLabConversation, parts[2]] : [viewLab];
    default: return lab ? [viewLab] : [viewPatients];
  }
}

function render() {
  const gen = ++generation;
  redraw = [];
  showError('');
  showNotice('');
  renderNav();
  // Which address the view shows: the hashchange that renders it comes a
  // moment after the address changes (the browser test waits on this).
  document.getElementById('view').dataset.hash = location.hash;
  const [view, ...args] = route();
  view(gen, ...args);
}

let resizeTimer;
window.addEventListener('resize', () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => redraw.forEach(f => f()), 150);
});
window.addEventListener('hashchange', render);

async function boot() {
  try {
    const r = await fetch('config.json', { headers: { Accept: 'application/json' } });
    if (r.ok) config = await r.json();
  } catch { /* keep the local default */ }
  document.body.dataset.mode = config.mode;
  render();
  document.body.dataset.ready = 'true';
}
boot();
