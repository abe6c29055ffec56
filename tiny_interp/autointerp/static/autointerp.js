// tiny-interp auto-interpretation table: a search box over unit explanations. Text is placed with textContent only.
(function () {
  if (window.tinyInterpAutointerp) return;
  function fmt(x) { return x === null || x === undefined ? "-" : Number(x).toFixed(2); }
  function cell(tr, text, cls) { var td = document.createElement("td"); td.textContent = text; if (cls) td.className = cls; tr.appendChild(td); return td; }
  function render(root, data) {
    root.textContent = "";
    var box = document.createElement("input");
    box.type = "search"; box.className = "ti-ai-search"; box.placeholder = "search explanations (e.g. animals, sadness)";
    box.style.cssText = "width:28em;padding:3px 6px;margin:4px 0";
    var count = document.createElement("span"); count.className = "ti-ai-count"; count.style.marginLeft = "1em";
    var table = document.createElement("table"); table.className = "ti-ai-table";
    table.style.cssText = "border-collapse:collapse;font:13px sans-serif;margin-top:4px";
    var head = document.createElement("tr");
    ["unit", "explanation", "by", "detection", "fuzzing"].forEach(function (h) { var th = document.createElement("th"); th.textContent = h; th.style.cssText = "text-align:left;padding:2px 8px;border-bottom:1px solid #999"; head.appendChild(th); });
    table.appendChild(head);
    var rows = data.rows.map(function (r) {
      var tr = document.createElement("tr"); tr.className = "ti-ai-row";
      cell(tr, r.unit); cell(tr, r.explanation, "ti-ai-expl"); cell(tr, r.explainer + " / " + r.scorer);
      cell(tr, fmt(r.detection)); cell(tr, fmt(r.fuzzing));
      Array.prototype.forEach.call(tr.children, function (td) { td.style.padding = "2px 8px"; });
      table.appendChild(tr);
      return { tr: tr, text: (r.unit + " " + r.explanation).toLowerCase() };
    });
    function filter() {
      var words = box.value.toLowerCase().split(/\W+/).filter(function (w) { return w.length > 0; });
      var shown = 0;
      rows.forEach(function (row) {
        var ok = words.every(function (w) { return row.text.indexOf(w) >= 0; });
        row.tr.style.display = ok ? "" : "none"; if (ok) shown++;
      });
      count.textContent = shown + " of " + rows.length + " units";
    }
    box.addEventListener("input", filter);
    var title = document.createElement("div"); title.textContent = data.title; title.style.fontWeight = "bold";
    root.appendChild(title); root.appendChild(box); root.appendChild(count); root.appendChild(table);
    if (data.query) box.value = data.query;
    filter();
  }
  function boot() {
    document.querySelectorAll("div.ti-ai[data-pending]").forEach(function (el) {
      el.removeAttribute("data-pending");
      render(el, JSON.parse(document.getElementById(el.id + "-data").textContent));
    });
  }
  window.tinyInterpAutointerp = { render: render, boot: boot };
})();
window.tinyInterpAutointerp.boot();
