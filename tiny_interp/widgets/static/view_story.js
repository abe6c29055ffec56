/* tiny-interp story inspector view: logit lens, attributions, neurons and features at a clicked token.
   Data is only ever placed with textContent / canvas / SVG attributes, never parsed as HTML. */
(function () {
  "use strict";
  var g = typeof window !== "undefined" ? window : globalThis, L = g.tinyInterpLib;
  if (L.kinds.story) return;
  var h = L.h, clear = L.clear, shown = L.shown, fmt = L.fmt, heat = L.heat, signed = L.signed,
    tokenStrip = L.tokenStrip;

  /* the top features of each dictionary at one position: activation, then the atlas's explanation or the tokens
     the feature's decoder promotes (LLM and token text: textContent only) */
  function featuresHere(F, i, hooks) {
    var box = h("div", "ti-col ti-features");
    box.appendChild(h("div", "ti-head", "Top features here"));
    box.appendChild(h("div", "ti-muted", hooks && hooks.live ? "click one to open it in a FeatureExplorer" :
      "in a notebook, click one to open it in a FeatureExplorer"));
    var row = h("div", "ti-row");
    (F.top[i] || []).forEach(function (list, di) {
      var col = h("div", "ti-col ti-fdict"), tb = h("table", "ti-table ti-ftable");
      col.appendChild(h("div", "ti-muted ti-fname", F.dictionaries[di].name));
      var m = Math.max.apply(null, list.map(function (r) { return r[1]; }).concat([1e-9]));
      list.forEach(function (r) {
        var info = F.info[di + ":" + r[0]] || {}, tr = h("tr", "ti-feature"), act = h("td", "ti-fact", fmt(r[1], 2));
        act.style.background = heat(r[1] / m * 0.6, 25);
        tr.appendChild(h("td", null, "F" + r[0])); tr.appendChild(act);
        tr.appendChild(h("td", "ti-fdesc", info.explanation ||
          (info.promotes ? "promotes " + info.promotes.map(function (t) { return "\u201c" + shown(t) + "\u201d"; }).join(" ") : "")));
        tr.title = F.dictionaries[di].name + " feature " + r[0] + ": activation " + fmt(r[1], 3);
        tr.addEventListener("click", function () {
          if (hooks && hooks.onSelect) hooks.onSelect({ position: i, dictionary: di, feature: r[0] });
        });
        tb.appendChild(tr);
      });
      col.appendChild(list.length ? tb : h("div", "ti-muted", "no feature active"));
      row.appendChild(col);
    });
    box.appendChild(row);
    return box;
  }

  function storyView(root, data, hooks) {
    var S = data.strings, T = data.tokens.length, cur = null;
    root.appendChild(h("div", "ti-head", "Story inspector \u2014 click a token"));
    if (data.note) root.appendChild(h("div", "ti-note", data.note));
    var strip = tokenStrip(data.tokens, null, function (i) { pick(i); });
    var panel = h("div", "ti-col");
    root.appendChild(strip.el); root.appendChild(panel);
    function pick(i) {
      cur = i;
      strip.spans.forEach(function (s, j) { s.classList.toggle("ti-pin", j === i); });
      clear(panel);
      var P = data.positions[i];
      if (!P) return;
      var head = "After \u201c" + shown(data.tokens[i]) + "\u201d (position " + i + ") the model predicts \u201c" + shown(S[P.pred]) + "\u201d (" + fmt(P.pred_p, 2) + ")";
      if (P.next !== null && P.next !== undefined) head += "; the story continues with \u201c" + shown(S[P.next]) + "\u201d (" + fmt(P.next_p, 3) + ")";
      panel.appendChild(h("div", "ti-head", head));
      var row = h("div", "ti-row");
      var lens = h("div", "ti-col");
      lens.appendChild(h("div", "ti-head", "Logit lens"));
      var tb = h("table", "ti-table"), hr = h("tr");
      ["stage", "1st", "2nd", "3rd"].forEach(function (c) { hr.appendChild(h("th", null, c)); });
      tb.appendChild(hr);
      P.lens.forEach(function (r, si) {
        var tr = h("tr");
        tr.appendChild(h("td", null, data.stages[si]));
        r.forEach(function (e) {
          var td = h("td", null, shown(S[e[0]]) + " " + fmt(e[1], 2));
          td.style.background = heat(e[1], 215);
          tr.appendChild(td);
        });
        tb.appendChild(tr);
      });
      lens.appendChild(tb);
      var attr = h("div", "ti-col");
      attr.appendChild(h("div", "ti-head", "Direct attribution to \u201c" + shown(S[P.pred]) + "\u201d"));
      var m = Math.max.apply(null, P.attr.map(function (a) { return Math.abs(a[1]); }).concat([1e-9]));
      P.attr.forEach(function (a) {
        var b = h("div", "ti-bar"), f = h("div", "ti-fill");
        b.appendChild(h("span", "ti-lab", a[0]));
        f.style.width = Math.round(Math.abs(a[1]) / m * 120) + "px"; f.style.background = signed(a[1], m);
        b.appendChild(f); b.appendChild(h("span", "ti-muted", fmt(a[1], 2)));
        attr.appendChild(b);
      });
      var neu = h("div", "ti-col");
      neu.appendChild(h("div", "ti-head", "Top neurons here"));
      neu.appendChild(h("div", "ti-muted", hooks && hooks.live ? "click one to open it in a NeuronExplorer" : "in a notebook, click one to open it in a NeuronExplorer"));
      var nt = h("table", "ti-table");
      P.neurons.forEach(function (r) {
        var tr = h("tr"); tr.appendChild(h("td", null, "L" + r[0] + "N" + r[1])); tr.appendChild(h("td", null, fmt(r[2], 2)));
        tr.style.cursor = "pointer"; tr.className = "ti-neuron"; tr.title = "open L" + r[0] + "N" + r[1] + " in a NeuronExplorer";
        tr.addEventListener("click", function () { if (hooks && hooks.onSelect) hooks.onSelect({ position: i, layer: r[0], neuron: r[1] }); });
        nt.appendChild(tr);
      });
      neu.appendChild(nt);
      row.appendChild(lens); row.appendChild(attr); row.appendChild(neu);
      panel.appendChild(row);
      if (data.features) panel.appendChild(featuresHere(data.features, i, hooks));
      if (hooks && hooks.onSelect) hooks.onSelect({ position: i });
    }
    pick(Math.min(T - 1, data.position === undefined ? T - 1 : data.position));
    return { pick: pick };
  }

  L.kinds.story = storyView;
})();
