/* tiny-interp scatter view: labelled points in coloured groups.
   Data is only ever placed with textContent / canvas / SVG attributes, never parsed as HTML. */
(function () {
  "use strict";
  var g = typeof window !== "undefined" ? window : globalThis, L = g.tinyInterpLib;
  if (L.kinds.scatter) return;
  var h = L.h, CATS = L.CATS, svgEl = L.svgEl;

  function ticks(lo, hi) {
    var span = hi - lo || 1, step = Math.pow(10, Math.floor(Math.log10(span / 4)));
    if (span / step > 8) step *= 2;
    if (span / step > 8) step *= 2.5;
    var out = [];
    for (var v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) out.push(+v.toFixed(6));
    return out;
  }
  function scatterView(root, data) {
    var W = 560, Hh = 360, m = { l: 56, r: 16, t: 10, b: 44 }, P = data.points;
    if (data.title) root.appendChild(h("div", "ti-head", data.title));
    var xs = P.map(function (p) { return p.x; }), ys = P.map(function (p) { return p.y; });
    function range(v) { var lo = Math.min.apply(null, v.concat([0])), hi = Math.max.apply(null, v.concat([1e-6])); var pad = (hi - lo) * 0.06 || 0.1; return [lo - pad, hi + pad]; }
    var rx = range(xs), ry = range(ys);
    function X(v) { return m.l + (v - rx[0]) / (rx[1] - rx[0]) * (W - m.l - m.r); }
    function Y(v) { return Hh - m.b - (v - ry[0]) / (ry[1] - ry[0]) * (Hh - m.t - m.b); }
    var svg = svgEl("svg", { width: W, height: Hh, "class": "ti-scatter" });
    ticks(rx[0], rx[1]).forEach(function (v) {
      svg.appendChild(svgEl("line", { x1: X(v), x2: X(v), y1: m.t, y2: Hh - m.b, stroke: "#eef0f3" }));
      svg.appendChild(svgEl("text", { x: X(v), y: Hh - m.b + 14, "text-anchor": "middle", "font-size": 10, fill: "#667085" }, String(v)));
    });
    ticks(ry[0], ry[1]).forEach(function (v) {
      svg.appendChild(svgEl("line", { x1: m.l, x2: W - m.r, y1: Y(v), y2: Y(v), stroke: "#eef0f3" }));
      svg.appendChild(svgEl("text", { x: m.l - 6, y: Y(v) + 3, "text-anchor": "end", "font-size": 10, fill: "#667085" }, String(v)));
    });
    svg.appendChild(svgEl("text", { x: (m.l + W - m.r) / 2, y: Hh - 8, "text-anchor": "middle", "font-size": 12, fill: "#1d2330" }, data.x_title || ""));
    svg.appendChild(svgEl("text", { x: 14, y: (m.t + Hh - m.b) / 2, "text-anchor": "middle", "font-size": 12, fill: "#1d2330",
      transform: "rotate(-90 14 " + ((m.t + Hh - m.b) / 2) + ")" }, data.y_title || ""));
    var groups = [], colour = {};
    P.forEach(function (p) { if (groups.indexOf(p.group) < 0) groups.push(p.group); });
    groups.forEach(function (g2, i) { colour[g2] = CATS[i % CATS.length]; });
    P.forEach(function (p) {
      var c = svgEl("circle", { cx: X(p.x), cy: Y(p.y), r: 5, fill: colour[p.group], "fill-opacity": 0.8, stroke: "#fff" });
      c.appendChild(svgEl("title", {}, (p.text ? p.text + ": " : "") + (p.tip || p.group)));
      svg.appendChild(c);
      if (p.text) svg.appendChild(svgEl("text", { x: X(p.x) + 7, y: Y(p.y) - 6, "font-size": 9, fill: "#475467" }, p.text));
    });
    root.appendChild(svg);
    var leg = h("div", "ti-maplegend");
    groups.forEach(function (g2) {
      var item = h("span", "ti-chip"), sw = h("span", "ti-swatch");
      sw.style.background = colour[g2]; item.appendChild(sw); item.appendChild(h("span", "ti-chiplab", g2)); leg.appendChild(item);
    });
    root.appendChild(leg);
    return {};
  }

  L.kinds.scatter = scatterView;
})();
