// lensflow clinic portal: hash-routed views over the lensflow API.
// No framework, no build step. Every DOM node is built with el() from
// text, never from HTML strings, so API data cannot inject markup.

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

function table(headers, rows) {
  // Each cell carries its column's name: on a phone the rows stack as cards
  // and show it before the value (app.css).
  for (const tr of [rows].flat()) {
    if (!tr || !tr.children) continue;
    [...tr.children].forEach((cell, i) => { if (headers[i]) cell.dataset.label = headers[i]; });
  }
  return el('div', { class: 'table-wrap' }, el('table', {},
    el('thead', {}, el('tr', {}, headers.map(h => el('th', { scope: 'col' }, h)))),
    el('tbody', {}, rows)));
}

function fmtDate(s) {
  if (!s) return '';
  const d = new Date(s);
  return isNaN(d) ? String(s) : d.toLocaleString();
}

function num(v, digits = 2) {
  return typeof v === 'number' && isFinite(v) ? v.toFixed(digits) : '—';
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
  const res = await guard(gen, () => api('GET', '/v1/patients'));
  if (gen !== generation) return;
  if (!res) { list.replaceChildren(el('p', {}, 'The patient list is not available.')); return; }
  const ps = res.patients || [];
  list.replaceChildren(ps.length === 0 ? el('p', {}, 'No patients yet.') : table(['Name', 'Birth date', 'Created'],
    ps.map(p => el('tr', {}, el('td', {}, el('a', { href: '#/patients/' + encodeURIComponent(p.id) }, p.name || p.id)), el('td', {}, p.birthDate || ''), el('td', {}, fmtDate(p.created))))));
}

async function viewPatient(gen, patientId) {
  const scans = el('div', {}, el('p', { class: 'muted' }, 'Loading scans…'));
  const file = el('input', { type: 'file', name: 'file', required: true, accept: '.csv,.txt,.xyz,text/csv,text/plain' });
  const eye = el('select', { name: 'eye' }, el('option', { value: 'OD' }, 'OD (right)'), el('option', { value: 'OS' }, 'OS (left)'));
  const lensType = el('select', { name: 'lensType' }, el('option', { value: 'rgp' }, 'RGP'), el('option', { value: 'orthok' }, 'Ortho-k'), el('option', { value: 'scleral' }, 'Scleral'));
  const rx = el('input', { name: 'rx', type: 'number', step: '0.25', min: '-30', max: '30', value: '-2.50' });
  const hvid = el('input', { name: 'hvid', type: 'number', step: '0.1', min: '9', max: '14', value: '11.8' });
  const progress = el('progress', { max: '100', value: '0', id: 'upload-progress' });
  const progressLabel = el('label', { for: 'upload-progress' }, 'Upload progress', progress);
  progressLabel.hidden = true;
  const send = el('button', { type: 'submit', id: 'upload' }, 'Upload scan');
  const form = el('form', { class: 'panel', onsubmit: (ev) => {
    ev.preventDefault();
    showError('');
    if (!file.files.length) { showError('Choose a scan file.'); return; }
    const q = new URLSearchParams({ eye: eye.value, lensType: lensType.value, rx: rx.value, hvid: hvid.value });
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
      if (xhr.status !== 201 && xhr.status !== 200) { showError(problemMessage(xhr.status, xhr.responseText)); return; }
      progress.value = 100;
      const sc = JSON.parse(xhr.responseText);
      location.hash = '#/scans/' + encodeURIComponent(sc.id);
    };
    xhr.send(file.files[0]);
  } }, el('h3', {}, 'Upload a scan'),
  field('Scan file', file),
  el('div', { class: 'fields' }, field('Eye', eye), field('Lens type', lensType), field('Rx (D)', rx), field('HVID (mm)', hvid)),
  progressLabel, el('div', { class: 'buttons' }, send));
  setView(el('p', {}, el('a', { href: '#/patients' }, '← Patients')), el('h2', {}, 'Patient'),
    el('div', { class: 'grid two' }, el('section', { class: 'panel', 'aria-label': 'Scans' }, el('h3', {}, 'Scans'), scans), form));
  const res = await guard(gen, () => api('GET', '/v1/patients/' + encodeURIComponent(patientId) + '/scans'));
  if (gen !== generation) return;
  if (!res) { scans.replaceChildren(el('p', {}, 'The scan list is not available.')); return; }
  const list = res.scans || [];
  scans.replaceChildren(list.length === 0 ? el('p', {}, 'No scans yet.') : table(['Scan', 'Eye', 'Lens', 'Status', 'Received'],
    list.map(s => el('tr', {}, el('td', {}, el('a', { href: '#/scans/' + encodeURIComponent(s.id) }, 'Scan ' + s.id.slice(0, 8))),
      el('td', {}, s.eye), el('td', {}, s.lensType), el('td', {}, el('span', { class: 'status' }, s.status)), el('td', {}, fmtDate(s.receivedAt))))));
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
  const meridian = (deg, k, label, colour) => {
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
    let tx = cx + dx * 0.55 + 6, ty = cy + dy * 0.55 - 6;
    tx = Math.min(Math.max(ox + 2, tx), ox + size - tw - 6);
    ty = Math.min(Math.max(oy + 14, ty), oy + size - 4);
    ctx.fillStyle = 'rgba(255,255,255,0.85)';
    ctx.fillRect(tx - 3, ty - 13, tw + 6, 17);
    ctx.fillStyle = '#111111';
    ctx.fillText(text, tx, ty);
  };
  meridian(m.flat_meridian_deg, m.flat_k_D, 'Flat', '#111111');
  meridian(m.steep_meridian_deg, m.steep_k_D, 'Steep', '#5b0f8a');
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

function drawDesign(canvas, profiles) {
  const narrow = (canvas.clientWidth || 600) < 520;
  const { ctx, w, h } = sizeCanvas(canvas, narrow ? 0.95 : 0.62);
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, w, h);
  const flat = profiles.find(p => p.label === 'flat') || profiles[0];
  const steep = profiles.find(p => p.label === 'steep') || profiles[1] || profiles[0];
  // Left half: flat meridian (r negated); right half: steep meridian.
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
  const rMax = Math.max(...flat.r_mm, ...steep.r_mm);
  const depths = [...L.eye, ...L.lens, ...R.eye, ...R.lens].map(p => p[1]);
  const dMin = Math.min(0, ...depths), dMax = Math.max(...depths);
  const clears = [...L.clr, ...R.clr].map(p => p[1]);
  const cMax = Math.max(10, ...clears) * 1.1, cMin = Math.min(0, ...clears);
  const pad = { l: 66, r: 64, t: narrow ? 60 : 40, b: 44 };
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
  ctx.fillText('← flat meridian    r (mm)    steep meridian →', pad.l + pw / 2 - 130, h - 8);
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
  const CORNEA = '#7a3b00', LENS = '#0b4f8a', CLEAR = '#0f7a3a';
  line(L.eye, Y, CORNEA, 2.5, []); line(R.eye, Y, CORNEA, 2.5, []);
  line(L.lens, Y, LENS, 2.5, [7, 4]); line(R.lens, Y, LENS, 2.5, [7, 4]);
  line(L.clr, Yc, CLEAR, 1.75, [2, 3]); line(R.clr, Yc, CLEAR, 1.75, [2, 3]);
  // legend
  const items = [['Cornea', CORNEA, []], ['Lens back surface', LENS, [7, 4]], ['Clearance (µm, right axis)', CLEAR, [2, 3]]];
  let lx = 10, ly = 16;
  ctx.font = '12px system-ui, sans-serif';
  for (const [label, colour, dash] of items) {
    const iw = 40 + ctx.measureText(label).width;
    if (lx > 10 && lx + iw > w - 4) { lx = 10; ly += 18; }
    ctx.strokeStyle = colour; ctx.lineWidth = 2.5; ctx.setLineDash(dash);
    ctx.beginPath(); ctx.moveTo(lx, ly); ctx.lineTo(lx + 26, ly); ctx.stroke();
    ctx.setLineDash([]);
    ctx.fillStyle = '#1a1a1a';
    ctx.fillText(label, lx + 32, ly + 4);
    lx += iw;
  }
}

async function viewScan(gen, scanId) {
  const statusLine = el('p', { id: 'scan-status' }, 'Loading scan…');
  const mapBox = el('section', { class: 'panel', 'aria-labelledby': 'map-h' }, el('h3', { id: 'map-h' }, 'Topography'), el('p', { class: 'muted' }, 'Loading map…'));
  const designBox = el('section', { class: 'panel', 'aria-labelledby': 'design-h' }, el('h3', { id: 'design-h' }, 'Design'), el('p', { class: 'muted' }, 'Waiting for the design…'));
  setView(el('h2', {}, 'Scan'), statusLine, el('div', { class: 'grid two' }, mapBox, designBox));
  let scan = await guard(gen, () => api('GET', '/v1/scans/' + encodeURIComponent(scanId)));
  if (!scan || gen !== generation) return;
  statusLine.replaceChildren(`${scan.eye} · ${scan.lensType} · `, el('span', { class: 'status' }, scan.status), ' · ',
    el('a', { href: '#/patients/' + encodeURIComponent(scan.patientId) }, 'patient'));
  loadMap(gen, scanId, mapBox);
  // Poll until the design function has done its work.
  while (scan.status !== 'designed' && scan.status !== 'failed' && scan.status !== 'rejected') {
    await new Promise(r => setTimeout(r, 1000));
    if (gen !== generation) return;
    const s = await guard(gen, () => api('GET', '/v1/scans/' + encodeURIComponent(scanId)));
    if (!s) return;
    scan = s;
    statusLine.querySelector('.status').textContent = scan.status;
  }
  if (scan.status !== 'designed') {
    designBox.replaceChildren(el('h3', { id: 'design-h' }, 'Design'), el('p', {}, 'No design: ' + (scan.reason || scan.status)));
    return;
  }
  const d = await guard(gen, () => api('GET', '/v1/scans/' + encodeURIComponent(scanId) + '/design'));
  if (!d || gen !== generation) return;
  showDesign(gen, scan, d, designBox);
}

async function loadMap(gen, scanId, box) {
  const m = await guard(gen, () => api('GET', '/v1/scans/' + encodeURIComponent(scanId) + '/map'));
  if (gen !== generation) return;
  if (!m) { box.replaceChildren(el('h3', { id: 'map-h' }, 'Topography'), el('p', {}, 'The map is not available.')); return; }
  let kind = 'axial';
  const kText = `Flat K ${num(m.flat_k_D)} D at ${Math.round(m.flat_meridian_deg)}°, steep K ${num(m.steep_k_D)} D at ${Math.round(m.steep_meridian_deg)}°` +
    (m.axial_range_D ? `; axial ${num(m.axial_range_D[0])} to ${num(m.axial_range_D[1])} D` : '');
  const canvas = el('canvas', { id: 'map-canvas', role: 'img', 'aria-label': 'Topography map. ' + kText });
  const bAxial = el('button', { type: 'button', 'aria-pressed': 'true', id: 'map-axial' }, 'Axial');
  const bElev = el('button', { type: 'button', 'aria-pressed': 'false', id: 'map-elevation' }, 'Elevation');
  const draw = () => drawMap(canvas, m, kind);
  const choose = (k) => { kind = k; bAxial.setAttribute('aria-pressed', String(k === 'axial')); bElev.setAttribute('aria-pressed', String(k === 'elevation')); draw(); };
  bAxial.addEventListener('click', () => choose('axial'));
  bElev.addEventListener('click', () => choose('elevation'));
  box.replaceChildren(el('h3', { id: 'map-h' }, 'Topography'),
    el('div', { class: 'buttons', role: 'group', 'aria-label': 'Map type' }, bAxial, bElev), canvas,
    el('p', { class: 'kvals', id: 'k-values' }, kText));
  redraw.push(draw);
  draw();
}

function paramRows(obj) {
  const rows = [];
  for (const [k, v] of Object.entries(obj || {})) {
    if (v === null || typeof v === 'object') continue;
    rows.push(el('tr', {}, el('th', { scope: 'row' }, k), el('td', { class: 'num' }, typeof v === 'number' ? String(Math.round(v * 1000) / 1000) : String(v))));
  }
  return rows;
}

function showDesign(gen, scan, d, box) {
  const lens = d.lens || {};
  const plot = el('canvas', { id: 'design-canvas', role: 'img' });
  const profiles = Array.isArray(lens.clearance) ? lens.clearance : [];
  const clrText = profiles.map(p => `${p.label} meridian: apex clearance ${num(p.apex_clearance_um, 0)} µm, minimum ${num(p.min_clearance_um, 0)} µm at ${num(p.min_at_mm, 1)} mm`).join('; ');
  plot.setAttribute('aria-label', 'Lens back surface over the cornea. ' + clrText);
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
  box.replaceChildren(el('h3', { id: 'design-h' }, `Design v${scan.designVersion || 1}`),
    table(['Lens parameter', 'Value'], paramRows(lens)),
    el('h3', {}, 'Cornea'), table(['Corneal parameter', 'Value'], paramRows(d.cornea)),
    el('h3', {}, 'Fit along the principal meridians'),
    profiles.length ? plot : el('p', {}, 'This design has no clearance profiles.'),
    el('p', { class: 'kvals' }, clrText),
    el('h3', {}, 'Order'), form);
  if (profiles.length) {
    const draw = () => drawDesign(plot, profiles);
    redraw.push(draw);
    draw();
  }
}

async function viewOrders(gen) {
  const list = el('div', {}, el('p', { class: 'muted' }, 'Loading orders…'));
  setView(el('h2', {}, 'Orders'), el('section', { class: 'panel', 'aria-label': 'Orders' }, list));
  const res = await guard(gen, () => api('GET', '/v1/orders'));
  if (gen !== generation) return;
  if (!res) { list.replaceChildren(el('p', {}, 'The order list is not available.')); return; }
  const os = res.orders || [];
  list.replaceChildren(os.length === 0 ? el('p', {}, 'No orders yet.') : table(['Order', 'Status', 'Quantity', 'Created', 'Updated'],
    os.map(o => el('tr', {}, el('td', {}, el('a', { href: '#/orders/' + encodeURIComponent(o.id) }, 'Order ' + o.id.slice(0, 8))),
      el('td', {}, el('span', { class: 'status' }, o.status)), el('td', { class: 'num' }, o.quantity), el('td', {}, fmtDate(o.created)), el('td', {}, fmtDate(o.updated))))));
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
  const save = el('button', { type: 'submit', id: 'record-assessment' }, 'Record assessment');
  const base = '/v1/orders/' + encodeURIComponent(orderId);
  const form = el('form', { class: 'panel', onsubmit: async (ev) => {
    ev.preventDefault();
    showError(''); showNotice('');
    const body = { visitKey: visit.value, visualAcuity: va.value, comfort: Number(comfort.value), outcome: outcome.value };
    if (sphere.value !== '') body.overRefraction = { sphereD: Number(sphere.value) };
    if (notes.value) body.fluoresceinNotes = notes.value;
    save.disabled = true;
    const a = await guard(gen, () => api('POST', base + '/assessments', body, { 'Idempotency-Key': idempotencyKey() }));
    save.disabled = false;
    if (a) {
      showNotice('Assessment recorded' + (a.revisedVersion ? `: design revised to version ${a.revisedVersion}.` : '.'));
      loadOrder();
    }
  } }, el('h3', {}, 'Record an aftercare assessment'),
  el('div', { class: 'fields' }, field('Visit', visit), field('Visual acuity', va), field('Over-refraction sphere (D)', sphere), field('Comfort (1–10)', comfort), field('Outcome', outcome)),
  field('Fluorescein notes', notes), el('div', { class: 'buttons' }, save));
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
      el('p', {}, 'Status: ', el('span', { class: 'status', id: 'order-status' }, o.status), ` · ${o.lensType || ''} · quantity ${o.quantity}`),
      el('p', {}, el('a', { href: '#/scans/' + encodeURIComponent(o.scanId) }, 'Scan and design')),
      el('h3', {}, 'Timeline'),
      el('ol', { class: 'timeline', id: 'order-timeline' }, (o.timeline || []).map(t => el('li', {}, `${fmtDate(t.at)}: ${timelineText(t)}`))));
    const as = await guard(gen, () => api('GET', base + '/assessments'));
    if (gen !== generation || !as) return true;
    const list = as.assessments || [];
    past.replaceChildren(el('h3', {}, 'Assessments'), list.length === 0 ? el('p', {}, 'None recorded.') :
      el('ul', {}, list.map(a => el('li', {}, `${fmtDate(a.created)}: ${a.visitKey}, ${a.outcome}${a.revisedVersion ? ', design v' + a.revisedVersion : ''}`))));
    return true;
  };
  if (await loadOrder()) await talk.load();
  else talk.section.hidden = true; // no order, no conversation
}

async function viewFollowUps(gen) {
  const list = el('div', {}, el('p', { class: 'muted' }, 'Loading follow-ups…'));
  setView(el('h2', {}, 'Follow-ups due'), el('section', { class: 'panel', 'aria-label': 'Follow-ups' }, list));
  const res = await guard(gen, () => api('GET', '/v1/follow-ups'));
  if (gen !== generation) return;
  if (!res) { list.replaceChildren(el('p', {}, 'The follow-up list is not available.')); return; }
  const fs = res.followUps || [];
  list.replaceChildren(fs.length === 0 ? el('p', {}, 'No follow-ups due.') : table(['Visit', 'Due', 'State', 'Order'],
    fs.map(f => el('tr', {}, el('td', {}, f.visit), el('td', {}, fmtDate(f.due)), el('td', {}, f.state),
      el('td', {}, el('a', { href: '#/orders/' + encodeURIComponent(f.orderId) }, 'Order ' + String(f.orderId).slice(0, 8)))))));
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
  setView(el('h2', {}, 'Lab jobs'), el('section', { class: 'panel', 'aria-label': 'Jobs' }, list));
  const load = async () => {
    const res = await guard(gen, () => api('GET', '/v1/lab/jobs'));
    if (gen !== generation) return;
    if (!res) { list.replaceChildren(el('p', {}, 'The job queue is not available.')); return; }
    const js = res.jobs || [];
    list.replaceChildren(js.length === 0 ? el('p', {}, 'The queue is empty.') : table(['Job', 'Order', 'Lens', 'Qty', 'Status', 'Move to', 'Point files'],
      js.map(j => el('tr', { 'data-job': j.id },
        el('td', {}, j.id.slice(0, 10)),
        el('td', {}, j.orderId ? el('a', { href: labConversationHash(j.orderId), 'data-conversation': j.orderId }, `Conversation on order ${j.orderId.slice(0, 8)}`) : '—'),
        el('td', {}, j.lensType), el('td', { class: 'num' }, j.quantity),
        el('td', {}, el('span', { class: 'status' }, j.status)),
        el('td', {}, el('div', { class: 'buttons' }, (JOB_NEXT[j.status] || []).map(s => el('button', { type: 'button', 'data-status': s, onclick: async () => {
          // Cancelling withdraws the job for good: ask first.
          if (s === 'cancelled' && !window.confirm(`Cancel job ${j.id.slice(0, 10)}? A cancelled job cannot be resumed.`)) return;
          showError(''); showNotice('');
          const r = await guard(gen, () => api('POST', '/v1/lab/jobs/' + encodeURIComponent(j.id) + '/status', { status: s }));
          if (r) { showNotice(`Job moved to ${s}.`); load(); }
        } }, s)))),
        el('td', {}, el('div', { class: 'buttons' }, (j.files || []).map(f => el('button', { type: 'button', class: 'secondary', 'data-file': f.name, onclick: () => download(gen, j.id, f.name) }, f.name))))))));
  };
  await load();
}

// ---------- conversation on an order ----------

// timelineText is a timeline entry in words: a comment noted on the order
// reads "comment posted by the lab", a change "order placed → cutting (lab)".
function timelineText(t) {
  if (t.subject === 'comment') {
    const who = t.actor === 'lab' ? 'the lab' : t.actor === 'practitioner' ? 'the clinic' : t.actor;
    return `comment ${t.to} by ${who}`;
  }
  return `${t.subject} ${t.from ? t.from + ' → ' : ''}${t.to} (${t.actor})`;
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
  const load = async () => {
    const res = await guard(gen, () => api('GET', path));
    if (gen !== generation) return;
    if (!res) { thread.replaceChildren(el('p', {}, 'The conversation is not available.')); return; }
    const cs = res.comments || [];
    thread.replaceChildren(cs.length === 0 ? el('p', { class: 'muted' }, 'No messages yet.') :
      el('ol', { class: 'thread', 'aria-label': 'Messages, oldest first' }, cs.map(commentItem)));
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
  const res = await guard(gen, () => api('GET', '/v1/lab/jobs'));
  if (gen !== generation || !res) return;
  const j = (res.jobs || []).find(x => x.orderId === orderId);
  if (j) summary.replaceChildren(`Job ${j.id.slice(0, 10)} · ${j.lensType} · quantity ${j.quantity} · `, el('span', { class: 'status' }, j.status));
}

// ---------- router ----------

function route() {
  const parts = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  const signedIn = !!sessionStorage.getItem(TOKEN);
  if (!signedIn || parts[0] === 'signin') return [viewSignIn];
  const lab = sessionStorage.getItem(ROLE) === 'lab';
  switch (parts[0]) {
    case 'patients': return parts[1] ? [viewPatient, parts[1]] : [viewPatients];
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
