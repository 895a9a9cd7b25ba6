// Draws every chart on the page from its JSON data block (no inline scripts, so CSP holds).
(function () {
  "use strict";
  function draw(el) {
    var dataEl = document.getElementById(el.getAttribute("data-chart"));
    if (!dataEl || typeof Plotly === "undefined") { return; }
    var fig = JSON.parse(dataEl.textContent);
    var config = Object.assign({ responsive: true, displaylogo: false }, fig.config || {});
    Plotly.newPlot(el, fig.data || [], fig.layout || {}, config).then(function () {
      el.setAttribute("data-drawn", "1");
    });
    el.on && el.on("plotly_click", function (ev) {
      var point = ev && ev.points && ev.points[0];
      var url = point && (point.customdata && (Array.isArray(point.customdata) ? point.customdata[0] : point.customdata));
      if (typeof url === "string" && url.charAt(0) === "/") { window.location.href = url; }
    });
  }
  function init() { document.querySelectorAll("[data-chart]").forEach(draw); }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
})();
