// The lensflow local stack's developer dashboard: polls /dev/api/state
// every second and renders it. Everything is written with textContent.
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
        td(el("span", e.outcome + (e.error ? " (" + e.error + ")" : ""), "badge " + e.outcome))]));
    fill($("events"), rows, 9, "No deliveries yet" + (topic ? " on " + topic : "") + ".");
  }

  // traceLink links a trace id to its kept spans.
  function traceLink(id) {
    if (!id) return "";
    const a = el("a", id);
    a.href = "/dev/api/traces/" + encodeURIComponent(id);
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
      const resp = await fetch("/dev/api/dead-letters/replay", { method: "POST", headers: { Accept: "application/json" } });
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
    poll();
  });
})();
