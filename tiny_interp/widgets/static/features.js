/* tiny-interp feature views: a dictionary feature's page and offline reports of many features.
   Its own bundle beside views.js (whose CSS classes it uses); data is placed with textContent only. */
(function () {
  "use strict";
  var g = typeof window !== "undefined" ? window : globalThis;
  if (g.tinyInterpFeatures) return;
  /* the shared helpers (common.js) load first: in the views bundle on a page, prepended in the live widget */
  var lib = g.tinyInterpLib, el = lib.h, empty = lib.clear, show = lib.shown, num = lib.fmt;
  function warm(a) { return lib.heat(a / 255, 25); }
  function select(hooks, b, f) { if (hooks && hooks.onSelect) hooks.onSelect({ block: b, feature: f }); }

  function bars(hist) {
    var W = 280, H = 70, c = hist.counts.slice(1, -1), m = 1;
    c.forEach(function (v, i) { if (i > 0 && v > m) m = v; });  /* the zero bin dwarfs the rest: scale to the others */
    var svg = lib.svgEl("svg", { width: W, height: H + 14, "class": "ti-hist" }), bw = W / c.length;
    c.forEach(function (v, i) {
      var bh = Math.min(H, v / m * H);
      var r = lib.svgEl("rect", { x: (i * bw).toFixed(1), y: (H - bh).toFixed(1), width: Math.max(1, bw - 0.5).toFixed(1),
        height: bh.toFixed(1), fill: "#ea580c" });
      r.appendChild(lib.svgEl("title", {}, String(v)));
      svg.appendChild(r);
    });
    svg.appendChild(lib.svgEl("text", { y: H + 12, "font-size": "10", fill: "#667085" },
      num(hist.lo, 2) + " \u2026 " + num(hist.hi, 2)));
    return svg;
  }

  function snippet(tokens, acts, centre, amax, onToken) {
    var line = el("div", "ti-snip");
    tokens.forEach(function (t, i) {
      var s = el("span", "ti-tok", show(t));
      s.style.background = warm(acts[i]);
      if (i === centre) s.style.fontWeight = "700";
      s.title = "activation " + num(acts[i] / 255 * amax, 2);
      s.addEventListener("click", function () { onToken(t, i); });
      line.appendChild(s);
    });
    return line;
  }

  function table(rows, cls) {
    var tb = el("table", "ti-table ti-feat-logits");
    rows.forEach(function (r) {
      var tr = el("tr", cls); tr.appendChild(el("td", null, show(r[0]))); tr.appendChild(el("td", null, num(r[1], 2)));
      tb.appendChild(tr);
    });
    return tb;
  }

  /* quantile examples: a few random windows from each activation band below the maximum, strongest band first
     (windows already among the top examples are left out, so a band can be empty) */
  function quantileView(d, onToken) {
    var box = el("div", "ti-col ti-feat-quant");
    box.appendChild(el("div", "ti-head", "Quantile examples"));
    if (!d.quantiles) {
      box.appendChild(el("div", "ti-muted", "this atlas has no quantile examples (built before them): rebuild it to see them"));
      return box;
    }
    if (!d.quantiles.length) box.appendChild(el("div", "ti-muted", "never fired above 0 on the atlas stories"));
    d.quantiles.slice().reverse().forEach(function (b) {
      var band = el("div", "ti-feat-band");
      band.appendChild(el("div", "ti-feat-range", num(b.lo, 2) + " \u2013 " + num(b.hi, 2)));
      b.examples.forEach(function (e) {
        var line = snippet(e.tokens, e.acts, e.centre, d.amax, onToken);
        line.insertBefore(el("span", "ti-muted", num(e.act, 2) + "  "), line.firstChild);
        band.appendChild(line);
      });
      if (!b.examples.length) band.appendChild(el("div", "ti-muted", "no other examples in this range"));
      box.appendChild(band);
    });
    return box;
  }

  function featureView(root, d, hooks) {
    root.appendChild(el("div", "ti-head", "Feature " + d.block + "/" + d.feature + " \u2014 " + d.name +
      " (" + d.n_features + " features)"));
    var ex = el("div", "ti-feat-expl" + (d.explanation ? "" : " ti-empty"), d.explanation || "no explanation yet");
    root.appendChild(ex);
    var s = d.stats || {};
    root.appendChild(el("div", "ti-muted", "density " + num(100 * (s.frac_active || 0), 3) + "% of tokens \u00b7 max " +
      num(s.max, 2) + " \u00b7 mean " + num(s.mean, 4)));
    var row = el("div", "ti-row"), left = el("div", "ti-col ti-grow"), right = el("div", "ti-col");
    var forTok = el("div", "ti-col");
    function tokenFeatures(t) {
      empty(forTok);
      forTok.appendChild(el("div", "ti-head", "Features for \u201c" + show(t) + "\u201d"));
      var list = (d.token_features || {})[t];
      if (!list) { forTok.appendChild(el("div", "ti-muted", "not in this page's data")); return; }
      list.forEach(function (r) {
        var b = el("button", "ti-btn ti-feat-pick", r[0] + "/" + r[1] + " z=" + num(r[2], 1));
        b.addEventListener("click", function () { select(hooks, r[0], r[1]); });
        forTok.appendChild(b);
      });
    }
    left.appendChild(el("div", "ti-head", "Top examples"));
    d.examples.forEach(function (e) {
      var line = snippet(e.tokens, e.acts, e.centre, d.amax, tokenFeatures);
      line.insertBefore(el("span", "ti-muted", num(e.act, 2) + "  "), line.firstChild);
      left.appendChild(line);
    });
    if (!d.examples.length) left.appendChild(el("div", "ti-muted", "never fired on the atlas stories"));
    left.appendChild(quantileView(d, tokenFeatures));
    if (d.live) left.appendChild(liveView(d, hooks));
    right.appendChild(el("div", "ti-head", "Activation histogram"));
    if (d.hist) right.appendChild(bars(d.hist));
    right.appendChild(el("div", "ti-head", "Promotes"));
    right.appendChild(table(d.logits_pos || [], "ti-feat-pos"));
    right.appendChild(el("div", "ti-head", "Suppresses"));
    right.appendChild(table(d.logits_neg || [], "ti-feat-neg"));
    right.appendChild(el("div", "ti-head", "Tokens with the highest mean activation"));
    right.appendChild(table(d.top_tokens || [], null));
    right.appendChild(forTok);
    row.appendChild(left); row.appendChild(right); root.appendChild(row);
    if (d.steer) root.appendChild(steerView(d.steer));
    if (d.examples.length) tokenFeatures(d.examples[0].tokens[d.examples[0].centre]);
    return {};
  }

  function liveView(d, hooks) {
    var L = d.live, box = el("div", "ti-col"), here = el("div", "ti-col");
    box.appendChild(el("div", "ti-head", "On your text (max " + num(L.amax, 2) + ") \u2014 click a token"));
    box.appendChild(snippet(L.tokens, L.acts, -1, L.amax, function (t, i) {
      empty(here);
      here.appendChild(el("div", "ti-head", "Top features at \u201c" + show(t) + "\u201d"));
      (L.top[i] || []).forEach(function (r) {
        var b = el("button", "ti-btn ti-feat-pick", r[0] + "/" + r[1] + " = " + num(r[2], 2));
        b.addEventListener("click", function () { select(hooks, r[0], r[1]); });
        here.appendChild(b);
      });
    }));
    box.appendChild(here);
    return box;
  }

  function steerView(S) {
    var box = el("div", "ti-col");
    box.appendChild(el("div", "ti-head", "Steering (" + S.mode + " " + num(S.value, 2) + ") from \u201c" + S.prompt + "\u201d"));
    var two = el("div", "ti-feat-steer"), a = el("div"), b = el("div");
    a.appendChild(el("div", "ti-muted", "unsteered")); a.appendChild(el("div", null, S.prompt + S.unsteered));
    b.appendChild(el("div", "ti-muted", "steered")); b.appendChild(el("div", null, S.prompt + S.steered));
    two.appendChild(a); two.appendChild(b); box.appendChild(two);
    return box;
  }

  function reportView(root, d) {
    root.appendChild(el("div", "ti-head", d.title + " \u2014 " + d.features.length + " features"));
    var picks = el("div"), page = el("div");
    root.appendChild(picks); root.appendChild(page);
    var buttons = d.features.map(function (f, i) {
      var b = el("button", "ti-btn ti-feat-pick", f.block + "/" + f.feature);
      b.title = f.explanation || "";
      b.addEventListener("click", function () { open(i); });
      picks.appendChild(b);
      return b;
    });
    var byKey = {};
    d.features.forEach(function (f, i) { byKey[f.block + "/" + f.feature] = i; });
    function open(i) {
      buttons.forEach(function (b, j) { b.classList.toggle("ti-on", j === i); });
      empty(page);
      featureView(page, d.features[i], { onSelect: function (s) {
        var j = byKey[s.block + "/" + s.feature];
        if (j !== undefined) open(j);
      } });
    }
    if (d.features.length) open(0);
    return { open: open };
  }

  /* a neuron: the shared views bundle draws its page, the quantile examples go below it */
  function neuronView(host, data, hooks) {
    var drawn = g.tinyInterpViews.render(host, data, hooks), root = host.querySelector(".ti-root");
    if (root && data.quantiles !== undefined) root.appendChild(quantileView(data, function () {}));
    return drawn;
  }

  function render(host, data, hooks) {
    if (data.kind === "neuron") return neuronView(host, data, hooks || {});
    empty(host);
    var root = el("div", "ti-root");
    host.appendChild(root);
    try {
      if (data.kind === "feature") return featureView(root, data, hooks || {});
      if (data.kind === "feature_report") return reportView(root, data);
      root.appendChild(el("div", "ti-note", "unknown view kind"));
    } catch (e) { empty(root); root.appendChild(el("div", "ti-note", "view failed: " + e)); }
    return {};
  }

  function mount(id) {
    var host = document.getElementById(id), src = document.getElementById(id + "-data");
    if (!host || !src || host.getAttribute("data-ti-mounted")) return;
    host.setAttribute("data-ti-mounted", "1");
    render(host, JSON.parse(src.textContent));
  }

  g.tinyInterpFeatures = { render: render, mount: mount, version: 1 };
})();
