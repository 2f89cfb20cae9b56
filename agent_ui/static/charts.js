// Charts from data the page carries: <div data-chart="ID"> with <script type="application/json"
// id="ID"> holding {kind: "bar"|"line", categories, series: [{name, data, kind?, right?}],
// percent, right?: {percent}, horizontal?}. A series with right: true reads the second value
// axis (on the right: seconds or a rate beside counts); horizontal draws the bars sideways
// (a ranking, best first from the top).
// Apache ECharts is shipped with the app (static/vendor), nothing loads from elsewhere.
(function () {
  "use strict";
  function valueAxis(percent) {
    return {
      type: "value",
      minInterval: percent ? 0 : 1,
      axisLabel: { formatter: "{value}" + (percent ? "%" : "") },
      max: percent ? 100 : null,
    };
  }
  function draw(el) {
    var source = document.getElementById(el.dataset.chart);
    if (!source || !window.echarts) return false;
    var spec = JSON.parse(source.textContent);
    var chart = window.echarts.init(el, null, { renderer: "svg" });
    var values = [valueAxis(spec.percent)];
    if (spec.right) values.push(Object.assign(valueAxis(spec.right.percent), { splitLine: { show: false } }));
    var categories = {
      type: "category",
      data: spec.categories,
      inverse: !!spec.horizontal,
      axisLabel: spec.horizontal ? {} : { interval: 0, rotate: spec.categories.length > 6 ? 30 : 0 },
    };
    chart.setOption({
      animation: false,
      tooltip: { trigger: "axis" },
      legend: { top: 0 },
      grid: { left: 8, right: 8, bottom: 8, top: 32, containLabel: true },
      xAxis: spec.horizontal ? values : categories,
      yAxis: spec.horizontal ? categories : values,
      series: spec.series.map(function (s) {
        var series = { name: s.name, type: s.kind || spec.kind, data: s.data, connectNulls: false };
        if (s.right) series[spec.horizontal ? "xAxisIndex" : "yAxisIndex"] = 1;
        return series;
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
