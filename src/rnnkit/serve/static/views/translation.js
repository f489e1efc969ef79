"use strict";
// The translation view: a sentence, its translation, and the decoder's attention over the source.

Lab.views.translation = {
  mount(root, run) {
    const el = Lab.el, about = run.about;
    const sentence = el("input", {id: "sentence", type: "text", placeholder: "a sentence to translate"});
    const beam = el("input", {id: "beam", type: "number", min: 1, max: 8, value: 1});
    const button = el("button", {id: "translate", text: "Translate"});
    const output = el("p", {id: "translation", class: "text"});
    const matrix = el("div", {id: "attention"});
    const note = el("p", {class: "muted", text: `${about.cell.toUpperCase()} encoder–decoder, attention ` +
      `${about.attention}; source in ${about.source_level}s, target in ${about.target_level}s`});
    root.append(
      el("section", {class: "panel controls"}, el("h2", {text: "Translate"}), sentence,
         el("label", {}, "beam", beam), button, note),
      el("section", {}, output, el("h2", {text: "Attention: the weight on each source token as each output token was written"}),
         matrix));

    async function translate() {
      matrix.replaceChildren();
      try {
        const data = await Lab.post(run, "align", {sentence: sentence.value, beam: Number(beam.value)});
        output.textContent = data.translation;
        if (!data.weights) { matrix.append(el("p", {class: "muted", text: "the model has no attention"})); return; }
        const head = el("tr", {}, el("th"), ...data.source.map(token => el("th", {text: Lab.visible(token)})));
        const rows = data.target.map((token, i) => el("tr", {}, el("th", {text: Lab.visible(token)}),
          ...data.weights[i].map(w => {
            const cell = el("td", {title: w.toFixed(3)});
            cell.style.backgroundColor = Lab.viridis(w);
            return cell;
          })));
        matrix.append(el("table", {class: "attention"}, el("thead", {}, head), el("tbody", {}, ...rows)));
      } catch (err) {
        output.textContent = "";
        matrix.append(Lab.error(err.message));
      }
    }

    button.addEventListener("click", translate);
    sentence.addEventListener("keydown", event => { if (event.key === "Enter") translate(); });
  },
};
