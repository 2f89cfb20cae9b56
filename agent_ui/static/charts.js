// Charts from data the page carries: <div data-chart="ID"> with <script type="application/json"
// id="ID"> holding {kind: "bar"|"line", categories, series: [{name, data, kind?}], percent}.
// Apache ECharts is shipped with the app (static/vendor), nothing loads from elsewhere.
(function () {
  "use strict";
  function draw(el) {
    var source = document.getElementById(el.dataset.chart);
    if (!source || !window.echarts) return false;
    var spec = JSON.parse(source.textContent);
    var chart = window.echarts.init(el, null, { renderer: "svg" });
    var unit = spec.percent ? "%" : "";
    chart.setOption({
      animation: false,
      tooltip: { trigger: "axis" },
      legend: { top: 0 },
      grid: { left: 8, right: 8, bottom: 8, top: 32, containLabel: true },
      xAxis: { type: "category", data: spec.categories, axisLabel: { interval: 0, rotate: spec.categories.length > 6 ? 30 : 0 } },
      yAxis: { type: "value", minInterval: spec.percent ? 0 : 1, axisLabel: { formatter: "{value}" + unit }, max: spec.percent ? 100 : null },
      series: spec.series.map(function (s) {
        return { name: s.name, type: s.kind || spec.kind, data: s.data, connectNulls: false };
      }),
    });
    window.addEventListener("resize", function () { chart.resize(); });
    return true;
  }
  var drawn = 0;
  document.querySelectorAll("[data-chart]").forEach(function (el) {
    if (draw(el)) drawn += 1;
  });
  window.hotlineChartsDrawn = drawn;
})();
