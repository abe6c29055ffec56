/* tiny-interp notebook views: attention, neuron and story views drawn from compact JSON.
   Data is only ever placed with textContent / canvas / SVG attributes, never parsed as HTML. */
(function () {
  "use strict";
  var g = typeof window !== "undefined" ? window : globalThis;
  if (g.tinyInterpViews) return;
  var SVG = "http://www.w3.org/2000/svg";

  function h(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function clear(e) { while (e.firstChild) e.removeChild(e.firstChild); }
  function bytes(s) {
    var bin = atob(s || ""), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  function shown(t) { return String(t).replace(/\n/g, "\u21b5"); }
  function fmt(x, d) { return (+x).toFixed(d === undefined ? 3 : d); }
  function heat(w, hue) { return "hsla(" + (hue || 215) + ",85%,50%," + Math.min(1, w).toFixed(3) + ")"; }
  function signed(x, m) {
    var a = Math.min(1, Math.abs(x) / (m || 1));
    return x >= 0 ? "rgba(37,99,235," + a.toFixed(3) + ")" : "rgba(220,38,38," + a.toFixed(3) + ")";
  }
  function tokenStrip(tokens, onHover, onClick) {
    var box = h("div", "ti-tokens"), spans = [];
    tokens.forEach(function (t, i) {
      var s = h("span", "ti-tok", shown(t));
      s.title = "position " + i;
      s.addEventListener("mouseenter", function () { onHover && onHover(i); });
      s.addEventListener("click", function () { onClick && onClick(i); });
      box.appendChild(s); spans.push(s);
    });
    return { el: box, spans: spans };
  }

  /* ------------------------------------------------------------------ colours */
  /* each head has its own hue (as in CircuitsVis); a weight w is drawn as white mixed with that hue by sqrt(w), so
     weights of a few percent stay visible; the legend draws the same mapping with its true tick positions */
  var CATS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#db2777", "#4b5563",
    "#65a30d", "#7c3aed", "#0d9488", "#b45309", "#be123c"];
  function headHue(hd, H) { return Math.round(hd * 360 / Math.max(1, H) + 215) % 360; }
  function hueRGB(hue) {
    var s = 0.75, l = 0.42, c = (1 - Math.abs(2 * l - 1)) * s, x = c * (1 - Math.abs((hue / 60) % 2 - 1)), m = l - c / 2;
    var r = [[c, x, 0], [x, c, 0], [0, c, x], [0, x, c], [x, 0, c], [c, 0, x]][Math.floor(hue / 60) % 6];
    return [Math.round((r[0] + m) * 255), Math.round((r[1] + m) * 255), Math.round((r[2] + m) * 255)];
  }
  function shade(rgb, w) {
    var s = Math.sqrt(Math.max(0, Math.min(1, w)));
    return [Math.round(255 + (rgb[0] - 255) * s), Math.round(255 + (rgb[1] - 255) * s), Math.round(255 + (rgb[2] - 255) * s)];
  }
  function css(c) { return "rgb(" + c[0] + "," + c[1] + "," + c[2] + ")"; }
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

  function tokenStripColour(strip, weights, rgb) {
    strip.spans.forEach(function (s, i) {
      var w = weights[i];
      s.style.background = w > 0 ? css(shade(rgb, w)) : "";
      s.title = "position " + i + (w > 0 ? " \u00b7 weight " + fmt(w, 3) : "");
    });
  }

  /* ------------------------------------------------------------------ taxonomy map */
  function taxonomyMap(tax, onPick) {
    var box = h("div", "ti-map"), names = [], colour = {};
    tax.labels.forEach(function (row) { row.forEach(function (l) { if (names.indexOf(l) < 0) names.push(l); }); });
    names.sort();
    names.forEach(function (n, i) { colour[n] = CATS[i % CATS.length]; });
    box.appendChild(h("div", "ti-head", "Head taxonomy (click a head)"));
    if (tax.source) box.appendChild(h("div", "ti-muted", tax.source));
    var grid = h("div", "ti-mapgrid"), cells = {};
    grid.style.gridTemplateColumns = "auto repeat(" + tax.n_heads + ", 22px)";
    grid.appendChild(h("span", "ti-muted", ""));
    for (var hd = 0; hd < tax.n_heads; hd++) grid.appendChild(h("span", "ti-mapx", String(hd)));
    tax.labels.forEach(function (row, l) {
      grid.appendChild(h("span", "ti-mapy", "L" + l));
      row.forEach(function (lab, hd2) {
        var c = h("div", "ti-cell");
        c.style.background = colour[lab];
        c.title = "layer " + l + " head " + hd2 + ": " + lab + ((tax.detail && tax.detail[l]) ? "\n" + tax.detail[l][hd2] : "");
        c.addEventListener("click", function () { onPick(l, hd2); });
        grid.appendChild(c); cells[l + "," + hd2] = c;
      });
    });
    box.appendChild(grid);
    var leg = h("div", "ti-maplegend");
    names.forEach(function (n) {
      var count = 0;
      tax.labels.forEach(function (row) { row.forEach(function (l) { if (l === n) count++; }); });
      var item = h("span", "ti-chip"), sw = h("span", "ti-swatch");
      sw.style.background = colour[n];
      item.appendChild(sw); item.appendChild(h("span", "ti-chiplab", n + " (" + count + ")"));
      leg.appendChild(item);
    });
    box.appendChild(leg);
    return {
      el: box, colour: colour,
      mark: function (l, hd) {
        Object.keys(cells).forEach(function (key) { cells[key].classList.toggle("ti-sel", key === l + "," + hd); });
      }
    };
  }

  /* ------------------------------------------------------------------ attention */
  function decodeLayer(L, T, k, H) {
    var ib = bytes(L.idx), vb = bytes(L.val), n = vb.length, idx = new Uint16Array(n);
    for (var i = 0; i < n; i++) idx[i] = ib[2 * i] | (ib[2 * i + 1] << 8);
    return { idx: idx, val: vb, rest: L.rest ? bytes(L.rest) : null };
  }
  function sparseRow(D, head, T, k, q) {
    var base = head * T * k + q * k, out = [];
    for (var j = 0; j < k; j++) {
      var v = D.val[base + j], key = D.idx[base + j];
      if (v && key <= q) out.push([key, v / 255]);
    }
    return out;
  }
  function drawThumb(canvas, D, head, T, k, size, rgb) {
    var S = Math.max(1, Math.min(T, size)), ctx = canvas.getContext("2d");
    canvas.width = S; canvas.height = S;
    var img = ctx.createImageData(S, S), px = img.data, acc = new Float32Array(S * S);
    for (var q = 0; q < T; q++) {
      var y = Math.floor(q * S / T);
      sparseRow(D, head, T, k, q).forEach(function (e) {
        var c = y * S + Math.floor(e[0] * S / T);
        if (e[1] > acc[c]) acc[c] = e[1];
      });
    }
    for (var c2 = 0; c2 < S * S; c2++) {
      var col = shade(rgb, acc[c2]), o = 4 * c2;
      px[o] = col[0]; px[o + 1] = col[1]; px[o + 2] = col[2]; px[o + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
  }

  function attentionView(root, data, hooks) {
    var T = data.tokens.length, k = data.k, H = data.n_heads, init = hooks.initial || {}, cache = {};
    var have = data.layers.map(function (x) { return x.layer; });
    function pick(v, d) { return v === undefined || v === null ? d : v; }
    var st = { layer: pick(init.layer, data.layer), head: pick(init.head, data.head), pin: pick(init.pin, pick(data.pin, null)),
      mode: init.mode || data.mode || "dest", hover: null };
    if (have.indexOf(st.layer) < 0) st.layer = have[0];
    if (st.head >= H) st.head = 0;
    if (st.pin !== null && st.pin >= T) st.pin = null;
    function layerData(l) {
      if (!(l in cache)) {
        var L = null;
        data.layers.forEach(function (x) { if (x.layer === l) L = x; });
        cache[l] = L ? decodeLayer(L, T, k, H) : null;
      }
      return cache[l];
    }
    var labels = data.labels || {};
    var title = h("div", "ti-head"), layerSel = h("select", "ti-layer"), modeBtn = h("button", "ti-btn ti-mode");
    have.forEach(function (l) { var o = h("option", null, "layer " + l); o.value = String(l); layerSel.appendChild(o); });
    layerSel.title = "layer";
    layerSel.addEventListener("change", function () { select(+layerSel.value, st.head, true); });
    modeBtn.addEventListener("click", function () { st.mode = st.mode === "dest" ? "source" : "dest"; report(); focus(); });
    var bar = h("div", "ti-row ti-bar-top");
    bar.appendChild(title); bar.appendChild(layerSel); bar.appendChild(modeBtn);
    root.appendChild(bar);
    if (data.note) root.appendChild(h("div", "ti-note", data.note));
    var tax = data.taxonomy ? taxonomyMap(data.taxonomy, function (l, hd) { select(l, hd, true); }) : null;
    var heads = h("div", "ti-heads"), thumbs = [];
    for (var hh = 0; hh < H; hh++) {
      (function (hd) {
        var t = h("div", "ti-thumb"), c = h("canvas"), name = h("span", "ti-thname", "H" + hd), lab = h("span", "ti-thlab");
        t.appendChild(c); t.appendChild(name); t.appendChild(lab);
        t.addEventListener("click", function () { select(st.layer, hd, true); });
        heads.appendChild(t); thumbs.push({ el: t, canvas: c, lab: lab });
      })(hh);
    }
    root.appendChild(heads);
    var row = h("div", "ti-row"), left = h("div", "ti-col"), right = h("div", "ti-col ti-grow");
    var panelBox = h("div"), legendBox = h("div");
    var IDLE = "Hover a cell, an axis label or a token; click to pin a token (the pin stays while you change head or layer).";
    var info = h("div", "ti-info ti-muted", IDLE);
    var strip = tokenStrip(data.tokens, function (i) { hover(st.mode === "dest" ? { query: i } : { key: i }); },
      function (i) { pinTo(i); });
    strip.el.addEventListener("mouseleave", function () { hover(null); });
    left.appendChild(panelBox); left.appendChild(legendBox);
    right.appendChild(info); right.appendChild(strip.el);
    if (tax) right.appendChild(tax.el);
    row.appendChild(left); row.appendChild(right); root.appendChild(row);
    var panel = null;

    function rgb() { return hueRGB(headHue(st.head, H)); }
    function row_(q) { var D = layerData(st.layer); return D ? sparseRow(D, st.head, T, k, q) : []; }
    function restOf(q) { var D = layerData(st.layer); return D && D.rest ? D.rest[st.head * T + q] / 255 : null; }
    function report() { if (hooks.onSelect) hooks.onSelect({ layer: st.layer, head: st.head, pin: st.pin, mode: st.mode }); }
    function pinTo(i, mode) {
      if (mode && mode !== st.mode) st.mode = mode;
      st.pin = st.pin === i ? null : i;
      report(); focus();
    }
    function hover(x) { st.hover = x; focus(); }
    function weight(q, key) {  /* null: the key is not among the query's drawn top keys */
      var w = null;
      row_(q).forEach(function (e) { if (e[0] === key) w = e[1]; });
      return w;
    }
    function focus() {
      modeBtn.textContent = st.mode === "dest" ? "showing: what a query attends to (switch)" : "showing: who attends to a key (switch)";
      modeBtn.title = "destination \u2194 source: read a row (the keys a query token attends to) or a column (the queries attending to a key token)";
      /* the crosshair follows the mouse; the token strip and the info line follow the pin when there is one */
      var hv = st.hover || {}, f = st.pin;
      function or(a, b) { return a === undefined || a === null ? b : a; }
      var query = or(hv.query, st.mode === "dest" ? f : null), key = or(hv.key, st.mode === "source" ? f : null);
      panel.mark(query, key, query !== null && key !== null ? weight(query, key) : 0);
      var centre = or(f, st.mode === "dest" ? or(hv.query, null) : or(hv.key, null));
      strip.spans.forEach(function (s, i) { s.classList.toggle("ti-q", i === centre); s.classList.toggle("ti-pin", i === st.pin); });
      var weights = new Float32Array(T);
      if (centre === null) { tokenStripColour(strip, weights, rgb()); info.textContent = IDLE; return; }
      var items = [];
      if (st.mode === "dest") {
        row_(centre).forEach(function (e) { weights[e[0]] = e[1]; items.push([e[1], e[0]]); });
      } else {
        for (var q = centre; q < T; q++) { var w = weight(q, centre); if (w > 0) { weights[q] = w; items.push([w, q]); } }
      }
      tokenStripColour(strip, weights, rgb());
      items.sort(function (a, b) { return b[0] - a[0]; });
      var list = items.slice(0, 6).map(function (x) { return "\u201c" + shown(data.tokens[x[1]]) + "\u201d@" + x[1] + " " + fmt(x[0], 2); }).join(", ");
      var text = "\u201c" + shown(data.tokens[centre]) + "\u201d (position " + centre + ")" + (st.pin === centre ? " [pinned]" : "");
      if (st.mode === "dest") {
        var out = restOf(centre);
        text += " attends to: " + list + (out !== null ? "  \u00b7 outside the drawn top " + k + ": " + Math.round(out * 100) + "%" : "");
      } else text += " is attended by: " + (list || "no query among the drawn top " + k + " keys");
      info.textContent = text;
    }
    function draw() {
      var D = layerData(st.layer), lab = labels[st.layer + "," + st.head];
      title.textContent = "Attention \u2014 layer " + st.layer + ", head " + st.head + (lab ? " (" + lab + ")" : "");
      layerSel.value = String(st.layer);
      thumbs.forEach(function (t, i) {
        var l = labels[st.layer + "," + i] || "", rgbI = hueRGB(headHue(i, H));
        t.el.classList.toggle("ti-sel", i === st.head);
        t.lab.textContent = l.replace(":", ": ");
        t.el.title = "layer " + st.layer + " head " + i + (l ? ": " + l : "");
        t.el.style.borderColor = i === st.head ? css(rgbI) : "transparent";
        t.el.style.color = css(rgbI);
        if (tax && l && tax.colour[l]) t.lab.style.color = tax.colour[l];
        if (D) drawThumb(t.canvas, D, i, T, k, 64, rgbI);
      });
      clear(panelBox); clear(legendBox);
      panel = headPanel(data.tokens, { T: T }, { hover: hover, pin: function (i, mode, cell) {
        if (cell) pinTo(st.mode === "dest" ? cell.query : cell.key); else pinTo(i, mode);
      } });
      panel.draw({ row: row_, rest: D && D.rest ? restOf : null, rgb: rgb() });
      panelBox.appendChild(panel.el);
      legendBox.appendChild(legend(rgb(), "top " + k + " keys per query drawn; grey column: mass outside them"));
      if (tax) tax.mark(st.layer, st.head);
      focus();
    }
    function select(layer, head, fromUser) {
      if (layerData(layer) === null) return;
      st.layer = layer; st.head = head;
      draw();
      if (fromUser) report();
    }
    draw();
    return {
      select: function (l, hd) { select(l, hd, false); },
      state: function () { return { layer: st.layer, head: st.head, pin: st.pin, mode: st.mode }; },
      pin: function (i) { st.pin = i; focus(); }
    };
  }

  /* ------------------------------------------------------------------ dense patterns (a few heads side by side) */
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

  /* ------------------------------------------------------------------ scatter (labelled points, coloured groups) */
  function svgEl(tag, attrs, text) {
    var e = document.createElementNS(SVG, tag);
    Object.keys(attrs).forEach(function (a) { e.setAttribute(a, attrs[a]); });
    if (text !== undefined) e.textContent = text;
    return e;
  }
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

  /* ------------------------------------------------------------------ neurons */
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

  /* ------------------------------------------------------------------ story */
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

  var kinds = { attention: attentionView, neuron: neuronView, story: storyView, patterns: patternsView, scatter: scatterView };

  function render(el, data, hooks) {
    clear(el);
    var root = h("div", "ti-root");
    el.appendChild(root);
    var view = kinds[data && data.kind];
    if (!view) { root.appendChild(h("div", "ti-note", "unknown view kind")); return {}; }
    try { return view(root, data, hooks || {}); }
    catch (e) { clear(root); root.appendChild(h("div", "ti-note", "view failed: " + e)); return {}; }
  }

  function mount(id) {
    var el = document.getElementById(id), src = document.getElementById(id + "-data");
    if (!el || !src || el.getAttribute("data-ti-mounted")) return;
    el.setAttribute("data-ti-mounted", "1");
    render(el, JSON.parse(src.textContent));
  }

  g.tinyInterpViews = { render: render, mount: mount, version: 1 };
  var queue = g.__tinyInterpQueue || [];
  g.__tinyInterpQueue = { push: mount };
  queue.forEach(mount);
})();
