// Draws every chart on the page from its JSON data block (no inline scripts, so CSP holds).
// base.html loads this on every page; Plotly itself (served from our own static files) is only
// fetched when the page has a chart.
(function () {
  "use strict";
  var me = document.currentScript;
  function draw(el) {
    var dataEl = document.getElementById(el.getAttribute("data-chart"));
    if (!dataEl) { return; }
    var fig = JSON.parse(dataEl.textContent);
    var config = Object.assign({ responsive: true, displaylogo: false }, fig.config || {});
    Plotly.newPlot(el, fig.data || [], fig.layout || {}, config).then(function () {
      el.setAttribute("data-drawn", "1");
    });
    el.on("plotly_click", function (ev) {
      var point = ev && ev.points && ev.points[0];
      var url = point && (Array.isArray(point.customdata) ? point.customdata[0] : point.customdata);
      if (typeof url === "string" && url.charAt(0) === "/") { window.location.href = url; }
    });
  }
  function init() {
    var charts = document.querySelectorAll("[data-chart]");
    if (!charts.length) { return; }
    if (typeof Plotly !== "undefined") { charts.forEach(draw); return; }
    var script = document.createElement("script");
    script.src = me.getAttribute("data-plotly");
    script.onload = function () { charts.forEach(draw); };
    document.head.appendChild(script);
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
})();
