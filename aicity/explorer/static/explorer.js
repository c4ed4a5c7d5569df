// aicity explorer: draws the page's figure with plotly.js (served by the explorer itself),
// sorts tables by a clicked header, adds series/region inputs, downloads the chart as an image.
(function () {
  "use strict";
  var lang = document.body.getAttribute("data-lang") || "zh";

  function draw() {
    var holder = document.getElementById("figure");
    var chart = document.getElementById("chart");
    if (!holder || !chart || !window.Plotly) { return; }
    var figure = JSON.parse(holder.textContent);
    var config = {responsive: true, displaylogo: false,
                  modeBarButtonsToRemove: ["sendDataToCloud"],
                  toImageButtonOptions: {filename: "aicity-" + chart.getAttribute("data-name")}};
    Plotly.newPlot(chart, figure.data, figure.layout, config).then(function () {
      chart.setAttribute("data-drawn", "1");
    });
    chart.on("plotly_click", function (event) {
      var point = event.points && event.points[0];
      if (point && point.customdata && point.customdata[0] !== undefined) {
        window.location.href = "/region/" + point.customdata[0] + "?lang=" + lang;
      }
    });
    document.querySelectorAll("[data-image]").forEach(function (button) {
      button.addEventListener("click", function () {
        Plotly.downloadImage(chart, {format: button.getAttribute("data-image"),
                                     filename: "aicity-" + chart.getAttribute("data-name")});
      });
    });
  }

  function cellValue(cell) {
    var text = cell.textContent.trim();
    var number = parseFloat(text.replace(/,/g, ""));
    return (text !== "" && !isNaN(number) && /^[-+]?[\d.,]+(e[-+]?\d+)?$/i.test(text))
      ? number : text;
  }

  function sortable(table) {
    table.querySelectorAll("th").forEach(function (th, index) {
      th.addEventListener("click", function () {
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        var down = th.getAttribute("data-sort") !== "asc";
        rows.sort(function (a, b) {
          var x = cellValue(a.cells[index]), y = cellValue(b.cells[index]);
          if (x === "" && y !== "") { return 1; }
          if (y === "" && x !== "") { return -1; }
          var order = (typeof x === "number" && typeof y === "number") ? x - y
            : String(x).localeCompare(String(y), lang === "zh" ? "zh-CN" : "en");
          return down ? order : -order;
        });
        table.querySelectorAll("th").forEach(function (h) { h.removeAttribute("data-sort"); });
        th.setAttribute("data-sort", down ? "asc" : "desc");
        rows.forEach(function (row) { body.appendChild(row); });
      });
    });
  }

  function adders() {
    document.querySelectorAll("[data-add]").forEach(function (button) {
      button.addEventListener("click", function () {
        var inputs = button.parentNode.querySelectorAll("input");
        var copy = inputs[inputs.length - 1].cloneNode();
        copy.value = "";
        button.parentNode.insertBefore(copy, button);
        copy.focus();
      });
    });
  }

  document.querySelectorAll("table.data").forEach(sortable);
  adders();
  draw();
}());
