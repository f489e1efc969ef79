"use strict";
// The tagger view: tags as you type; segmentation as words, entities as coloured spans, else token/tag pairs.

Lab.views.tagger = {
  mount(root, run) {
    const el = Lab.el, about = run.about;
    const output = el("div", {id: "tagged", class: "tagged"});
    const hues = {};
    const hue = kind => (hues[kind] ??= (Object.keys(hues).length * 67 + 200) % 360);

    Lab.asYouType(root, run, {action: "tag", title: "Tag as you type", inputId: "tag-text", output,
                              note: `scheme ${about.scheme}, ${about.tags.length} tags, ${about.level} tokens`}, data => {
      output.replaceChildren();
      if (data.words) {
        data.words.forEach(word => output.append(el("span", {class: "word", text: word}), " "));
      } else if (data.entities) {
        let next = 0;
        for (const [start, end, kind] of data.entities) {
          const span = el("span", {class: "entity", "data-type": kind, text: data.tokens.slice(start, end).join(data.joiner)},
                          el("sub", {text: kind}));
          span.style.backgroundColor = `hsl(${hue(kind)}, 70%, 85%)`;
          output.append(data.tokens.slice(next, start).join(data.joiner), data.joiner, span, data.joiner);
          next = end;
        }
        output.append(data.tokens.slice(next).join(data.joiner));
      } else {
        data.tokens.forEach((token, i) => output.append(el("span", {class: "word", text: `${token}/${data.tags[i]}`}), " "));
      }
      output.dataset.tokens = data.tokens.length;
    });
  },
};
