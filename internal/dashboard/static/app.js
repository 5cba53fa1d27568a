"use strict";
// The dashboard calls the HTTP API next to it (/api/…). In Azure the page
// is opened with ?code=<function key>; every call carries it on.
const base = new URL(".", location.href);
const code = new URLSearchParams(location.search).get("code");
const state = { tasks: [], task: null, models: null };
const $ = (sel) => document.querySelector(sel);

async function api(method, path, body, params) {
  const url = new URL(path, base);
  for (const [k, v] of Object.entries(params || {})) url.searchParams.set(k, v);
  if (code) url.searchParams.set("code", code);
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(url, init);
  const text = await resp.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = { error: text }; }
  if (!resp.ok) {
    const err = new Error((data && data.error) || resp.status + " " + resp.statusText);
    err.status = resp.status;
    throw err;
  }
  return data;
}

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(e.dataset, v);
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

function status(msg, isError) {
  const s = $("#status");
  s.textContent = msg;
  s.className = isError ? "error" : "";
}

const pct = (x) => (x === undefined || x === null ? "–" : (100 * x).toFixed(1) + " %");
const when = (t) => (t ? new Date(t).toLocaleString() : "–");

async function loadTasks() {
  const data = await api("GET", "tasks");
  state.tasks = data.tasks || [];
  renderTasks();
  if (!state.task && state.tasks.length) state.task = state.tasks[0].task;
  if (state.task) await loadTask(state.task);
}

function renderTasks() {
  const box = $("#tasks");
  box.replaceChildren();
  if (!state.tasks.length) {
    box.append(el("p", { class: "muted" }, "No labelled tasks yet: upload labelled files into the incoming container."));
    return;
  }
  for (const t of state.tasks) {
    const chips = el("div", { class: "chips" });
    for (const [label, n] of Object.entries(t.labels || {}).sort()) chips.append(el("span", { class: "chip" }, label + " " + n));
    const cur = t.current
      ? el("span", { class: "badge current" }, "v " + t.current.version + " · " + pct((t.current.metrics || {}).accuracy))
      : el("span", { class: "badge none" }, "not trained");
    const card = el("button", { type: "button", class: "task" + (t.task === state.task ? " selected" : ""), dataset: { task: t.task },
      onclick: () => { state.task = t.task; renderTasks(); loadTask(t.task).catch((e) => status(e.message, true)); } },
      el("div", { class: "name" }, t.task, cur, t.changed ? el("span", { class: "badge changed", title: t.why }, "data changed") : null),
      el("div", { class: "meta" }, t.rows + " labelled · " + t.embedding_model),
      chips);
    box.append(card);
  }
}

async function loadTask(task) {
  $("#detail").hidden = false;
  document.querySelectorAll('[data-field="task"]').forEach((e) => (e.textContent = task));
  try {
    state.models = await api("GET", "models/" + encodeURIComponent(task));
  } catch (e) {
    if (e.status !== 404) throw e;
    state.models = { task, current: "", versions: [] };
  }
  renderVersions();
  await Promise.all([loadReport(), loadSuggestions()]);
}

function labelsOfTask() {
  const t = state.tasks.find((x) => x.task === state.task) || {};
  const set = new Set(Object.keys(t.labels || {}));
  for (const v of state.models.versions || []) for (const l of v.labels || []) set.add(l);
  return [...set].sort();
}

function renderVersions() {
  const versions = state.models.versions || [];
  const body = $("#versions tbody");
  body.replaceChildren();
  for (const v of [...versions].reverse()) {
    const m = v.metrics || {};
    const rows = v.rows ? v.rows.train + v.rows.validation + (v.rows.test || 0) : "";
    const d = v.decision || {};
    const action = v.current
      ? el("span", { class: "badge current" }, "current")
      : el("button", { type: "button", class: "small secondary rollback", onclick: () => rollback(v.version) }, "Roll back");
    body.append(el("tr", { class: v.current ? "current" : "", dataset: { version: v.version } },
      el("td", { title: when(v.created_at) }, v.version), el("td", {}, pct(m.accuracy)), el("td", {}, pct(m.macro_f1)),
      el("td", {}, String(rows)), el("td", { class: "reason" }, (d.promoted ? "promoted: " : "kept: ") + (d.reason || "")), el("td", {}, action)));
  }
  if (!versions.length) body.append(el("tr", {}, el("td", { colspan: "6", class: "muted" }, "No versions yet.")));
  drawChart(versions);
}

// drawChart plots each version's validation accuracy, oldest first, as an
// inline SVG (no library).
function drawChart(versions) {
  const box = $("#chart");
  box.replaceChildren();
  if (!versions.length) return;
  const W = 640, H = 170, L = 44, R = 12, T = 12, B = 26;
  const acc = versions.map((v) => (v.metrics || {}).accuracy || 0);
  const lo = Math.max(0, Math.min(0.5, Math.floor((Math.min(...acc) - 0.05) * 10) / 10)), hi = 1;
  const x = (i) => (versions.length === 1 ? (L + W - R) / 2 : L + (i * (W - L - R)) / (versions.length - 1));
  const y = (a) => T + ((hi - a) * (H - T - B)) / (hi - lo);
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("preserveAspectRatio", "none");
  const add = (tag, attrs, text) => {
    const e = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    svg.append(e);
    return e;
  };
  for (let t = lo; t <= hi + 1e-9; t += 0.1) {
    add("line", { class: "axis", x1: L, x2: W - R, y1: y(t), y2: y(t) });
    add("text", { x: L - 6, y: y(t) + 4, "text-anchor": "end" }, Math.round(t * 100) + "%");
  }
  add("polyline", { class: "line", points: acc.map((a, i) => `${x(i)},${y(a)}`).join(" ") });
  versions.forEach((v, i) => {
    const dot = add("circle", { class: "dot" + (v.current ? " current" : ""), cx: x(i), cy: y(acc[i]), r: v.current ? 6 : 4 });
    const tip = document.createElementNS(ns, "title");
    tip.textContent = `${v.version}: ${pct(acc[i])}`;
    dot.append(tip);
    if (versions.length <= 12 || i === 0 || i === versions.length - 1) {
      const anchor = versions.length > 1 && i === 0 ? "start" : versions.length > 1 && i === versions.length - 1 ? "end" : "middle";
      add("text", { x: x(i), y: H - 8, "text-anchor": anchor }, v.version.slice(9, 15).replace(/(..)(..)(..)/, "$1:$2:$3"));
    }
  });
  box.append(svg);
}

async function loadReport() {
  const img = $("#report"), none = $("#no-report");
  const cur = state.models.current;
  if (!cur) { img.hidden = true; none.hidden = false; return; }
  // The host passes response bodies through as text, so the PNG comes
  // base64-encoded in JSON.
  const rep = await api("GET", `models/${encodeURIComponent(state.task)}/${encodeURIComponent(cur)}/report`);
  img.src = `data:${rep.content_type};base64,${rep.base64}`;
  img.hidden = false; none.hidden = true;
}

async function loadSuggestions() {
  const list = $("#suggestions");
  list.replaceChildren();
  if (!state.models.current) { list.append(el("li", { class: "muted" }, "Train the task first.")); return; }
  const data = await api("GET", `tasks/${encodeURIComponent(state.task)}/suggest`, undefined, { n: 10 });
  if (!data.documents.length) { list.append(el("li", { class: "muted" }, "Every stored document has a label for this task.")); return; }
  const labels = labelsOfTask();
  for (const d of data.documents) {
    const buttons = el("div", { class: "buttons" });
    for (const l of labels) {
      buttons.append(el("button", { type: "button", class: "small" + (l === d.label ? "" : " secondary"), dataset: { label: l },
        onclick: (ev) => label(d, l, ev.target.closest("li")) }, l));
    }
    list.append(el("li", { dataset: { document: d.document } },
      el("div", { class: "text" }, d.text),
      el("div", { class: "guess" }, `model: ${d.label} (${pct(d.probability)}, margin ${d.margin.toFixed(3)}) · ${d.source} / ${d.item}`),
      buttons));
  }
}

async function label(doc, value, item) {
  item.querySelectorAll("button").forEach((b) => (b.disabled = true));
  try {
    const ans = await api("POST", "labels/" + encodeURIComponent(state.task), { labels: [{ document: doc.document, label: value }] });
    if (ans.set + ans.unchanged !== 1) throw new Error(`label not stored: ${JSON.stringify(ans.results)}`);
    item.remove();
    status(`labelled document ${doc.document} “${value}”`);
    const data = await api("GET", "tasks");
    state.tasks = data.tasks || [];
    renderTasks();
  } catch (e) {
    item.querySelectorAll("button").forEach((b) => (b.disabled = false));
    status(e.message, true);
  }
}

async function busy(button, work) {
  const note = $("#action-status");
  button.disabled = true;
  note.className = "muted";
  try {
    note.textContent = await work();
  } catch (e) {
    note.textContent = e.message;
    note.className = "error";
  } finally {
    button.disabled = false;
  }
}

function train() {
  return busy($("#train"), async () => {
    $("#action-status").textContent = "training…";
    const out = await api("POST", "train/" + encodeURIComponent(state.task), {});
    await loadTasks();
    return `version ${out.version}: accuracy ${pct(out.metrics.accuracy)}, ${out.promoted ? "promoted" : "not promoted"} (${out.reason})`;
  });
}

function rollback(version) {
  return busy($("#train"), async () => {
    await api("POST", `models/${encodeURIComponent(state.task)}/rollback`, { version });
    await loadTasks();
    return `${state.task} now serves ${version}`;
  });
}

function score() {
  return busy($("#score"), async () => {
    $("#action-status").textContent = "scoring…";
    const res = await api("POST", "score/" + encodeURIComponent(state.task), {});
    return res.message;
  });
}

async function classify(ev) {
  ev.preventDefault();
  const text = $("#text").value.trim(), answer = $("#answer");
  if (!text) return;
  answer.textContent = "…";
  try {
    const out = await api("POST", "classify/" + encodeURIComponent(state.task), { texts: [text] });
    const p = out.predictions[0];
    const probs = Object.entries(p.probabilities).sort((a, b) => b[1] - a[1]).map(([l, v]) => `${l} ${pct(v)}`).join(" · ");
    answer.replaceChildren(el("span", { class: "label" }, p.label), ` — ${probs} (version ${out.version})`);
  } catch (e) {
    answer.replaceChildren(el("span", { class: "error" }, e.message));
  }
}

$("#train").addEventListener("click", train);
$("#score").addEventListener("click", score);
$("#classify").addEventListener("submit", classify);
loadTasks().then(() => status("ready")).catch((e) => status(e.message, true));
