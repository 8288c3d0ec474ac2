// The lensflow local stack's developer dashboard: polls /dev/api/state
// every second and renders it, and, while a trace is open (#trace/<id>),
// that trace's kept spans as a waterfall. Everything is written with
// textContent; positions and widths are set through the CSSOM.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  let paused = false;
  let timer = 0;
  let inflight = false;
  let last = null;
  let topics = "";

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }

  function row(cells) {
    const tr = document.createElement("tr");
    for (const c of cells) tr.appendChild(c instanceof Node ? c : el("td", c));
    return tr;
  }

  function td(content, cls) {
    const cell = el("td", null, cls);
    if (content instanceof Node) cell.appendChild(content); else cell.textContent = content == null ? "" : String(content);
    return cell;
  }

  function fill(tbody, rows, cols, empty) {
    const frag = document.createDocumentFragment();
    for (const r of rows) frag.appendChild(r);
    if (rows.length === 0) {
      const cell = el("td", empty, "empty");
      cell.colSpan = cols;
      frag.appendChild(row([cell]));
    }
    tbody.replaceChildren(frag);
  }

  function time(t) {
    const d = new Date(t);
    return isNaN(d) ? "" : d.toLocaleTimeString([], { hour12: false }) + "." + String(d.getMilliseconds()).padStart(3, "0");
  }

  function statusBadge(s) {
    return el("span", s === 0 ? "none" : s, "badge s" + Math.floor(s / 100));
  }

  function list(items) {
    const ul = el("ul", null, "plain");
    for (const i of items) ul.appendChild(el("li", i));
    return ul;
  }

  function renderFunctions(fns) {
    const rows = Object.keys(fns || {}).sort().map((name) => {
      const f = fns[name] || {};
      if (f.routes) return row([td(name), td("HTTP"), td(list(f.routes), "mono")]);
      const subs = (f.consumes || []).map((c) => c.topic + " → " + c.subscription);
      return row([td(name), td("events"), td(list(subs), "mono")]);
    });
    fill($("functions"), rows, 3, "No functions mounted.");
  }

  function renderSubscriptions(subs) {
    const rows = subs.map((s) => row([td(s.subscription, "mono"), td(s.topic, "mono"), td(s.function),
      td(s.delivered, "num"), td(s.retried, "num"), td(s.deadLettered, "num")]));
    fill($("subscriptions"), rows, 6, "No subscriptions.");
  }

  function renderDeadLetters(dls) {
    const rows = dls.filter((d) => d.waiting > 0).map((d) => {
      const evs = d.events.map((e) => e.eventType + " " + e.eventId + " (" + time(e.time) + ")");
      if (d.waiting > d.events.length) evs.push("… and " + (d.waiting - d.events.length) + " more");
      return row([td(d.subscription, "mono"), td(d.waiting, "num"), td(list(evs), "mono")]);
    });
    fill($("dead-letters"), rows, 3, "No dead letters seen since the stack started or the last replay.");
  }

  function renderTopics(events, subs) {
    const names = Array.from(new Set(subs.map((s) => s.topic).concat(events.map((e) => e.topic)))).sort();
    const key = names.join("\n");
    if (key === topics) return;
    topics = key;
    const sel = $("topic");
    const keep = sel.value;
    const opts = [new Option("All topics", "")].concat(names.map((n) => new Option(n, n)));
    sel.replaceChildren(...opts);
    sel.value = names.includes(keep) ? keep : "";
  }

  function renderEvents(events) {
    const topic = $("topic").value;
    const failures = $("failures").checked;
    const rows = events
      .filter((e) => (!topic || e.topic === topic) && (!failures || e.outcome !== "ok"))
      .map((e) => row([td(time(e.time)), td(e.topic, "mono"), td(e.function), td(e.eventType, "mono"), td(e.eventId, "mono"),
        td(e.attempt, "num"), td(statusBadge(e.status), "num"), td(e.latencyMs.toFixed(1), "num"),
        td(el("span", e.outcome + (e.error ? " (" + e.error + ")" : ""), "badge " + e.outcome)), td(traceLink(e.traceId), "mono")]));
    fill($("events"), rows, 10, "No deliveries yet" + (topic ? " on " + topic : "") + ".");
  }

  // traceLink links a trace id to its waterfall (#trace/<id>).
  function traceLink(id) {
    if (!id) return "";
    const a = el("a", id);
    a.href = "#trace/" + encodeURIComponent(id);
    return a;
  }

  function renderRequests(reqs) {
    const f = $("route-filter").value.trim().toLowerCase();
    const errors = $("errors").checked;
    const rows = reqs
      .filter((r) => (!f || r.route.toLowerCase().includes(f) || r.function.toLowerCase().includes(f)) && (!errors || r.status >= 400))
      .map((r) => row([td(time(r.time)), td(r.route, "mono"), td(r.function), td(statusBadge(r.status), "num"),
        td(r.latencyMs.toFixed(1), "num"), td(traceLink(r.traceId), "mono"), td(r.requestId || "", "mono")]));
    fill($("requests"), rows, 7, "No requests yet.");
  }

  // Metrics: the series of /dev/api/metrics by name.
  function total(series, name, match) {
    const s = series[name];
    if (!s) return 0;
    let n = 0;
    for (const p of s.points) {
      if (match && Object.keys(match).some((k) => p.attributes[k] !== match[k])) continue;
      n += p.value != null ? p.value : (p.count || 0);
    }
    return n;
  }

  function seconds(v) {
    if (v == null) return "–";
    return v < 1 ? Math.round(v * 1000) + " ms" : v.toFixed(v < 10 ? 2 : 1) + " s";
  }

  // quantile estimates the q-quantile of merged histogram buckets by
  // interpolating inside the bucket that holds it (the last, unbounded
  // bucket answers its lower bound).
  function quantile(buckets, count, q) {
    const rank = q * count;
    let seen = 0, lo = 0;
    for (const b of buckets) {
      if (b.count > 0 && seen + b.count >= rank) {
        return b.le == null ? lo : lo + (b.le - lo) * (rank - seen) / b.count;
      }
      seen += b.count;
      if (b.le != null) lo = b.le;
    }
    return null;
  }

  function renderMetrics(list) {
    const series = {};
    for (const s of list || []) series[s.name] = s;
    const lat = series["lensflow.design.latency"];
    // One histogram point per lens type: merge them for the tiles and chart.
    let count = 0, sum = 0, p50 = null, p95 = null;
    const buckets = [];
    for (const p of lat ? lat.points : []) {
      count += p.count; sum += p.sum;
      if (lat.points.length === 1) { p50 = p.p50; p95 = p.p95; }
      p.buckets.forEach((b, i) => {
        buckets[i] = buckets[i] || { le: b.le, count: 0 };
        buckets[i].count += b.count;
      });
    }
    if (lat && lat.points.length > 1) { p50 = quantile(buckets, count, 0.5); p95 = quantile(buckets, count, 0.95); }
    const tiles = [
      ["Scans received", total(series, "lensflow.scans.received")],
      ["Designs produced", total(series, "lensflow.designs.produced")],
      ["Designs failed", total(series, "lensflow.designs.failed")],
      ["Upload to design, mean", count ? seconds(sum / count) : "–"],
      ["Upload to design, median", seconds(p50)],
      ["Upload to design, 95th", seconds(p95)],
      ["Notifications sent", total(series, "lensflow.notifications.sent")],
      ["Notifications failed", total(series, "lensflow.notifications.failed")],
      ["Event deliveries failed", total(series, "lensflow.events.failed")],
      ["Events dead-lettered", total(series, "lensflow.events.dead_lettered")],
    ];
    const frag = document.createDocumentFragment();
    for (const [label, value] of tiles) {
      const div = el("div", null, "tile");
      div.appendChild(el("dt", label));
      div.appendChild(el("dd", value));
      frag.appendChild(div);
    }
    $("tiles").replaceChildren(frag);

    // The latency histogram as horizontal bars (widths set through the
    // CSSOM, which the page's CSP allows).
    const chart = $("latency");
    const max = Math.max(1, ...buckets.map((b) => b.count));
    const rows = [];
    let lo = 0;
    for (const b of buckets) {
      const label = b.le == null ? "> " + seconds(lo) : "≤ " + seconds(b.le);
      if (b.le != null) lo = b.le;
      if (b.count === 0 && rows.length === 0) continue; // skip empty leading buckets
      const r = el("div", null, "bar-row");
      r.appendChild(el("span", label, "bar-label"));
      const bar = el("span", null, "bar");
      bar.style.width = (100 * b.count / max).toFixed(1) + "%";
      r.appendChild(bar);
      r.appendChild(el("span", b.count, "bar-count"));
      rows.push(r);
    }
    while (rows.length && rows[rows.length - 1].lastChild.textContent === "0") rows.pop();
    if (rows.length === 0) rows.push(el("p", "No designs yet.", "empty"));
    chart.replaceChildren(...rows);
    $("latency-caption").textContent = "Upload to design (" + count + (count === 1 ? " design)" : " designs)");

    const statuses = new Set();
    for (const n of ["lensflow.jobs.active", "lensflow.jobs.transitions"]) {
      for (const p of series[n] ? series[n].points : []) statuses.add(p.attributes.status);
    }
    const order = ["queued", "cutting", "inspection", "failed", "requeued", "dispatched", "cancelled"];
    const jobRows = Array.from(statuses).sort((a, b) => order.indexOf(a) - order.indexOf(b)).map((st) => {
      const active = series["lensflow.jobs.active"] && series["lensflow.jobs.active"].points.some((p) => p.attributes.status === st);
      return row([td(st), td(active ? total(series, "lensflow.jobs.active", { status: st }) : "–", "num"),
        td(total(series, "lensflow.jobs.transitions", { status: st }), "num")]);
    });
    fill($("jobs"), jobRows, 3, "No jobs yet.");
  }

  // ---- Trace waterfall -------------------------------------------------

  // trace is the open trace: its id, the last spans rendered (as JSON, to
  // re-render only on change), a sequence number that drops answers of a
  // trace no longer open, and request numbers that drop an answer older
  // than the one shown.
  const trace = { id: "", key: null, seq: 0, asked: 0, shown: 0, summary: "" };

  // traceIdOf extracts a trace id from what a developer pastes: the id
  // itself, a traceparent, or a log line's "projects/P/traces/<id>".
  // It answers "" when there is none (all zeros is no trace id).
  function traceIdOf(text) {
    const t = String(text || "").trim().toLowerCase();
    const m = /^([0-9a-f]{32})$/.exec(t) || /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/.exec(t) ||
      /^projects\/[^/\s]+\/traces\/([0-9a-f]{32})$/.exec(t);
    return m && !/^0+$/.test(m[1]) ? m[1] : "";
  }

  // when parses an RFC 3339 time into milliseconds, keeping the
  // microseconds Date.parse drops.
  function when(s) {
    const m = /^(.*T\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$/.exec(s || "");
    if (!m) return Date.parse(s);
    return Date.parse(m[1] + m[3]) + (m[2] ? parseFloat("0" + m[2]) * 1000 : 0);
  }

  function msText(v) {
    if (v < 10) return v.toFixed(2) + " ms";
    if (v < 1000) return v.toFixed(1) + " ms";
    return Math.round(v).toLocaleString("en-US") + " ms";
  }

  // spanTree orders spans parent first, each one's children by start time
  // under it. A span whose parent is not among them (a remote parent, or
  // one no longer kept) is a root.
  function spanTree(spans) {
    const byId = new Map(spans.map((s) => [s.spanId, s]));
    const kids = new Map();
    const roots = [];
    for (const s of spans) {
      if (s.parentSpanId && s.parentSpanId !== s.spanId && byId.has(s.parentSpanId)) {
        if (!kids.has(s.parentSpanId)) kids.set(s.parentSpanId, []);
        kids.get(s.parentSpanId).push(s);
      } else {
        roots.push(s);
      }
    }
    const byStart = (a, b) => a.t0 - b.t0;
    const out = [];
    const seen = new Set();
    const walk = (s, depth, parent) => {
      if (seen.has(s.spanId)) return;
      seen.add(s.spanId);
      out.push({ span: s, depth, parent });
      for (const c of (kids.get(s.spanId) || []).sort(byStart)) walk(c, depth + 1, s);
    };
    for (const r of roots.sort(byStart)) walk(r, 0, null);
    // A cycle of parents has no root: show its spans as roots rather than lose them.
    for (const s of spans.slice().sort(byStart)) walk(s, 0, null);
    return { rows: out, roots: roots.length };
  }

  // ticks chooses about five round steps (1, 2 or 5 times a power of ten)
  // from 0 to total milliseconds.
  function ticks(total) {
    const raw = total / 5;
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 5, 10].map((m) => m * mag).find((v) => v >= raw);
    const digits = Math.max(0, -Math.floor(Math.log10(step)));
    const out = [];
    for (let v = 0; v <= total + step * 1e-9; v += step) out.push({ v, label: v.toFixed(digits) + " ms" });
    return out;
  }

  function pct(v, total) { return Math.min(100, Math.max(0, (100 * v) / total)); }

  function renderAxis(marks, total) {
    const axis = $("trace-axis");
    axis.replaceChildren(...marks.map((m) => {
      const p = pct(m.v, total);
      const t = el("span", m.label, "wf-tick" + (p === 0 ? " first" : p > 85 ? " last" : ""));
      t.style.left = p.toFixed(3) + "%";
      return t;
    }));
  }

  // barCell draws a span on the shared time axis: the bar, the grid, and
  // the duration as text beside the bar (or inside it when there is no
  // room); screen readers read the start offset and the duration.
  function barCell(s, t0, total, marks) {
    const cell = el("td", null, "wf-cell");
    const track = el("div", null, "wf-track");
    for (const m of marks) {
      const g = el("span", null, "wf-grid");
      g.style.left = pct(m.v, total).toFixed(3) + "%";
      track.appendChild(g);
    }
    const start = s.t0 - t0;
    const left = pct(start, total);
    const width = Math.max(pct(s.durationMs, total), 0);
    const bar = el("span", null, "wf-bar " + kindClass(s.kind) + (isError(s) ? " error" : ""));
    bar.style.left = left.toFixed(3) + "%";
    bar.style.width = "max(2px, " + width.toFixed(3) + "%)";
    track.appendChild(bar);
    const label = el("span", null, "wf-dur");
    label.appendChild(el("span", "starts at +" + msText(start) + ", lasts ", "sr-only"));
    label.appendChild(document.createTextNode(msText(s.durationMs)));
    if (left + width <= 75) {
      label.style.left = "calc(" + (left + width).toFixed(3) + "% + 0.35rem)";
      track.appendChild(label);
    } else if (left >= 25) {
      label.style.right = "calc(" + (100 - left).toFixed(3) + "% + 0.35rem)";
      track.appendChild(label);
    } else {
      label.classList.add("inside");
      bar.appendChild(label);
    }
    cell.appendChild(track);
    return cell;
  }

  function kindClass(kind) {
    return ["server", "consumer", "client", "producer", "internal"].includes(kind) ? "k-" + kind : "k-other";
  }

  function isError(s) { return String(s.status).toLowerCase() === "error"; }

  function short(id) { return String(id).slice(0, 8) + "…"; }

  function nameCell(r) {
    const s = r.span;
    const cell = el("th", null, "wf-name");
    cell.scope = "row";
    const box = el("div", null, "wf-indent");
    box.style.paddingLeft = (Math.min(r.depth, 12) * 1.1).toFixed(2) + "rem";
    if (r.depth > 0) {
      box.appendChild(el("span", "└ ", "wf-elbow")).setAttribute("aria-hidden", "true");
      box.appendChild(el("span", "child of " + r.parent.name + ": ", "sr-only"));
    }
    box.appendChild(el("span", s.name, "wf-label"));
    const fn = (s.attributes || {})["lensflow.function"];
    const notes = [];
    if (fn) notes.push(fn);
    if (r.depth === 0 && s.parentSpanId) notes.push("remote parent " + short(s.parentSpanId));
    notes.push("span " + s.spanId);
    box.appendChild(el("span", notes.join(" · "), "wf-sub"));
    cell.appendChild(box);
    return cell;
  }

  function statusCell(s) {
    const cell = el("td");
    const st = String(s.status || "unset").toLowerCase();
    cell.appendChild(el("span", st, "badge " + (st === "error" ? "s5" : st === "ok" ? "s2" : "plain")));
    const code = (s.attributes || {})["http.response.status_code"];
    if (code) cell.appendChild(el("span", " HTTP " + code, "wf-sub inline"));
    return cell;
  }

  function linksCell(s) {
    const links = s.links || [];
    if (links.length === 0) return td("–", "muted-cell");
    const ul = el("ul", null, "plain");
    for (const l of links) {
      const li = el("li");
      if (l.traceId === trace.id) {
        li.textContent = "span " + l.spanId + " of this trace";
      } else {
        const a = el("a", "trace " + short(l.traceId));
        a.href = "#trace/" + encodeURIComponent(l.traceId);
        a.title = "Open trace " + l.traceId;
        a.setAttribute("aria-label", "Open trace " + l.traceId + ", span " + l.spanId);
        a.dataset.focusKey = s.spanId + "/" + l.traceId + "/" + l.spanId;
        li.appendChild(a);
        li.appendChild(el("span", " span " + l.spanId, "wf-sub inline"));
      }
      ul.appendChild(li);
    }
    return td(ul, "mono");
  }

  // renderTrace draws the waterfall, keeping the region's scroll position
  // and the keyboard focus across a refresh. It reports whether the spans
  // changed since the last time.
  function renderTrace(spans) {
    const key = JSON.stringify(spans);
    if (key === trace.key) return false;
    trace.key = key;
    const region = $("trace-region");
    const top = region.scrollTop, leftScroll = region.scrollLeft;
    const focused = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.focusKey : "";

    for (const s of spans) s.t0 = when(s.start);
    const t0 = Math.min(...spans.map((s) => s.t0));
    const tEnd = Math.max(...spans.map((s) => Math.max(when(s.end), s.t0 + (s.durationMs || 0))));
    const total = Math.max(tEnd - t0, 0.01);
    const marks = ticks(total);
    renderAxis(marks, total);
    const tree = spanTree(spans);
    const rows = tree.rows.map((r) => {
      const s = r.span;
      const tr = row([nameCell(r), barCell(s, t0, total, marks), td(el("span", s.kind, "badge kind " + kindClass(s.kind))),
        statusCell(s), linksCell(s)]);
      tr.dataset.spanId = s.spanId;
      tr.dataset.depth = String(r.depth);
      if (isError(s)) tr.className = "error";
      return tr;
    });
    $("trace-spans").replaceChildren(...rows);
    const errors = spans.filter(isError).length;
    trace.summary = "Trace " + trace.id + ": " + spans.length + (spans.length === 1 ? " span" : " spans") + " (" + tree.roots +
      (tree.roots === 1 ? " root" : " roots") + ") over " + msText(total) + ", " + errors + (errors === 1 ? " error" : " errors") + ".";
    $("trace-caption").textContent = "Spans of trace " + trace.id + ", parents first, on a time axis from its first span";
    region.scrollTop = top;
    region.scrollLeft = leftScroll;
    if (focused) {
      const again = [...$("trace-spans").querySelectorAll("[data-focus-key]")].find((e) => e.dataset.focusKey === focused);
      if (again) again.focus();
    }
    return true;
  }

  function traceSay(text, invalid) {
    const msg = $("trace-msg");
    if (msg.textContent !== text) msg.textContent = text;
    msg.classList.toggle("problem", !!invalid);
    $("trace-id").setAttribute("aria-invalid", invalid ? "true" : "false");
  }

  function showView(on) {
    $("trace-view").hidden = !on;
    if (!on) { trace.key = null; $("trace-spans").replaceChildren(); }
  }

  // loadTrace fetches the open trace and renders it.
  async function loadTrace() {
    if (!trace.id) return;
    const id = trace.id, seq = trace.seq, n = ++trace.asked;
    try {
      const resp = await fetch("/dev/api/traces/" + encodeURIComponent(id), { cache: "no-store", headers: { Accept: "application/json" } });
      const body = await resp.json().catch(() => ({}));
      if (seq !== trace.seq || n < trace.shown) return;
      trace.shown = n;
      if (!resp.ok) throw new Error(body.detail || "the stack answered " + resp.status);
      const spans = body.spans || [];
      if (spans.length === 0) {
        showView(false);
        traceSay("No spans are kept for trace " + id + ". The stack keeps its last 5,000 spans since it started; " +
          "an id from an earlier run or an older request has none. Still looking while it is open.", true);
        return;
      }
      showView(true);
      if (renderTrace(spans)) traceSay(trace.summary, false);
    } catch (err) {
      if (seq === trace.seq) traceSay("Cannot show trace " + id + ": " + err.message, true);
    }
  }

  // openTrace shows the trace named by the page's hash (#trace/<id>);
  // another hash leaves it as it is, an empty one closes it.
  function openTrace(fromUser) {
    const h = location.hash;
    if (h !== "" && h !== "#" && !h.startsWith("#trace/")) return;
    trace.seq++;
    trace.key = null;
    if (!h.startsWith("#trace/")) {
      trace.id = "";
      showView(false);
      $("trace-close").hidden = true;
      traceSay("", false);
      return;
    }
    let raw = h.slice("#trace/".length);
    try { raw = decodeURIComponent(raw); } catch (e) { /* keep it as written */ }
    const id = traceIdOf(raw);
    $("trace-id").value = id || raw;
    $("trace-close").hidden = false;
    if (fromUser) {
      $("trace-panel").scrollIntoView({ block: "start" });
      $("h-trace").focus({ preventScroll: true });
    }
    if (!id) {
      trace.id = "";
      showView(false);
      traceSay("“" + raw.slice(0, 80) + "” is not a trace id: a trace id is 32 hex digits (0-9, a-f), not all zeros.", true);
      return;
    }
    trace.id = id;
    $("trace-json").href = "/dev/api/traces/" + id;
    traceSay("Loading trace " + id + "…", false);
    loadTrace();
  }

  function submitTrace(ev) {
    ev.preventDefault();
    const raw = $("trace-id").value.trim();
    const id = traceIdOf(raw);
    if (!id) {
      traceSay(raw === "" ? "Enter a trace id: 32 hex digits (0-9, a-f)." :
        "“" + raw.slice(0, 80) + "” is not a trace id: a trace id is 32 hex digits (0-9, a-f), not all zeros.", true);
      $("trace-id").focus();
      return;
    }
    if (location.hash === "#trace/" + id) openTrace(false);
    else location.hash = "#trace/" + id;
  }

  function closeTrace() {
    history.pushState(null, "", location.pathname + location.search);
    openTrace(false);
    $("trace-id").focus();
  }

  function render(s) {
    last = s;
    renderFunctions(s.functions);
    renderSubscriptions(s.subscriptions || []);
    renderDeadLetters(s.deadLetters || []);
    renderTopics(s.events || [], s.subscriptions || []);
    renderEvents(s.events || []);
    renderRequests(s.requests || []);
  }

  async function poll() {
    timer = 0;
    inflight = true;
    try {
      const opts = { cache: "no-store", headers: { Accept: "application/json" } };
      const [resp, mresp] = await Promise.all([fetch("/dev/api/state", opts), fetch("/dev/api/metrics", opts)]);
      if (!resp.ok) throw new Error("the stack answered " + resp.status);
      render(await resp.json());
      if (mresp.ok) renderMetrics((await mresp.json()).metrics);
      await loadTrace();
      if (!paused) say("Live: updating every second.");
      $("updated").textContent = "Last update " + time(new Date());
    } catch (err) {
      say("Cannot reach the stack (" + err.message + "); retrying.");
    }
    inflight = false;
    if (!paused && !timer) timer = setTimeout(poll, 1000);
  }

  async function replay() {
    const btn = $("replay");
    const out = $("replay-result");
    btn.disabled = true;
    out.textContent = "Replaying…";
    try {
      // The stack refuses a state-changing developer request without this header.
      const resp = await fetch("/dev/api/dead-letters/replay", { method: "POST", headers: { Accept: "application/json", "X-Lensflow-Dev": "1" } });
      const body = await resp.json().catch(() => ({}));
      if (!resp.ok) throw new Error(body.detail || "the stack answered " + resp.status);
      out.textContent = "Replayed " + body.replayed + (body.replayed === 1 ? " event." : " events.");
    } catch (err) {
      out.textContent = "Replay failed: " + err.message;
    } finally {
      btn.disabled = false;
    }
  }

  // say changes the live status line only when its text changes, so that
  // screen readers announce a state change, not every refresh.
  function say(text) {
    if ($("status").textContent !== text) $("status").textContent = text;
  }

  function rerender() { if (last) render(last); }

  document.addEventListener("DOMContentLoaded", () => {
    $("pause").addEventListener("click", (ev) => {
      paused = !paused;
      ev.currentTarget.setAttribute("aria-pressed", String(paused));
      ev.currentTarget.textContent = paused ? "Resume updates" : "Pause updates";
      if (paused) {
        if (timer) clearTimeout(timer);
        timer = 0;
        say("Paused.");
      } else if (!timer && !inflight) {
        poll();
      }
    });
    $("replay").addEventListener("click", replay);
    for (const id of ["topic", "failures", "errors"]) $(id).addEventListener("change", rerender);
    $("route-filter").addEventListener("input", rerender);
    $("trace-form").addEventListener("submit", submitTrace);
    $("trace-close").addEventListener("click", closeTrace);
    window.addEventListener("hashchange", () => openTrace(true));
    // A trace link to the trace already open brings the panel back into view.
    document.addEventListener("click", (ev) => {
      const a = ev.target instanceof Element ? ev.target.closest('a[href^="#trace/"]') : null;
      if (a && a.getAttribute("href") === location.hash) { ev.preventDefault(); openTrace(true); }
    });
    if (location.hash.startsWith("#trace/")) openTrace(true);
    poll();
  });
})();
