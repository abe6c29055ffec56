/* tiny-interp "why" panel: why a head attends from a query to a key, words first (one sentence), then the biggest
   pairs of a query-side and a key-side part, and each side's largest parts. Shared by the attention view and the
   graph view. Data is only ever placed with textContent, never parsed as HTML. */
(function () {
  "use strict";
  var g = typeof window !== "undefined" ? window : globalThis;
  if (g.tinyInterpQK) return;
  var lib = g.tinyInterpLib, h = lib.h, fmt = lib.fmt, signed = lib.signed;

  function bar(v, max) {
    var b = h("span", "ti-qkbar");
    b.style.width = Math.round(60 * Math.min(1, Math.abs(v) / (max || 1))) + "px";
    b.style.background = signed(v, max);
    b.style.display = "inline-block"; b.style.height = "9px"; b.style.flex = "0 0 auto";
    return b;
  }
  function maxAbs(rows, col) {
    var m = 1e-9;
    rows.forEach(function (r) { m = Math.max(m, Math.abs(r[col])); });
    return m;
  }
  /* rows: [label, value, link?]; link: {kind, layer, index} a click can open (feature or neuron page) */
  function list(box, title, rows, onLink) {
    var hd = h("div", "ti-qkh", title);
    hd.style.fontWeight = "600"; hd.style.margin = "6px 0 2px";
    box.appendChild(hd);
    var m = maxAbs(rows, 1), t = h("div", "ti-qklist");
    rows.forEach(function (r) {
      var line = h("div", "ti-qkrow");
      line.style.display = "flex"; line.style.gap = "6px"; line.style.alignItems = "center";
      line.appendChild(bar(r[1], m));
      var val = h("span", "ti-qkval", (r[1] >= 0 ? "+" : "") + fmt(r[1], 3));
      val.style.minWidth = "52px"; val.style.textAlign = "right"; val.style.fontVariantNumeric = "tabular-nums";
      line.appendChild(val);
      var lab = h("span", "ti-qklab", r[0]);
      if (r[2] && onLink) {
        lab.classList.add("ti-link");
        lab.style.cursor = "pointer"; lab.style.textDecoration = "underline dotted";
        lab.title = "open this " + r[2].kind;
        lab.addEventListener("click", function () { onLink(r[2]); });
      }
      line.appendChild(lab);
      t.appendChild(line);
    });
    box.appendChild(t);
  }
  function panel(box, d, onLink) {
    var p = h("div", "ti-qk");
    p.appendChild(h("div", "ti-head", "Why " + d.head + " attends here"));
    p.appendChild(h("div", "ti-qkwords", d.headline));
    var pairs = (d.pairs || []).map(function (r) { return [r[0] + "  \u00d7  " + r[1], r[2]]; });
    list(p, "Biggest pairs (query part \u00d7 key part)", pairs, null);
    p.appendChild(h("div", "ti-muted", "all other pairs: " + fmt(d.rest, 3) + " \u00b7 the model's score: " + fmt(d.score, 3)));
    list(p, "What the query looks for (query side)", d.query_side || [], onLink);
    list(p, "What the key offers (key side)", d.key_side || [], onLink);
    if (d.contrast) {
      p.appendChild(h("div", "ti-qkwords", d.contrast.words));
      list(p, "What makes this key win over the others", d.contrast.key || [], onLink);
    }
    box.appendChild(p);
    return p;
  }
  g.tinyInterpQK = { panel: panel, version: 1 };
})();
