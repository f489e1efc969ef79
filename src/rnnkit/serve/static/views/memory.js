"use strict";
// The memory view: how far back the gradient reaches in a memory-task run, trained against untrained.

Lab.views.memory = {
  mount(root, run) {
    const el = Lab.el, about = run.about;
    const curves = el("canvas", {id: "lag-curves", width: 640, height: 320});
    const verdict = el("p", {id: "verdict", class: "muted", text: "measuring the gradient flow…"});
    const map = el("canvas", {id: "memory-map", class: "map", width: 1, height: 1});
    const mapNote = el("p", {class: "muted"});
    root.append(
      el("section", {class: "panel controls"}, el("h2", {text: "Memory task"}),
         el("p", {text: `${about.cell.toUpperCase()}, ${about.layers} layer(s) of ${about.hidden_size}; ` +
                        `task ${about.task}` + (about.lag ? `, lag ${about.lag}` : "") + `; step ${about.step}`}),
         verdict),
      el("section", {}, el("h2", {text: "‖∂L_t/∂h_(t−d)‖ / lag 0, by lag d"}), curves,
         el("h2", {text: "‖∂L_t/∂h_k‖ of the trained model (layer 0)"}), map, mapNote));

    function plot(data) {
      const context = curves.getContext("2d"), width = curves.width, height = curves.height, pad = 44;
      const values = Object.values(data.curves).flat(2).filter(v => v !== null && v > 0);
      const low = Math.floor(Math.log10(Math.min(...values))), high = Math.max(0, Math.ceil(Math.log10(Math.max(...values))));
      const x = d => pad + (width - 2 * pad) * d / Math.max(1, data.lags - 1);
      const y = v => height - pad - (height - 2 * pad) * (Math.log10(v) - low) / Math.max(1, high - low);
      context.clearRect(0, 0, width, height);
      context.strokeStyle = "#d8dde5";
      context.fillStyle = "#66707f";
      context.font = "11px sans-serif";
      for (let e = low; e <= high; e++) {
        context.beginPath(); context.moveTo(pad, y(10 ** e)); context.lineTo(width - pad, y(10 ** e)); context.stroke();
        context.fillText(`1e${e}`, 4, y(10 ** e) + 4);
      }
      context.fillText("lag d →", width - pad - 30, height - 12);
      context.fillText(`${data.lags - 1}`, x(data.lags - 1) - 8, height - pad + 14);
      const colours = ["#1f6feb", "#d62f27", "#21918c", "#9b59b6"];
      for (const [name, layers] of Object.entries(data.curves)) {
        layers.forEach((curve, layer) => {
          context.strokeStyle = colours[layer % colours.length];
          context.setLineDash(name === "trained" ? [] : [5, 4]);
          context.lineWidth = 2;
          context.beginPath();
          curve.forEach((v, d) => { if (v !== null && v > 0) context.lineTo(x(d), y(v)); });
          context.stroke();
          context.setLineDash([]);
          context.fillStyle = context.strokeStyle;
          context.fillText(`layer ${layer} ${name}${name === "trained" ? " (solid)" : " (dashed)"}`,
                           width - pad - 170, pad + 14 * (layer * 2 + (name === "trained" ? 0 : 1)));
        });
      }
    }

    Lab.post(run, "flow").then(data => {
      plot(data);
      verdict.textContent = `trained: ${data.verdicts.trained}; untrained: ${data.verdicts.untrained} ` +
        "(vanishing below 1e-3 at lag 50, exploding above 1e3)";
      const [low, high] = Lab.heatmap(map, data.heatmap.norms, Math.max(2, Math.floor(480 / data.heatmap.norms.length)));
      mapNote.textContent = `rows: the loss at t; columns: the state h_k; log10 from ${low.toFixed(1)} (purple) to ` +
        `${high.toFixed(1)} (yellow)` + (data.heatmap.stride > 1 ? `; every ${data.heatmap.stride}th step` : "");
      curves.dataset.drawn = "yes";
    }).catch(err => { verdict.replaceWith(Lab.error(err.message)); });
  },
};
