/* tiny-interp neuron view: top examples, histogram, explanations, search by explanation.
   Data is only ever placed with textContent / canvas / SVG attributes, never parsed as HTML. */
(function () {
  "use strict";
  var g = typeof window !== "undefined" ? window : globalThis, L = g.tinyInterpLib;
  if (L.kinds.neuron) return;
  var SVG = L.SVG, h = L.h, clear = L.clear, shown = L.shown, fmt = L.fmt, heat = L.heat;

  function histogram(hist) {
    var W = 300, Hh = 90, counts = hist.counts, n = counts.length;
    var svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("width", W); svg.setAttribute("height", Hh + 16); svg.setAttribute("class", "ti-hist");
    var m = Math.max.apply(null, counts.concat([1])), bw = W / n;
    counts.forEach(function (c, i) {
      var r = document.createElementNS(SVG, "rect"), bh = Math.max(c ? 1 : 0, c / m * Hh);
      r.setAttribute("x", (i * bw).toFixed(2)); r.setAttribute("y", (Hh - bh).toFixed(2));
      r.setAttribute("width", Math.max(1, bw - 0.5).toFixed(2)); r.setAttribute("height", bh.toFixed(2));
      r.setAttribute("fill", i === 0 || i === n - 1 ? "#98a2b3" : "#2563eb");
      var t = document.createElementNS(SVG, "title");
      t.textContent = (i === 0 ? "below range" : i === n - 1 ? "above range" :
        fmt(hist.lo + (i - 1) * (hist.hi - hist.lo) / (n - 2), 2) + " .. " + fmt(hist.lo + i * (hist.hi - hist.lo) / (n - 2), 2)) + ": " + c;
      r.appendChild(t); svg.appendChild(r);
    });
    [[0, fmt(hist.lo, 2)], [W - 40, fmt(hist.hi, 2)]].forEach(function (a) {
      var tx = document.createElementNS(SVG, "text");
      tx.setAttribute("x", a[0]); tx.setAttribute("y", Hh + 13); tx.setAttribute("font-size", "10"); tx.setAttribute("fill", "#667085");
      tx.textContent = a[1]; svg.appendChild(tx);
    });
    return svg;
  }

  /* auto-interpretation: a neuron's explanations, and a search over every explained neuron (the same rule as
     autointerp.store.search: every word of the query in the explanation). Explanation text is LLM output: only
     ever placed with textContent. */
  function scoreLine(r) {
    var parts = [];
    [["detection", "detection"], ["fuzzing", "fuzzing"], ["simulation", "simulation r"]].forEach(function (m) {
      if (r[m[0]] !== null && r[m[0]] !== undefined) parts.push(m[1] + " " + fmt(r[m[0]], 2));
    });
    return (parts.length ? parts.join(" \u00b7 ") : "not scored") + " \u2014 " + r.explainer + " / " + r.scorer +
      ", " + String(r.date || "").slice(0, 10);
  }
  function explanationList(recs) {
    var box = h("div", "ti-col ti-expl");
    box.appendChild(h("div", "ti-head", "Explanations"));
    if (!recs || !recs.length) box.appendChild(h("div", "ti-muted", "none yet (tiny-interp autointerp MODEL ...)"));
    (recs || []).forEach(function (r) {
      var item = h("div", "ti-expl-item");
      item.appendChild(h("span", "ti-expl-text", r.explanation));
      item.appendChild(h("span", "ti-muted", "  " + scoreLine(r)));
      box.appendChild(item);
    });
    return box;
  }
  function words(q) { return (String(q).toLowerCase().match(/[\p{L}\p{N}_]+/gu) || []); }
  function neuronSearch(data, hooks, shown) {
    var box = h("div", "ti-col ti-nsearch-box"), index = data.explained || [];
    box.appendChild(h("div", "ti-head", "Find neurons by explanation"));
    var input = h("input", "ti-nsearch");
    input.type = "search"; input.style.width = "260px"; input.placeholder = index.length ? "e.g. animals" : "no explained neurons yet";
    input.value = ((hooks && hooks.initial) || {}).query || "";
    var count = h("div", "ti-muted ti-nsearch-count"), hits = h("div", "ti-col ti-nhits");
    box.appendChild(input); box.appendChild(count); box.appendChild(hits);
    function run() {
      clear(hits);
      var ws = words(input.value);
      if (!ws.length) { count.textContent = index.length + " explained neurons"; return; }
      var found = index.filter(function (r) {
        var t = String(r.explanation).toLowerCase();
        return ws.every(function (w) { return t.indexOf(w) >= 0; });
      });
      count.textContent = found.length + " of " + index.length + " explanations match";
      found.slice(0, 50).forEach(function (r) {
        var b = h("button", "ti-btn ti-nhit");
        b.appendChild(h("b", null, "L" + r.layer + "N" + r.neuron + "  "));
        b.appendChild(h("span", null, r.explanation));
        b.title = scoreLine(r); b.style.display = "block"; b.style.textAlign = "left";
        b.addEventListener("click", function () {
          if (hooks && hooks.onSelect) hooks.onSelect({ layer: r.layer, neuron: r.neuron, query: input.value });
          else shown(r.layer, r.neuron, index.filter(function (x) { return x.layer === r.layer && x.neuron === r.neuron; }));
        });
        hits.appendChild(b);
      });
    }
    input.addEventListener("input", run);
    run();
    return box;
  }

  function neuronView(root, data, hooks) {
    root.appendChild(h("div", "ti-head", "Neuron L" + data.layer + "N" + data.neuron + " (" + data.n_layers + " layers \u00d7 " + data.d_mlp + " neurons)"));
    if (data.note) root.appendChild(h("div", "ti-note", data.note));
    var s = data.stats || {};
    root.appendChild(h("div", "ti-muted", "mean " + fmt(s.mean) + " \u00b7 std " + fmt(s.std) + " \u00b7 max " + fmt(s.max) +
      " \u00b7 min " + fmt(s.min) + " \u00b7 fires on " + fmt(100 * (s.frac_active || 0), 1) + "% of tokens"));
    var row = h("div", "ti-row"), left = h("div", "ti-col ti-grow"), right = h("div", "ti-col");
    left.appendChild(h("div", "ti-head", "Top examples"));
    var forTok = h("div", "ti-col");
    data.examples.forEach(function (ex) {
      var line = h("div", "ti-snip");
      line.appendChild(h("span", "ti-muted", fmt(ex.act, 2) + "  "));
      ex.tokens.forEach(function (t, i) {
        var sp = h("span", "ti-tok", shown(t)), a = ex.acts[i];
        sp.style.background = heat(a / 255, 25);
        if (i === ex.centre) sp.style.fontWeight = "700";
        sp.title = "activation " + fmt(a / 255 * data.amax, 2) + " \u2014 click: neurons for this token";
        sp.addEventListener("click", function () { tokenNeurons(t); });
        line.appendChild(sp);
      });
      left.appendChild(line);
    });
    if (!data.examples.length) left.appendChild(h("div", "ti-muted", "no examples recorded"));
    right.appendChild(h("div", "ti-head", "Activation histogram"));
    if (data.hist) right.appendChild(histogram(data.hist));
    right.appendChild(h("div", "ti-head", "Tokens with the highest mean activation"));
    var tb = h("table", "ti-table");
    (data.top_tokens || []).forEach(function (r) {
      var tr = h("tr"); tr.appendChild(h("td", null, shown(r[0]))); tr.appendChild(h("td", null, fmt(r[1], 3))); tb.appendChild(tr);
    });
    right.appendChild(tb);
    right.appendChild(forTok);
    row.appendChild(left); row.appendChild(right);
    var expl = h("div", "ti-col"), chosen = h("div", "ti-col");
    expl.appendChild(explanationList(data.explanations));
    /* an exported page holds one neuron's examples: a chosen neuron shows its explanations, the rest needs a kernel */
    function showChosen(layer, neuron, recs) {
      clear(chosen);
      chosen.appendChild(h("div", "ti-note", "L" + layer + "N" + neuron + ": open it in a live NeuronExplorer for its examples"));
      chosen.appendChild(explanationList(recs));
    }
    var ai = h("div", "ti-row");
    ai.appendChild(expl); ai.appendChild(neuronSearch(data, hooks, showChosen)); ai.appendChild(chosen);
    root.appendChild(ai); root.appendChild(row);

    function tokenNeurons(t) {
      clear(forTok);
      forTok.appendChild(h("div", "ti-head", "Neurons for the token \u201c" + shown(t) + "\u201d"));
      var list = (data.token_neurons || {})[t];
      if (!list) { forTok.appendChild(h("div", "ti-muted", "not in this view's data")); return; }
      var box = h("div");
      list.forEach(function (r) {
        var b = h("button", "ti-btn", "L" + r[0] + "N" + r[1] + "  z=" + fmt(r[2], 1));
        b.addEventListener("click", function () {
          if (hooks && hooks.onSelect) hooks.onSelect({ layer: r[0], neuron: r[1] });
        });
        box.appendChild(b);
      });
      forTok.appendChild(box);
    }
    var first = data.examples[0];
    if (data.focus) tokenNeurons(data.focus);
    else if (first) tokenNeurons(first.tokens[first.centre]);
    return {};
  }

  L.kinds.neuron = neuronView;
})();
