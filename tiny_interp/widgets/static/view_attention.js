/* tiny-interp attention view: every head of a layer as thumbnails, one head large, the head-taxonomy map.
   Data is only ever placed with textContent / canvas / SVG attributes, never parsed as HTML. */
(function () {
  "use strict";
  var g = typeof window !== "undefined" ? window : globalThis, L = g.tinyInterpLib;
  if (L.kinds.attention) return;
  var h = L.h, clear = L.clear, bytes = L.bytes, shown = L.shown, fmt = L.fmt, tokenStrip = L.tokenStrip,
    CATS = L.CATS, headHue = L.headHue, hueRGB = L.hueRGB, shade = L.shade, css = L.css,
    legend = g.tinyInterpHeads.legend, headPanel = g.tinyInterpHeads.headPanel;

  function tokenStripColour(strip, weights, rgb) {
    strip.spans.forEach(function (s, i) {
      var w = weights[i];
      s.style.background = w > 0 ? css(shade(rgb, w)) : "";
      s.title = "position " + i + (w > 0 ? " \u00b7 weight " + fmt(w, 3) : "");
    });
  }

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
      mode: init.mode || data.mode || "dest", hover: null, why: init.why || data.why_sel || null };
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
    var info = h("div", "ti-info ti-muted", IDLE), whyBox = h("div", "ti-why");
    var strip = tokenStrip(data.tokens, function (i) { hover(st.mode === "dest" ? { query: i } : { key: i }); },
      function (i) { pinTo(i); });
    strip.el.addEventListener("mouseleave", function () { hover(null); });
    left.appendChild(panelBox); left.appendChild(legendBox);
    right.appendChild(info); right.appendChild(whyBox); right.appendChild(strip.el);
    if (tax) right.appendChild(tax.el);
    row.appendChild(left); row.appendChild(right); root.appendChild(row);
    var panel = null;

    function rgb() { return hueRGB(headHue(st.head, H)); }
    function row_(q) { var D = layerData(st.layer); return D ? sparseRow(D, st.head, T, k, q) : []; }
    function restOf(q) { var D = layerData(st.layer); return D && D.rest ? D.rest[st.head * T + q] / 255 : null; }
    function report(extra) {
      if (hooks.onSelect) hooks.onSelect(Object.assign({ layer: st.layer, head: st.head, pin: st.pin, mode: st.mode, why: st.why }, extra || {}));
    }
    function strongest(q) {
      var best = null;
      row_(q).forEach(function (e) { if (best === null || e[1] > best[1]) best = e; });
      return best ? best[0] : null;
    }
    /* the "why" panel: a pinned query's strongest key, or the clicked cell; computed by the kernel (live) or
       saved in the report for the cells the author pinned */
    function showWhy() {
      clear(whyBox);
      if (!st.why || !g.tinyInterpQK) return;
      var id = st.layer + "," + st.head + "," + st.why.query + "," + st.why.key, d = (data.why || {})[id];
      if (d) { g.tinyInterpQK.panel(whyBox, d, openLink); return; }
      whyBox.appendChild(h("div", "ti-muted", hooks.live ? "Working out why this query attends to this key…" :
        "Why: not worked out for this cell in this report (pin it in the notebook before exporting)."));
    }
    function openLink(link) {
      if (link.kind === "head") select(link.layer, link.index, true);
      else report({ open: link });
    }
    function pinTo(i, mode, cell) {
      if (mode && mode !== st.mode) st.mode = mode;
      st.pin = st.pin === i && !cell ? null : i;
      if (cell && cell.key <= cell.query) st.why = { query: cell.query, key: cell.key };
      else if (st.pin !== null && st.mode === "dest" && strongest(st.pin) !== null) st.why = { query: st.pin, key: strongest(st.pin) };
      else st.why = null;
      report(); focus(); showWhy();
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
        if (cell) pinTo(st.mode === "dest" ? cell.query : cell.key, null, cell); else pinTo(i, mode);
      } });
      panel.draw({ row: row_, rest: D && D.rest ? restOf : null, rgb: rgb() });
      panelBox.appendChild(panel.el);
      legendBox.appendChild(legend(rgb(), "top " + k + " keys per query drawn; grey column: mass outside them"));
      if (tax) tax.mark(st.layer, st.head);
      focus(); showWhy();
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

  L.kinds.attention = attentionView;
})();
