"use strict";
// The classifier view: the class probabilities of the text as you type.

Lab.views.classifier = {
  mount(root, run) {
    const el = Lab.el, about = run.about;
    const input = el("textarea", {id: "classify-text", rows: 4, placeholder: "type a text"});
    const bars = el("div", {id: "classes", class: "classes"});
    root.append(
      el("section", {class: "panel controls"}, el("h2", {text: "Classify as you type"}), input,
         el("p", {class: "muted", text: `labels ${about.labels.join(", ")}; reads the first ${about.max_len} ${about.level}s`})),
      el("section", {}, bars));

    const classify = Lab.debounce(async () => {
      try {
        const data = await Lab.post(run, "classify", {text: input.value});
        bars.replaceChildren(...data.labels.map((label, k) => {
          const fill = el("div", {class: "fill"});
          fill.style.width = `${(100 * data.probabilities[k]).toFixed(1)}%`;
          return el("div", {class: "class-bar", "data-label": label}, el("span", {text: label}),
                    el("div", {class: "track"}, fill), el("span", {text: `${(100 * data.probabilities[k]).toFixed(1)}%`}));
        }));
      } catch (err) {
        bars.replaceChildren(Lab.error(err.message));
      }
    }, 150);
    input.addEventListener("input", classify);
  },
};
