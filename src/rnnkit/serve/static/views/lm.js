"use strict";
// The language-model view: writes from a prime, streaming piece by piece; every piece coloured by one
// unit of one gate; hovering a piece shows the next-token probabilities after it; the units picker ranks
// units by how well they track features of the validation text; the gradient map of the text.

Lab.views.lm = {
  mount(root, run) {
    const el = Lab.el, about = run.about;
    const pieces = [];                                   // {piece, value, top, generated}
    const gates = Object.keys(about.layers[0]);
    const selection = {layer: 0, gate: gates.includes("c") ? "c" : "h", unit: 0};     // the cell state, as char-rnn showed it
    let controller = null, streaming = false, stale = false;

    const field = (label, input) => el("label", {}, label, input);
    const prime = el("textarea", {id: "prime", rows: 3, placeholder: "a prime to continue (empty: a new line)"});
    const length = el("input", {id: "length", type: "number", min: 1, max: Lab.limits.max_length, value: 200});
    const temperature = el("input", {id: "temperature", type: "number", min: 0.05, max: 10, step: 0.05, value: 0.8});
    const topK = el("input", {id: "top-k", type: "number", min: 1, max: about.vocab_size, placeholder: "all"});
    const seed = el("input", {id: "seed", type: "number", min: 0, placeholder: "random"});
    const generateButton = el("button", {id: "generate", text: "Generate"});
    const stopButton = el("button", {id: "stop", class: "secondary", text: "Stop", disabled: true});
    const status = el("p", {id: "status", class: "muted", text: `${about.cell.toUpperCase()}, ${about.layers.length} ` +
      `layer(s), ${about.vocab_size} ${about.level}s, step ${about.step}` + (about.corpus ? `, ${about.corpus}` : "")});

    const layerPick = el("select", {id: "layer"});
    about.layers.forEach((_, k) => layerPick.append(el("option", {value: k, text: `layer ${k}`})));
    const gatePick = el("select", {id: "gate"});
    const unitPick = el("input", {id: "unit", type: "number", min: 0, value: 0});
    const legend = el("canvas", {width: 160, height: 12});
    const legendLow = el("span"), legendHigh = el("span");
    const unitsNote = el("p", {id: "units-source", class: "muted"});
    const unitsList = el("ul", {id: "units"});

    const textBox = el("div", {id: "text", class: "text", "data-state": "empty"});
    const gradientLayer = el("select", {id: "gradient-layer"});
    about.layers.forEach((_, k) => gradientLayer.append(el("option", {value: k, text: `layer ${k}`})));
    const gradientButton = el("button", {id: "gradients", class: "secondary", text: "Draw for this text"});
    const live = el("input", {id: "gradient-live", type: "checkbox", checked: true});
    const map = el("canvas", {id: "gradient-map", class: "map", width: 1, height: 1});
    const mapNote = el("p", {id: "gradient-note", class: "muted"});

    root.append(
      el("section", {class: "panel controls"}, el("h2", {text: "Write"}), field("prime", prime),
        el("div", {class: "row"}, field("tokens", length), field("temperature", temperature), field("top-k", topK),
           field("seed", seed)),
        el("div", {class: "row"}, generateButton, stopButton), status,
        el("h2", {text: "Colour by"}),
        el("div", {class: "row"}, field("layer", layerPick), field("gate", gatePick), field("unit", unitPick)),
        el("div", {class: "legend"}, legendLow, legend, legendHigh),
        el("h2", {text: "Units that track the text"}), unitsNote, unitsList),
      el("section", {}, textBox,
        el("section", {class: "panel controls"}, el("h2", {text: "Gradient flow ‖∂L_t/∂h_k‖"}),
          el("div", {class: "row"}, gradientLayer, gradientButton, el("label", {class: "row"}, live, "after each generation")),
          map, mapNote)));

    const range = () => about.layers[selection.layer][selection.gate].range;
    const showLegend = () => {
      Lab.legend(legend, range());
      const [low, high] = range() || [-3, 3];
      legendLow.textContent = String(low);
      legendHigh.textContent = range() ? String(high) : `${high} (tanh)`;
    };
    const fillGates = () => {
      gatePick.replaceChildren(...Object.keys(about.layers[selection.layer]).map(
        name => el("option", {value: name, text: name})));
      if (!(selection.gate in about.layers[selection.layer])) selection.gate = gatePick.options[0].value;
      gatePick.value = selection.gate;
      const width = about.layers[selection.layer][selection.gate].width;
      unitPick.max = width - 1;
      selection.unit = Math.min(selection.unit, width - 1);
      unitPick.value = selection.unit;
    };

    const paint = (span, value) => { span.style.backgroundColor = Lab.colour(value, range()); };
    const append = event => {
      event.pieces.forEach((piece, i) => {
        const span = el("span", {class: event.generated[i] ? "piece" : "piece given", "data-index": pieces.length,
                                 text: piece});
        pieces.push({piece, value: event.values[i], top: event.top[i], generated: event.generated[i]});
        paint(span, event.values[i]);
        textBox.append(span);
      });
    };
    const selectionKey = () => `${selection.layer}/${selection.gate}/${selection.unit}`;

    async function recolour() {
      if (streaming) { stale = true; return; }
      const text = pieces.map(p => p.piece).join("");
      if (!text) { textBox.dataset.coloured = selectionKey(); return; }
      try {
        const data = await Lab.post(run, "read", {text, ...selection});
        if (data.pieces.length !== pieces.length) {           // a word-level text may split otherwise: redraw it
          const generated = pieces.map(p => p.generated);
          pieces.length = 0;
          textBox.replaceChildren();
          append({...data, generated: data.pieces.map((_, i) => generated[i] ?? true)});
        } else {
          data.values.forEach((value, i) => { pieces[i].value = value; paint(textBox.children[i], value); });
        }
        textBox.dataset.coloured = selectionKey();
      } catch (err) {
        textBox.before(Lab.error(err.message));
      }
    }

    async function loadUnits() {
      unitsNote.textContent = "ranking units…";
      unitsList.replaceChildren();
      try {
        const data = await Lab.post(run, "units", {layer: selection.layer, gate: selection.gate});
        unitsNote.textContent = `correlation with features of ${data.source}:`;
        for (const score of data.units) {
          const button = el("button", {"data-unit": score.unit,
                                       text: `unit ${score.unit} · ${score.feature} · r = ${score.r.toFixed(2)}`});
          if (score.unit === selection.unit) button.classList.add("chosen");
          button.addEventListener("click", () => { unitPick.value = score.unit; choose(); });
          unitsList.append(el("li", {}, button));
        }
      } catch (err) {
        unitsNote.textContent = err.message;
      }
    }

    function choose() {
      const before = `${selection.layer}/${selection.gate}`;
      selection.layer = Number(layerPick.value);
      selection.gate = gatePick.value;
      selection.unit = Number(unitPick.value) || 0;
      fillGates();
      showLegend();
      for (const button of unitsList.querySelectorAll("button")) {
        button.classList.toggle("chosen", Number(button.dataset.unit) === selection.unit);
      }
      const moved = `${selection.layer}/${selection.gate}` !== before;
      return Promise.all([recolour(), moved ? loadUnits() : null]);
    }

    async function drawGradients() {
      const text = pieces.map(p => p.piece).join("");
      if (pieces.length < 2) { mapNote.textContent = "write or type at least two pieces first"; return; }
      mapNote.textContent = "measuring…";
      try {
        const data = await Lab.post(run, "gradients", {text, layer: Number(gradientLayer.value)});
        const cell = Math.max(2, Math.min(8, Math.floor(560 / Math.max(1, data.shown))));
        const [low, high] = Lab.heatmap(map, data.norms, cell);
        mapNote.textContent = `rows: the loss L_t of predicting piece t + 1; columns: the state h_k (k ≤ t); colour: ` +
          `log10 ‖∂L_t/∂h_k‖ from ${low.toFixed(1)} (purple) to ${high.toFixed(1)} (yellow); ` +
          (data.shown < data.of ? `the last ${data.shown} of ${data.of} predictions, read from the zero state`
                                : `all ${data.shown} predictions`) + ".";
        map.dataset.rows = data.shown;
      } catch (err) {
        mapNote.textContent = err.message;
      }
    }

    async function generate() {
      controller?.abort();
      controller = new AbortController();
      pieces.length = 0;
      textBox.replaceChildren();
      textBox.dataset.state = "streaming";
      streaming = true;
      stale = false;
      generateButton.disabled = true;
      stopButton.disabled = false;
      status.textContent = "writing…";
      const optional = input => input.value === "" ? null : Number(input.value);
      const body = {prime: prime.value, length: Number(length.value), temperature: Number(temperature.value),
                    top_k: optional(topK), seed: optional(seed), ...selection};
      try {
        await Lab.stream(run, "generate", body, event => {
          if (event.kind === "pieces") append(event);
          else if (event.kind === "done") status.textContent = `${event.pieces} pieces in ${event.seconds} s`;
          else if (event.kind === "error") status.textContent = event.error;
        }, controller.signal);
      } catch (err) {
        status.textContent = err.name === "AbortError" ? `stopped after ${pieces.length} pieces` : err.message;
      }
      streaming = false;
      generateButton.disabled = false;
      stopButton.disabled = true;
      textBox.dataset.state = "done";
      textBox.dataset.coloured = selectionKey();
      if (stale) await recolour();
      if (live.checked) await drawGradients();
    }

    textBox.addEventListener("mouseover", event => {
      const span = event.target.closest(".piece");
      if (!span) return;
      const entry = pieces[Number(span.dataset.index)];
      const rows = entry.top.map(([token, p]) => el("tr", {},
        el("td", {class: "token", text: Lab.visible(token)}),
        el("td", {}, (() => { const bar = el("div", {class: "bar"}); bar.style.width = `${Math.round(p * 120)}px`; return bar; })()),
        el("td", {text: `${(100 * p).toFixed(1)}%`})));
      Lab.showTip(span, el("div", {},
        el("div", {class: "muted", text: `after “${Lab.visible(entry.piece)}”: ${selection.gate}[${selection.unit}] = ${entry.value}`}),
        el("div", {text: "next:"}), el("table", {}, ...rows)));
    });
    textBox.addEventListener("mouseleave", Lab.hideTip);
    generateButton.addEventListener("click", generate);
    stopButton.addEventListener("click", () => controller?.abort());
    layerPick.addEventListener("change", choose);
    gatePick.addEventListener("change", choose);
    unitPick.addEventListener("change", choose);
    gradientButton.addEventListener("click", drawGradients);

    fillGates();
    showLegend();
    loadUnits();
  },
};
