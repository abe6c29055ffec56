/* tiny-interp attention heads drawn large (the attention and patterns views) and the weight legend. */
(function () {
  "use strict";
  var g = typeof window !== "undefined" ? window : globalThis, L = g.tinyInterpLib;
  if (g.tinyInterpHeads) return;
  var h = L.h, shown = L.shown, fmt = L.fmt, shade = L.shade;

  function legend(rgb, note) {
    var box = h("div", "ti-legend"), bar = h("canvas"), W = 240;
    bar.width = W; bar.height = 1;
    var ctx = bar.getContext("2d"), img = ctx.createImageData(W, 1);
    for (var x = 0; x < W; x++) {
      var c = shade(rgb, Math.pow(x / (W - 1), 2));
      img.data[4 * x] = c[0]; img.data[4 * x + 1] = c[1]; img.data[4 * x + 2] = c[2]; img.data[4 * x + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
    box.appendChild(h("span", "ti-muted", "attention weight"));
    var scale = h("div", "ti-scale");
    scale.appendChild(bar);
    [0, 0.02, 0.1, 0.25, 0.5, 1].forEach(function (w) {
      var t = h("span", "ti-tick", String(w));
      t.style.left = (Math.sqrt(w) * W) + "px";
      scale.appendChild(t);
    });
    box.appendChild(scale);
    if (note) box.appendChild(h("span", "ti-muted", note));
    return box;
  }


  /* ------------------------------------------------------------------ one head, large */
  /* src: { T, row(q) -> [[key, w], ...], rest(q) -> mass not drawn or null, rgb }. Drawn once per head at one
     canvas pixel per cell (CSS scales it): hover and pin only move overlay boxes, so long stories stay smooth. */
  function cellSize(T) { return T <= 24 ? 18 : Math.max(0.5, Math.min(18, 560 / T)); }
  function labelStep(c) { return Math.max(1, Math.ceil(11 / c)); }

  function headPanel(tokens, src, on) {
    var T = tokens.length, c = cellSize(T), D = c * T, step = labelStep(c);
    var panel = h("div", "ti-panel"), grid = h("div", "ti-grid");
    var top = h("div", "ti-xlab"), left = h("div", "ti-ylab"), plot = h("div", "ti-plot"), rest = h("canvas", "ti-rest");
    var cv = h("canvas", "ti-big");
    cv.width = T; cv.height = T;
    cv.style.width = cv.style.height = D + "px";
    rest.width = 1; rest.height = T; rest.style.height = D + "px";
    top.style.width = D + "px"; left.style.height = D + "px"; plot.style.width = plot.style.height = D + "px";
    var rowBox = h("div", "ti-hl ti-hl-row"), colBox = h("div", "ti-hl ti-hl-col"), tip = h("div", "ti-tip");
    plot.appendChild(cv); plot.appendChild(rowBox); plot.appendChild(colBox); plot.appendChild(tip);
    var xl = [], yl = [];
    function axisLabel(i, axis) {
      var s = h("span", "ti-alab", shown(tokens[i]));
      s.title = (axis === "x" ? "key " : "query ") + i + ": \u201c" + shown(tokens[i]) + "\u201d";
      s.style[axis === "x" ? "left" : "top"] = (i * c + c / 2) + "px";
      s.addEventListener("mouseenter", function () { on.hover(axis === "x" ? { key: i } : { query: i }); });
      s.addEventListener("mouseleave", function () { on.hover(null); });
      s.addEventListener("click", function () { on.pin(i, axis === "x" ? "source" : "dest"); });
      return s;
    }
    for (var i = 0; i < T; i += step) {
      var a = axisLabel(i, "x"), b = axisLabel(i, "y");
      top.appendChild(a); left.appendChild(b); xl[i] = a; yl[i] = b;
    }
    var extraX = null, extraY = null;  /* the hovered label when thinning hid it */
    grid.appendChild(h("div", "ti-corner", "query \u2193  key \u2192"));
    grid.appendChild(top); grid.appendChild(h("div")); grid.appendChild(left); grid.appendChild(plot); grid.appendChild(rest);
    panel.appendChild(grid);
    function at(ev) {
      var r = cv.getBoundingClientRect();
      var x = Math.floor((ev.clientX - r.left) / r.width * T), y = Math.floor((ev.clientY - r.top) / r.height * T);
      return { key: Math.max(0, Math.min(T - 1, x)), query: Math.max(0, Math.min(T - 1, y)) };
    }
    plot.addEventListener("mousemove", function (ev) { on.hover(at(ev)); });
    plot.addEventListener("mouseleave", function () { on.hover(null); });
    plot.addEventListener("click", function (ev) { var p = at(ev); on.pin(null, null, p); });
    rest.addEventListener("mousemove", function (ev) {
      var r = rest.getBoundingClientRect();
      on.hover({ query: Math.max(0, Math.min(T - 1, Math.floor((ev.clientY - r.top) / r.height * T))) });
    });
    function draw(s) {
      var ctx = cv.getContext("2d"), img = ctx.createImageData(T, T), px = img.data;
      for (var q = 0; q < T; q++) {
        for (var k2 = 0; k2 < T; k2++) {
          var o = 4 * (q * T + k2), g = k2 > q ? 244 : 255;
          px[o] = g; px[o + 1] = g; px[o + 2] = k2 > q ? 247 : 255; px[o + 3] = 255;
        }
        s.row(q).forEach(function (e) {
          var col = shade(s.rgb, e[1]), o2 = 4 * (q * T + e[0]);
          px[o2] = col[0]; px[o2 + 1] = col[1]; px[o2 + 2] = col[2];
        });
      }
      ctx.putImageData(img, 0, 0);
      var rc = rest.getContext("2d"), ri = rc.createImageData(1, T);
      for (var q2 = 0; q2 < T; q2++) {
        var m = s.rest ? s.rest(q2) : 0, gcol = Math.round(255 - 200 * Math.sqrt(Math.max(0, m)));
        ri.data[4 * q2] = ri.data[4 * q2 + 1] = ri.data[4 * q2 + 2] = gcol; ri.data[4 * q2 + 3] = 255;
      }
      rc.putImageData(ri, 0, 0);
      rest.title = s.rest ? "grey: attention mass outside the drawn top keys of each query" : "";
    }
    function show(label, list, i, axis) {
      if (label) label.classList.add("ti-on");
      else {
        var x = axisLabel(i, axis); x.classList.add("ti-on", "ti-extra");
        (axis === "x" ? top : left).appendChild(x); return x;
      }
      return null;
    }
    function mark(query, key, weight) {
      panel.querySelectorAll(".ti-alab.ti-on").forEach(function (e) { e.classList.remove("ti-on"); });
      [extraX, extraY].forEach(function (e) { if (e && e.parentNode) e.parentNode.removeChild(e); });
      extraX = extraY = null;
      rowBox.style.display = query === null ? "none" : "block";
      colBox.style.display = key === null ? "none" : "block";
      if (query !== null) { rowBox.style.top = (query * c) + "px"; rowBox.style.height = Math.max(1, c) + "px"; extraY = show(yl[query], yl, query, "y"); }
      if (key !== null) { colBox.style.left = (key * c) + "px"; colBox.style.width = Math.max(1, c) + "px"; extraX = show(xl[key], xl, key, "x"); }
      if (query !== null && key !== null) {
        tip.style.display = "block";
        tip.textContent = "\u201c" + shown(tokens[query]) + "\u201d@" + query + " \u2192 \u201c" + shown(tokens[key]) + "\u201d@" + key + ": " + (key > query ? "masked" : weight === null ? "not among the drawn top keys" : fmt(weight, 3));
        tip.style.left = Math.min(D - 10, key * c + c + 6) + "px"; tip.style.top = (query * c + c + 4) + "px";
      } else tip.style.display = "none";
    }
    return { el: panel, draw: draw, mark: mark };
  }

  g.tinyInterpHeads = { headPanel: headPanel, legend: legend };
})();
