// The API reference page: renders openapi.json (the same document the
// local stack serves at /openapi.json) as plain DOM built from text, with
// nothing loaded from elsewhere. Hand-written rather than a packaged
// renderer (Swagger UI, Redoc): those need a CDN or a build step and
// inline styles, which the portal's CSP and "no build step" rule exclude.

const root = document.getElementById('api');

function el(tag, attrs = {}, ...children) {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v !== undefined && v !== null && v !== false) n.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    n.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return n;
}

let spec = {};

// resolve follows a local $ref ("#/components/...") to what it names.
function resolve(obj) {
  let seen = 0;
  while (obj && obj.$ref && seen++ < 20) {
    obj = obj.$ref.slice(2).split('/').reduce((o, k) => (o ? o[k] : undefined), spec);
  }
  return obj || {};
}

function refName(obj) {
  return obj && obj.$ref ? obj.$ref.split('/').pop() : '';
}

function typeOf(s) {
  if (s.const !== undefined) return 'const ' + JSON.stringify(s.const);
  let t = Array.isArray(s.type) ? s.type.join(' | ') : (s.type || 'any');
  if (s.type === 'array' && s.items) {
    const it = resolve(s.items);
    t = 'array of ' + (refName(s.items) || typeOf(it));
  }
  if (s.format) t += ' (' + s.format + ')';
  if (s.enum) t += ': ' + s.enum.join(', ');
  return t;
}

// schemaTree lists a schema's properties, nested to a few levels.
function schemaTree(schema, depth = 0) {
  const s = resolve(schema);
  const name = refName(schema);
  const head = el('span', { class: 'type' }, name ? name + ' — ' : '', typeOf(s));
  let props = s.properties;
  let target = s;
  if (!props && s.type === 'array' && s.items) {
    target = resolve(s.items);
    props = target.properties;
  }
  if (!props || depth > 3) return el('div', {}, head, s.description ? el('div', { class: 'desc' }, s.description) : null);
  const required = new Set(target.required || []);
  const list = el('ul', { class: 'schema' });
  for (const [k, v] of Object.entries(props)) {
    const p = resolve(v);
    list.append(el('li', {},
      el('code', {}, k), ' ', required.has(k) ? el('span', { class: 'req' }, 'required') : null, ' ',
      p.properties || (p.items && resolve(p.items).properties) ? schemaTree(v, depth + 1) : el('span', { class: 'type' }, refName(v) || typeOf(p)),
      p.description ? el('div', { class: 'desc' }, p.description) : null));
  }
  return el('div', {}, head, list);
}

function content(c) {
  if (!c) return null;
  return Object.entries(c).map(([mt, m]) => el('div', {},
    el('p', {}, el('code', {}, mt)),
    m.schema && Object.keys(m.schema).length ? schemaTree(m.schema) : null,
    m.example !== undefined ? el('details', {}, el('summary', {}, 'Example'), el('pre', {}, JSON.stringify(m.example, null, 2))) : null));
}

function operation(method, path, op) {
  const roles = op['x-lensflow-roles'] || [];
  const body = el('div', { class: 'op-body' });
  if (op.description) body.append(el('p', { class: 'desc' }, op.description));
  const params = (op.parameters || []).map(resolve);
  if (params.length) {
    body.append(el('h4', {}, 'Parameters'), el('table', {},
      el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'Name'), el('th', { scope: 'col' }, 'In'), el('th', { scope: 'col' }, 'Type'), el('th', { scope: 'col' }, 'Description'))),
      el('tbody', {}, params.map((p) => el('tr', {},
        el('td', {}, el('code', {}, p.name), p.required ? el('span', { class: 'req' }, ' required') : null),
        el('td', {}, p.in), el('td', {}, typeOf(resolve(p.schema))), el('td', { class: 'desc' }, p.description || ''))))));
  }
  if (op.requestBody) {
    const rb = resolve(op.requestBody);
    body.append(el('h4', {}, 'Request body'), ...(content(rb.content) || []));
  }
  body.append(el('h4', {}, 'Responses'));
  for (const [status, r0] of Object.entries(op.responses || {})) {
    const r = resolve(r0);
    const headers = Object.keys(r.headers || {});
    body.append(el('details', { class: 'resp' },
      el('summary', {}, el('strong', {}, status), ' ', r.description || '', headers.length ? ' (headers: ' + headers.join(', ') + ')' : ''),
      content(r.content)));
  }
  return el('details', { class: 'op', id: op.operationId },
    el('summary', {}, el('span', { class: 'method' }, method.toUpperCase()), el('span', { class: 'path' }, path),
      el('span', {}, op.summary || ''),
      el('span', { class: 'roles' }, roles.length ? 'roles: ' + roles.join(', ') : 'public')),
    body);
}

function render() {
  const byTag = new Map((spec.tags || []).map((t) => [t.name, []]));
  for (const [path, item] of Object.entries(spec.paths || {})) {
    for (const [method, op] of Object.entries(item)) {
      const tag = (op.tags || ['Other'])[0];
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag).push(operation(method, path, op));
    }
  }
  const toc = el('ul', { class: 'toc' });
  const sections = [];
  for (const [tag, ops] of byTag) {
    if (!ops.length) continue;
    toc.append(el('li', {}, el('a', { href: '#tag-' + tag }, tag + ' (' + ops.length + ')')));
    sections.push(el('section', { class: 'tag', id: 'tag-' + tag }, el('h2', {}, tag), ops));
  }
  const info = spec.info || {};
  root.replaceChildren(
    el('h2', {}, (info.title || 'API') + ' ' + (info.version || '')),
    el('p', {}, 'OpenAPI ', spec.openapi || '', '. ', el('a', { href: 'openapi.json' }, 'The document itself'), ' is the contract; this page renders it.'),
    el('div', { class: 'intro' }, info.description || ''),
    el('h2', {}, 'Operations'), toc, ...sections);
}

async function main() {
  try {
    const res = await fetch('openapi.json', { headers: { Accept: 'application/json' } });
    if (!res.ok) throw new Error('openapi.json answered ' + res.status);
    spec = await res.json();
    render();
    if (location.hash) document.getElementById(decodeURIComponent(location.hash.slice(1)))?.setAttribute('open', '');
  } catch (e) {
    const box = document.getElementById('error');
    box.textContent = 'The API description could not be loaded: ' + e.message;
    box.hidden = false;
  }
}

main();
