/* tiny-interp attribution graph view: layers as rows, prompt positions as columns.
   Data is only ever placed with textContent and SVG attributes, never parsed as HTML. */
(function () {
  "use strict";
  var g = typeof window !== "undefined" ? window : globalThis;
  if (g.tinyInterpGraph) return;
  /* the shared helpers (common.js) are loaded just before this script, on a page and in the live widget */
  var lib = g.tinyInterpLib, h = lib.h, clear = lib.clear, shown = lib.shown, fmt = lib.fmt;
  var ROW = 56, PAD = 70, STEP = 14, MINCOL = 58;

  function s(tag, attrs, cls) {
    var e = lib.svgEl(tag, attrs || {});
    if (cls) e.setAttribute("class", cls);
    return e;
  }
  function pct(x) { return (100 * x).toFixed(1) + "%"; }

  /* nodes: [kind, layer, pos, feature|token, label, activation, influence] */
  function node(D, i) {
    var r = D.nodes[i];
    return { i: i, kind: r[0], layer: r[1], pos: r[2], id: r[3], label: r[4], act: r[5], inf: r[6] };
  }
  function title(n) {
    if (n.kind === "feature") return "L" + n.layer + " feature " + n.id + " @ " + n.pos;
    if (n.kind === "error") return "error L" + n.layer + " @ " + n.pos;
    if (n.kind === "embedding") return "token \u201c" + shown(n.label) + "\u201d @ " + n.pos;
    return "output \u201c" + shown(n.label) + "\u201d";
  }

  function layout(D) {
    var T = D.tokens.length, L = D.n_layers, per = {}, widest = [];
    D.nodes.forEach(function (r, i) {
      var key = r[1] + ":" + r[2];
      (per[key] = per[key] || []).push(i);
    });
    for (var p = 0; p < T; p++) widest.push(MINCOL);
    Object.keys(per).forEach(function (k) {
      var pos = +k.split(":")[1];
      widest[pos] = Math.max(widest[pos], per[k].length * STEP + 16);
    });
    var left = [], acc = PAD;
    widest.forEach(function (w) { left.push(acc); acc += w; });
    var H = (L + 2) * ROW + 2 * PAD, x = [], y = [];
    Object.keys(per).forEach(function (k) {
      var parts = k.split(":"), layer = +parts[0], pos = +parts[1], ids = per[k];
      var cx = left[pos] + widest[pos] / 2, row = layer + 1;
      ids.forEach(function (i, j) {
        x[i] = cx + (j - (ids.length - 1) / 2) * STEP;
        y[i] = H - PAD - row * ROW - ROW / 2;
      });
    });
    return { x: x, y: y, W: acc + PAD, H: H, left: left, widest: widest };
  }

  function edgeIndex(D) {
    var ins = D.nodes.map(function () { return []; }), outs = D.nodes.map(function () { return []; });
    D.edges.forEach(function (e, k) { outs[e[0]].push(k); ins[e[1]].push(k); });
    var byW = function (a, b) { return Math.abs(D.edges[b][2]) - Math.abs(D.edges[a][2]); };
    ins.forEach(function (l) { l.sort(byW); }); outs.forEach(function (l) { l.sort(byW); });
    return { ins: ins, outs: outs };
  }

  function strongestPath(D, idx, start) {
    var path = [], seen = {}, i = start;
    while (idx.ins[i].length && !seen[i]) { seen[i] = 1; var k = idx.ins[i][0]; path.push(k); i = D.edges[k][0]; }
    i = start; seen = {};
    while (idx.outs[i].length && !seen[i]) { seen[i] = 1; var k2 = idx.outs[i][0]; path.push(k2); i = D.edges[k2][1]; }
    return path;
  }

  function render(el, D, hooks) {
    hooks = hooks || {};
    clear(el);
    var root = h("div", "ti-root tg-root");
    el.appendChild(root);
    try { return build(root, D, hooks); }
    catch (e) { clear(root); root.appendChild(h("div", "ti-note", "graph view failed: " + e)); return {}; }
  }

  function header(root, D) {
    root.appendChild(h("div", "tg-prompt", D.prompt || D.tokens.join("")));
    var st = D.stats || {};
    root.appendChild(h("div", "ti-note tg-stats",
      st.kept_nodes + " nodes, " + st.kept_edges + " edges kept (" + st.features + " of " + st.active +
      " active features attributed) \u00b7 error share " + pct(st.error_share || 0) + " (top logit " +
      pct(st.error_share_top || 0) + ") \u00b7 completeness " + pct(st.completeness || 0) +
      " \u00b7 KL without errors " + fmt(st.kl_without_errors || 0) + " nats"));
  }

  // the outputs sit on the top row above the last position: open there. A live widget is often drawn before it is
  // attached (no size yet, so scrolling does nothing): scroll again once the box first gets a size
  function showOutputEnd(scroll) {
    var go = function () { scroll.scrollLeft = scroll.scrollWidth; scroll.scrollTop = 0; };
    go();
    if (scroll.clientWidth > 0 || typeof ResizeObserver === "undefined") return;
    var ro = new ResizeObserver(function () {
      if (scroll.clientWidth > 0) { go(); ro.disconnect(); }
    });
    ro.observe(scroll);
  }

  function build(root, D, hooks) {
    header(root, D);
    var st = { sel: -1, multi: {}, groups: [], pinned: {} };
    var idx = edgeIndex(D), P = layout(D);
    var bar = h("div", "tg-bar");
    var name = h("input", "tg-name"); name.placeholder = "supernode name";
    var groupBtn = h("button", "tg-group", "Group selected"), pinBtn = h("button", "tg-pin", "Pin path");
    var clearBtn = h("button", "tg-clear", "Clear pins"), groupsBox = h("span", "tg-groups");
    [name, groupBtn, pinBtn, clearBtn, groupsBox].forEach(function (e) { bar.appendChild(e); });
    bar.appendChild(h("span", "ti-note", " click a node for its page \u00b7 shift-click to select several"));
    root.appendChild(bar);
    var main = h("div", "tg-main"), scroll = h("div", "tg-scroll"), panel = h("div", "tg-panel");
    var tip = h("div", "tg-tip"); tip.style.display = "none";
    main.appendChild(scroll); main.appendChild(panel); root.appendChild(main); root.appendChild(tip);
    panel.appendChild(h("div", "ti-note", "Click a node: its feature page, strongest edges and interventions."));
    var svg = s("svg", { width: P.W, height: P.H, viewBox: "0 0 " + P.W + " " + P.H }, "tg-svg");
    scroll.appendChild(svg);
    drawAxes(svg, D, P);
    var gGroups = s("g", {}, "tg-supernodes"), gEdges = s("g", {}, "tg-edges"), gNodes = s("g", {}, "tg-nodes");
    svg.appendChild(gGroups); svg.appendChild(gEdges); svg.appendChild(gNodes);
    var edgeEls = drawEdges(gEdges, D, P, tip, root), nodeEls = drawNodes(gNodes, D, P);

    function refresh() {
      var sel = st.sel;
      edgeEls.forEach(function (e, k) {
        var ed = D.edges[k], hot = sel >= 0 && (ed[0] === sel || ed[1] === sel);
        e.setAttribute("class", "tg-edge" + (hot ? " tg-hot" : sel >= 0 ? " tg-dim" : "") + (st.pinned[k] ? " tg-pinned" : ""));
      });
      nodeEls.forEach(function (e, i) {
        var c = "tg-node tg-" + D.nodes[i][0] + (i === sel ? " tg-selected" : "") + (st.multi[i] ? " tg-multi" : "");
        e.setAttribute("class", c);
      });
      drawGroups(gGroups, D, P, st.groups);
      clear(groupsBox);
      st.groups.forEach(function (gr, j) {
        var chip = h("span", "tg-chip", gr.name + " (" + gr.members.length + ") \u00d7");
        chip.title = "ungroup";
        chip.addEventListener("click", function () { st.groups.splice(j, 1); refresh(); });
        groupsBox.appendChild(chip);
      });
    }
    function select(i) {
      st.sel = i; refresh(); showPage(panel, D, idx, i, select);
      var n = node(D, i);
      if (hooks.onSelect) hooks.onSelect({ node: i, kind: n.kind, layer: n.layer, pos: n.pos, feature: n.id });
    }
    nodeEls.forEach(function (e, i) {
      e.addEventListener("click", function (ev) {
        if (ev.shiftKey) { if (st.multi[i]) delete st.multi[i]; else st.multi[i] = 1; refresh(); return; }
        select(i);
      });
    });
    groupBtn.addEventListener("click", function () {
      var members = Object.keys(st.multi).map(Number);
      if (st.sel >= 0 && members.indexOf(st.sel) < 0 && !members.length) members = [st.sel];
      if (!members.length) return;
      st.groups.push({ name: name.value || "group " + (st.groups.length + 1), members: members });
      st.multi = {}; name.value = ""; refresh();
    });
    pinBtn.addEventListener("click", function () {
      if (st.sel < 0) return;
      strongestPath(D, idx, st.sel).forEach(function (k) { st.pinned[k] = 1; });
      refresh();
    });
    clearBtn.addEventListener("click", function () { st.pinned = {}; refresh(); });
    refresh();
    showOutputEnd(scroll);
    return { select: select, state: st };
  }

  function drawAxes(svg, D, P) {
    var L = D.n_layers, ax = s("g", {}, "tg-axes");
    for (var r = 0; r < L + 2; r++) {
      var y = P.H - PAD - r * ROW - ROW / 2;
      var lab = r === 0 ? "emb" : r === L + 1 ? "out" : "L" + (r - 1);
      var t = s("text", { x: 4, y: y + 4 }, "tg-axis"); t.textContent = lab; ax.appendChild(t);
      ax.appendChild(s("line", { x1: PAD, x2: P.W - PAD, y1: y, y2: y }, "tg-row"));
    }
    D.tokens.forEach(function (tok, p) {
      var t = s("text", { x: P.left[p] + P.widest[p] / 2, y: P.H - 8, "text-anchor": "middle" }, "tg-tok");
      t.textContent = shown(tok).slice(0, 10);
      ax.appendChild(t);
    });
    svg.appendChild(ax);
  }

  function drawEdges(gEl, D, P, tip, root) {
    var maxW = 1e-12;
    D.edges.forEach(function (e) { maxW = Math.max(maxW, Math.abs(e[2])); });
    return D.edges.map(function (e, k) {
      var w = e[2], line = s("line", {
        x1: P.x[e[0]], y1: P.y[e[0]], x2: P.x[e[1]], y2: P.y[e[1]],
        stroke: w >= 0 ? "#2563eb" : "#dc2626", "stroke-width": (1.5 + 4 * Math.abs(w) / maxW).toFixed(2)
      }, "tg-edge");
      line.addEventListener("mouseenter", function (ev) {
        tip.textContent = title(node(D, e[0])) + " \u2192 " + title(node(D, e[1])) + ": weight " + fmt(w, 4);
        tip.style.display = "block";
        var box = root.getBoundingClientRect();
        tip.style.left = (ev.clientX - box.left + 12) + "px"; tip.style.top = (ev.clientY - box.top + 12) + "px";
      });
      line.addEventListener("mouseleave", function () { tip.style.display = "none"; });
      gEl.appendChild(line);
      return line;
    });
  }

  function drawNodes(gEl, D, P) {
    return D.nodes.map(function (r, i) {
      var n = node(D, i), x = P.x[i], y = P.y[i], el;
      if (n.kind === "feature") el = s("circle", { cx: x, cy: y, r: 5.5 });
      else el = s("rect", { x: x - 5, y: y - 5, width: 10, height: 10, rx: n.kind === "error" ? 0 : 3 });
      var t = s("title"); t.textContent = title(n) + (n.kind === "feature" ? " act " + fmt(n.act) : "");
      el.appendChild(t);
      el.setAttribute("data-node", i);
      gEl.appendChild(el);
      if (n.kind === "logit") {
        var lab = s("text", { x: x, y: y - 9, transform: "rotate(-50 " + x + " " + (y - 9) + ")" }, "tg-out");
        lab.textContent = shown(n.label) + " " + pct(n.act);
        gEl.appendChild(lab);
      }
      return el;
    });
  }

  function drawGroups(gEl, D, P, groups) {
    clear(gEl);
    groups.forEach(function (gr) {
      var xs = gr.members.map(function (i) { return P.x[i]; }), ys = gr.members.map(function (i) { return P.y[i]; });
      var x0 = Math.min.apply(null, xs) - 10, x1 = Math.max.apply(null, xs) + 10;
      var y0 = Math.min.apply(null, ys) - 12, y1 = Math.max.apply(null, ys) + 10;
      gEl.appendChild(s("rect", { x: x0, y: y0, width: x1 - x0, height: y1 - y0, rx: 8 }, "tg-super"));
      var t = s("text", { x: x0 + 4, y: y0 - 3 }, "tg-super-label"); t.textContent = gr.name; gEl.appendChild(t);
    });
  }

  function edgeList(box, D, list, other, label, select) {
    box.appendChild(h("div", "tg-h", label));
    if (!list.length) { box.appendChild(h("div", "ti-note", "none kept")); return; }
    var tb = h("table", "ti-table tg-edges-table");
    list.slice(0, 8).forEach(function (k) {
      var e = D.edges[k], j = e[other], tr = h("tr");
      tr.appendChild(h("td", null, title(node(D, j)))); tr.appendChild(h("td", null, fmt(e[2], 4)));
      tr.addEventListener("click", function () { select(j); });
      tb.appendChild(tr);
    });
    box.appendChild(tb);
  }

  function distTable(box, rows, label) {
    box.appendChild(h("div", "tg-h", label));
    var tb = h("table", "ti-table tg-dist"), hd = h("tr");
    ["next token", "before", "after"].forEach(function (c) { hd.appendChild(h("th", null, c)); });
    tb.appendChild(hd);
    rows.forEach(function (r) {
      var tr = h("tr");
      tr.appendChild(h("td", null, shown(r.token))); tr.appendChild(h("td", null, pct(r.old)));
      tr.appendChild(h("td", null, pct(r["new"])));
      tb.appendChild(tr);
    });
    box.appendChild(tb);
  }

  function examples(box, list) {
    box.appendChild(h("div", "tg-h", "Top activations (feature atlas)"));
    list.slice(0, 6).forEach(function (ex) {
      var row = h("div", "tg-example");
      if (ex.tokens) {
        var top = Math.max.apply(null, ex.acts.concat([1e-9]));
        ex.tokens.forEach(function (t, j) {
          var sp = h("span", "tg-extok", shown(t));
          sp.style.background = "rgba(245,158,11," + Math.max(0, ex.acts[j] / top).toFixed(3) + ")";
          row.appendChild(sp);
        });
      } else row.textContent = shown(ex.text || "");
      box.appendChild(row);
    });
  }

  function featurePage(box, page) {
    if (page.explanation) box.appendChild(h("div", "tg-expl", page.explanation));
    if (page.examples && page.examples.length) examples(box, page.examples);
    else box.appendChild(h("div", "ti-note", "no feature atlas examples for this transcoder"));
    if (page.logits) {
      box.appendChild(h("div", "tg-h", "Logits of its decoder direction"));
      var fmtL = function (l) { return l.map(function (p) { return shown(p[0]) + " " + fmt(p[1], 2); }).join("  "); };
      box.appendChild(h("div", "tg-logits tg-up", "+ " + fmtL(page.logits.up)));
      box.appendChild(h("div", "tg-logits tg-down", "\u2212 " + fmtL(page.logits.down)));
    }
    var iv = page.interventions || {};
    if (iv.ablate) distTable(box, iv.ablate, "Ablate it (set to 0): next token");
    if (iv["double"]) distTable(box, iv["double"], "Double it: next token");
  }

  function showPage(panel, D, idx, i, select) {
    clear(panel);
    var n = node(D, i);
    panel.appendChild(h("div", "tg-title", title(n)));
    var facts = n.kind === "logit" ? "probability " + pct(n.act) : n.kind === "embedding" ? "" : "activation " + fmt(n.act);
    panel.appendChild(h("div", "ti-note", facts + (n.kind === "logit" ? "" : " \u00b7 influence " + fmt(n.inf, 4))));
    var page = (D.pages || {})[String(i)];
    if (page) featurePage(panel, page);
    if (g.tinyInterpQK && D.qk && D.qk[String(i)]) g.tinyInterpQK.panel(panel, D.qk[String(i)]);
    edgeList(panel, D, idx.ins[i], 0, "Strongest inputs", select);
    edgeList(panel, D, idx.outs[i], 1, "Strongest outputs", select);
  }

  function mount(id) {
    var el = document.getElementById(id), src = document.getElementById(id + "-data");
    if (!el || !src || el.getAttribute("data-ti-mounted")) return;
    el.setAttribute("data-ti-mounted", "1");
    el.__tiGraph = render(el, JSON.parse(src.textContent));
  }

  g.tinyInterpGraph = { render: render, mount: mount, version: 1 };
})();
