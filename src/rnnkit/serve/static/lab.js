"use strict";
// The lab's page: lists the runs, loads the view script of the chosen one (static/views/NAME.js, which
// registers Lab.views.NAME = {mount(root, run)}) and mounts it. Shared here: the API calls, the
// server-sent-event reader, colour scales, heat maps, the tooltip.

const Lab = {
  views: {},
  limits: null,

  el(tag, attributes = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "text") node.textContent = value;
      else node.setAttribute(name, value === true ? "" : value);
    }
    node.append(...children);
    return node;
  },

  url(run, action) {
    return `/api/runs/${encodeURIComponent(run.id)}/${encodeURIComponent(action)}`;
  },

  async answer(response) {
    const data = await response.json().catch(() => ({error: response.statusText}));
    if (!response.ok) throw new Error(data.error || `${response.status} ${response.statusText}`);
    return data;
  },

  async post(run, action, body = {}) {
    const response = await fetch(Lab.url(run, action), {
      method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
    return Lab.answer(response);
  },

  // POSTs body and calls onEvent(object) for every server-sent event until the stream ends.
  async stream(run, action, body, onEvent, signal) {
    const response = await fetch(Lab.url(run, action), {
      method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body), signal});
    if (!response.ok) await Lab.answer(response);
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const {value, done} = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, {stream: true});
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const data = buffer.slice(0, end).split("\n").filter(line => line.startsWith("data: "))
          .map(line => line.slice(6)).join("\n");
        buffer = buffer.slice(end + 2);
        if (data) onEvent(JSON.parse(data));
      }
    }
  },

  debounce(fn, ms) {
    let timer = null;
    return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
  },

  // Colour of a value: range [0, 1] white -> teal; [-1, 1] blue -> white -> red; null (unbounded): tanh(v) on [-1, 1].
  colour(value, range) {
    if (value === null || value === undefined) return "rgb(200, 200, 200)";
    const mix = (a, b, t) => Math.round(a + (b - a) * t);
    if (range && range[0] === 0) {
      const t = Math.min(1, Math.max(0, value));
      return `rgb(${mix(255, 0, t)}, ${mix(255, 150, t)}, ${mix(255, 136, t)})`;
    }
    const t = range ? Math.min(1, Math.max(-1, value)) : Math.tanh(value);
    return t >= 0 ? `rgb(${mix(255, 214, t)}, ${mix(255, 47, t)}, ${mix(255, 39, t)})`
                  : `rgb(${mix(255, 33, -t)}, ${mix(255, 102, -t)}, ${mix(255, 172, -t)})`;
  },

  // Draws the colour scale of a range on a small canvas.
  legend(canvas, range) {
    const context = canvas.getContext("2d");
    const low = range ? range[0] : -3, high = range ? range[1] : 3;
    for (let x = 0; x < canvas.width; x++) {
      context.fillStyle = Lab.colour(low + (high - low) * x / (canvas.width - 1), range);
      context.fillRect(x, 0, 1, canvas.height);
    }
  },

  // Viridis, from 0 (dark purple) to 1 (yellow).
  viridis(t) {
    const stops = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
    const x = Math.min(1, Math.max(0, t)) * (stops.length - 1), i = Math.min(stops.length - 2, Math.floor(x));
    const f = x - i, a = stops[i], b = stops[i + 1];
    return `rgb(${a.map((v, k) => Math.round(v + (b[k] - v) * f)).join(", ")})`;
  },

  // Draws a matrix of non-negative values on a log scale (viridis); 0 is white, null grey. Returns [low, high].
  heatmap(canvas, matrix, cell) {
    const rows = matrix.length, columns = rows ? matrix[0].length : 0;
    canvas.width = Math.max(1, columns * cell);
    canvas.height = Math.max(1, rows * cell);
    const logs = matrix.flat().filter(v => v !== null && v > 0).map(Math.log10);
    const low = logs.length ? Math.min(...logs) : 0, high = logs.length ? Math.max(...logs) : 1;
    const context = canvas.getContext("2d");
    matrix.forEach((row, r) => row.forEach((value, c) => {
      context.fillStyle = value === null ? "#bbb" : value > 0
        ? Lab.viridis(high > low ? (Math.log10(value) - low) / (high - low) : 1) : "#fff";
      context.fillRect(c * cell, r * cell, cell, cell);
    }));
    return [low, high];
  },

  showTip(anchor, content) {
    const tip = document.getElementById("tooltip");
    tip.replaceChildren(content);
    tip.hidden = false;
    const box = anchor.getBoundingClientRect();
    tip.style.left = `${Math.min(box.left, window.innerWidth - tip.offsetWidth - 8)}px`;
    tip.style.top = `${box.bottom + 6 + tip.offsetHeight > window.innerHeight ? box.top - tip.offsetHeight - 6 : box.bottom + 6}px`;
  },

  hideTip() {
    document.getElementById("tooltip").hidden = true;
  },

  // A token as the page shows it: newline, space and tab made visible.
  visible(token) {
    return token.replace(/\n/g, "⏎").replace(/\t/g, "⇥").replace(/^ $/, "␣");
  },

  // The left panel of an "as you type" view: a text box whose text goes to `action` (debounced) and whose
  // answers draw(answer) turns into what the right-hand side shows; errors are shown instead.
  asYouType(root, run, {action, title, note, inputId, output}, draw) {
    const input = Lab.el("textarea", {id: inputId, rows: 4, placeholder: "type here"});
    root.append(Lab.el("section", {class: "panel controls"}, Lab.el("h2", {text: title}), input,
                       Lab.el("p", {class: "muted", text: note})),
                Lab.el("section", {}, output));
    const send = Lab.debounce(async () => {
      try {
        draw(await Lab.post(run, action, {text: input.value}));
      } catch (err) {
        output.replaceChildren(Lab.error(err.message));
      }
    }, 150);
    input.addEventListener("input", send);
    return input;
  },

  error(message) {
    return Lab.el("p", {class: "error", text: message});
  },

  loadView(name) {
    if (Lab.views[name]) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const script = Lab.el("script", {src: `/static/views/${name}.js`});
      script.onload = resolve;
      script.onerror = () => reject(new Error(`view: /static/views/${name}.js did not load`));
      document.head.append(script);
    });
  },

  async show(run) {
    const root = document.getElementById("view");
    root.replaceChildren();
    Lab.hideTip();
    document.getElementById("run-about").textContent = `${run.title} · ${run.path}`;
    history.replaceState(null, "", `#run=${encodeURIComponent(run.id)}`);
    try {
      await Lab.loadView(run.view);
      Lab.views[run.view].mount(root, run);
    } catch (err) {
      root.append(Lab.error(err.message));
    }
  },

  async start() {
    const picker = document.getElementById("runs");
    let listing;
    try {
      listing = await Lab.answer(await fetch("/api/runs"));
    } catch (err) {
      document.getElementById("view").append(Lab.error(err.message));
      return;
    }
    Lab.limits = listing.limits;
    for (const run of listing.runs) picker.append(Lab.el("option", {value: run.id, text: `${run.id} (${run.title})`}));
    const wanted = decodeURIComponent((location.hash.match(/run=([^&]+)/) || [])[1] || "");
    const byId = id => listing.runs.find(run => run.id === id);
    picker.value = byId(wanted) ? wanted : listing.runs[0].id;
    picker.addEventListener("change", () => Lab.show(byId(picker.value)));
    Lab.show(byId(picker.value));
  },
};

document.addEventListener("DOMContentLoaded", () => Lab.start());
