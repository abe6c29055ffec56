/* tiny-interp shared helpers for every view bundle (views, features, graph): DOM building that places data with
   textContent only, number and token formatting, colours, SVG elements, and the registry of view kinds that
   views.js renders. Loaded first; other bundles read it as window.tinyInterpLib. */
(function () {
  "use strict";
  var g = typeof window !== "undefined" ? window : globalThis;
  if (g.tinyInterpLib) return;
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
  function svgEl(tag, attrs, text) {
    var e = document.createElementNS(SVG, tag);
    Object.keys(attrs).forEach(function (a) { e.setAttribute(a, attrs[a]); });
    if (text !== undefined) e.textContent = text;
    return e;
  }

  g.tinyInterpLib = {
    SVG: SVG, h: h, clear: clear, bytes: bytes, shown: shown, fmt: fmt, heat: heat, signed: signed, tokenStrip: tokenStrip,
    svgEl: svgEl, CATS: CATS, headHue: headHue, hueRGB: hueRGB, shade: shade, css: css,
    kinds: {}  /* view kind -> function (root, data, hooks) returning the view's handle; each view file adds its own */
  };
})();
