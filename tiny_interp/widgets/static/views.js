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

  /* ------------------------------------------------------------------ attention */
  function decodeLayer(L, T, k) {
    var ib = bytes(L.idx), vb = bytes(L.val), n = vb.length, idx = new Uint16Array(n);
    for (var i = 0; i < n; i++) idx[i] = ib[2 * i] | (ib[2 * i + 1] << 8);
    return { idx: idx, val: vb };
  }
  function drawPattern(canvas, D, head, T, k, size) {
    var S = Math.max(1, Math.min(T, size)), ctx = canvas.getContext("2d");
    canvas.width = S; canvas.height = S;
    var img = ctx.createImageData(S, S), px = img.data, acc = new Uint8Array(S * S);
    var base = head * T * k;
    for (var q = 0; q < T; q++) {
      var y = Math.floor(q * S / T);
      for (var j = 0; j < k; j++) {
        var v = D.val[base + q * k + j];
        if (!v) continue;
        var x = Math.floor(D.idx[base + q * k + j] * S / T), c = y * S + x;
        if (v > acc[c]) acc[c] = v;
      }
    }
    for (var c2 = 0; c2 < S * S; c2++) {
      var a = Math.sqrt(acc[c2] / 255), o = 4 * c2;  /* sqrt: diffuse heads stay visible */
      px[o] = Math.round(255 - a * 218); px[o + 1] = Math.round(255 - a * 156); px[o + 2] = Math.round(255 - a * 20); px[o + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
  }

  function attentionView(root, data, hooks) {
    var T = data.tokens.length, k = data.k, H = data.n_heads;
    var cache = {}, sel = { layer: data.layer, head: data.head }, pinned = null;
    function layerData(l) {
      if (!cache[l]) {
        var L = null;
        data.layers.forEach(function (x) { if (x.layer === l) L = x; });
        cache[l] = L ? decodeLayer(L, T, k) : null;
      }
      return cache[l];
    }
    var title = h("div", "ti-head"), note = h("div", "ti-note"), layerSel = h("select");
    data.layers.forEach(function (x) {
      var o = h("option", null, "layer " + x.layer); o.value = String(x.layer); layerSel.appendChild(o);
    });
    if (data.n_layers > data.layers.length) layerSel.title = "other layers are computed by the kernel";
    layerSel.addEventListener("change", function () { select(+layerSel.value, sel.head, true); });
    var heads = h("div", "ti-heads"), thumbs = [];
    for (var hh = 0; hh < H; hh++) {
      (function (hd) {
        var t = h("div", "ti-thumb"), c = h("canvas");
        t.appendChild(c); t.appendChild(h("span", null, "H" + hd));
        t.addEventListener("click", function () { select(sel.layer, hd, true); });
        heads.appendChild(t); thumbs.push({ el: t, canvas: c });
      })(hh);
    }
    var big = h("canvas", "ti-big"), info = h("div", "ti-info ti-muted", "Hover a token to see what it attends to; click to pin.");
    var strip = tokenStrip(data.tokens, function (q) { if (pinned === null) show(q); }, function (q) {
      pinned = pinned === q ? null : q; show(q);
    });
    big.addEventListener("mousemove", function (ev) {
      if (pinned !== null) return;
      var r = big.getBoundingClientRect();
      show(Math.min(T - 1, Math.max(0, Math.floor((ev.clientY - r.top) / r.height * T))));
    });
    var bar = h("div", "ti-row");
    bar.appendChild(title); bar.appendChild(layerSel);
    root.appendChild(bar);
    if (data.note) { note.textContent = data.note; root.appendChild(note); }
    root.appendChild(heads);
    var row = h("div", "ti-row"), left = h("div", "ti-col"), right = h("div", "ti-col ti-grow");
    left.appendChild(big); left.appendChild(h("div", "ti-muted", "query \u2193 key \u2192"));
    right.appendChild(info); right.appendChild(strip.el);
    row.appendChild(left); row.appendChild(right); root.appendChild(row);

    function show(q) {
      var D = layerData(sel.layer);
      strip.spans.forEach(function (s, i) {
        s.style.background = ""; s.classList.toggle("ti-q", i === q); s.classList.toggle("ti-pin", i === pinned);
      });
      if (!D || q === null || q === undefined) return;
      var base = sel.head * T * k + q * k, items = [];
      for (var j = 0; j < k; j++) {
        var v = D.val[base + j], key = D.idx[base + j];
        if (!v || key > q) continue;
        strip.spans[key].style.background = heat(v / 255);
        items.push([v / 255, key]);
      }
      items.sort(function (a, b) { return b[0] - a[0]; });
      var kept = items.reduce(function (s, x) { return s + x[0]; }, 0);
      info.textContent = "\u201c" + shown(data.tokens[q]) + "\u201d (position " + q + ") attends to: " +
        items.slice(0, 6).map(function (x) { return "\u201c" + shown(data.tokens[x[1]]) + "\u201d@" + x[1] + " " + fmt(x[0], 2); }).join(", ") +
        (kept < 0.98 ? "  (top " + k + " keys hold " + Math.round(kept * 100) + "%)" : "");
    }
    function draw() {
      var D = layerData(sel.layer);
      var label = (data.labels || {})[sel.layer + "," + sel.head];
      title.textContent = "Attention \u2014 layer " + sel.layer + ", head " + sel.head + (label ? " (" + label + ")" : "");
      layerSel.value = String(sel.layer);
      thumbs.forEach(function (t, i) {
        t.el.classList.toggle("ti-sel", i === sel.head);
        t.el.title = (data.labels || {})[sel.layer + "," + i] || ("head " + i);
        if (D) drawPattern(t.canvas, D, i, T, k, 48);
      });
      if (D) drawPattern(big, D, sel.head, T, k, 300);
      show(pinned);
    }
    function select(layer, head, fromUser) {
      sel = { layer: layer, head: head };
      draw();
      if (fromUser && hooks && hooks.onSelect) hooks.onSelect({ layer: layer, head: head });
    }
    linkMap(data.map, function (l, hd) { select(l, hd, true); });
    draw();
    return { select: function (l, hd) { select(l, hd, false); } };
  }

  function linkMap(id, cb) {
    if (!id) return;
    var tries = 0;
    (function attach() {
      var gd = document.getElementById(id);
      if (gd && typeof gd.on === "function") {
        gd.on("plotly_click", function (ev) {
          var p = ev && ev.points && ev.points[0];
          if (p) cb(Math.round(+p.y), Math.round(+p.x));
        });
      } else if (tries++ < 100) setTimeout(attach, 50);
    })();
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
    row.appendChild(left); row.appendChild(right); root.appendChild(row);

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
      var nt = h("table", "ti-table");
      P.neurons.forEach(function (r) {
        var tr = h("tr"); tr.appendChild(h("td", null, "L" + r[0] + "N" + r[1])); tr.appendChild(h("td", null, fmt(r[2], 2)));
        tr.style.cursor = "pointer";
        tr.addEventListener("click", function () { if (hooks && hooks.onSelect) hooks.onSelect({ position: i, layer: r[0], neuron: r[1] }); });
        nt.appendChild(tr);
      });
      neu.appendChild(nt);
      row.appendChild(lens); row.appendChild(attr); row.appendChild(neu);
      panel.appendChild(row);
      if (hooks && hooks.onSelect) hooks.onSelect({ position: i });
    }
    pick(Math.min(T - 1, data.position === undefined ? T - 1 : data.position));
    return { pick: pick };
  }

  var kinds = { attention: attentionView, neuron: neuronView, story: storyView };

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
