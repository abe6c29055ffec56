/* tiny-interp dense patterns view: a few heads side by side.
   Data is only ever placed with textContent / canvas / SVG attributes, never parsed as HTML. */
(function () {
  "use strict";
  var g = typeof window !== "undefined" ? window : globalThis, L = g.tinyInterpLib;
  if (L.kinds.patterns) return;
  var h = L.h, bytes = L.bytes, shown = L.shown, fmt = L.fmt, headHue = L.headHue, hueRGB = L.hueRGB,
    legend = g.tinyInterpHeads.legend, headPanel = g.tinyInterpHeads.headPanel;

  function patternsView(root, data) {
    var T = data.tokens.length;
    if (data.title) root.appendChild(h("div", "ti-head", data.title));
    var row = h("div", "ti-row");
    data.heads.forEach(function (hd, n) {
      var col = h("div", "ti-col"), vals = bytes(hd.val), colour = hueRGB(headHue(hd.head, data.n_heads || 16));
      col.appendChild(h("div", "ti-head", hd.title));
      var info = h("div", "ti-muted ti-info", "hover a cell");
      var panel = headPanel(data.tokens, { T: T }, {
        hover: function (x) {
          if (!x || x.query === undefined || x.key === undefined) { panel.mark(x && x.query !== undefined ? x.query : null, x && x.key !== undefined ? x.key : null, 0); return; }
          panel.mark(x.query, x.key, vals[x.query * T + x.key] / 255);
          info.textContent = "\u201c" + shown(data.tokens[x.query]) + "\u201d@" + x.query + " \u2192 \u201c" + shown(data.tokens[x.key]) + "\u201d@" + x.key + ": " + fmt(vals[x.query * T + x.key] / 255, 3);
        }, pin: function () {}
      });
      panel.draw({ rgb: colour, rest: null, row: function (q) {
        var out = [];
        for (var kk = 0; kk <= q; kk++) if (vals[q * T + kk]) out.push([kk, vals[q * T + kk] / 255]);
        return out;
      } });
      col.appendChild(panel.el); col.appendChild(legend(colour)); col.appendChild(info);
      row.appendChild(col);
    });
    root.appendChild(row);
    return {};
  }

  L.kinds.patterns = patternsView;
})();
