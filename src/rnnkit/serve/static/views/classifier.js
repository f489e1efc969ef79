"use strict";
// The classifier view: the class probabilities of the text as you type.

Lab.views.classifier = {
  mount(root, run) {
    const el = Lab.el, about = run.about;
    const bars = el("div", {id: "classes", class: "classes"});
    Lab.asYouType(root, run, {action: "classify", title: "Classify as you type", inputId: "classify-text", output: bars,
                              note: `labels ${about.labels.join(", ")}; reads the first ${about.max_len} ${about.level}s`},
      data => bars.replaceChildren(...data.labels.map((label, k) => {
        const percent = `${(100 * data.probabilities[k]).toFixed(1)}%`;
        const fill = el("div", {class: "fill"});
        fill.style.width = percent;
        return el("div", {class: "class-bar", "data-label": label}, el("span", {text: label}),
                  el("div", {class: "track"}, fill), el("span", {text: percent}));
      })));
  },
};
