// The filter bar: a preset clears custom dates, a custom date switches the preset; metric search.
(function () {
  "use strict";
  document.querySelectorAll("form.filters").forEach(function (form) {
    var range = form.querySelector("[name=range]");
    var start = form.querySelector("[name=from]");
    var end = form.querySelector("[name=to]");
    if (range) {
      range.addEventListener("change", function () { if (start) { start.value = ""; } if (end) { end.value = ""; } });
    }
    [start, end].forEach(function (input) {
      if (input) { input.addEventListener("change", function () { if (range) { range.disabled = true; } }); }
    });
    form.addEventListener("submit", function () {
      form.querySelectorAll("input, select").forEach(function (el) { if (el.value === "" && el.name) { el.disabled = true; } });
    });
  });
  document.querySelectorAll("[data-filter-list]").forEach(function (input) {
    var list = document.getElementById(input.getAttribute("data-filter-list"));
    input.addEventListener("input", function () {
      var needle = input.value.toLowerCase();
      Array.prototype.forEach.call(list.options, function (opt) {
        opt.hidden = needle && opt.text.toLowerCase().indexOf(needle) === -1 && !opt.selected;
      });
    });
  });
})();
