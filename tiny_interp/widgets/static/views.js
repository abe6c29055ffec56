/* tiny-interp notebook views: the entry point of the views bundle. common.js, heads.js and one view_<kind>.js per
   view come before this file (render.VIEW_FILES); it draws a view's JSON with the view its kind names and mounts
   the views a static page queued before the bundle arrived. */
(function () {
  "use strict";
  var g = typeof window !== "undefined" ? window : globalThis, L = g.tinyInterpLib;
  if (g.tinyInterpViews) return;
  var h = L.h, clear = L.clear;

  function render(el, data, hooks) {
    clear(el);
    var root = h("div", "ti-root");
    el.appendChild(root);
    var view = L.kinds[data && data.kind];
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
