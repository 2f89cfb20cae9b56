// The case list's map: the filtered cases (the list's own query) as symbols by state, a red
// ring when overdue; or, asked for or when there are too many, counts per grid cell.
(function () {
  "use strict";
  var C = window.CASES_MAP;
  var COLOURS = {received: "#1565c0", registered: "#1565c0", escalated: "#1565c0", returned: "#1565c0",
    dispatched: "#ef6c00", in_progress: "#ef6c00", rework: "#ef6c00", handled: "#2e7d32", verified: "#2e7d32"};
  var box = document.getElementById(C.el || "cases-map");
  var view = HotlineMap.create(box, {level: "street"});
  var layer = L.layerGroup().addTo(view.map);
  var note = document.getElementById("cases-map-note");

  function shade(count, top) {
    var a = Math.min(0.85, 0.15 + 0.7 * count / Math.max(top, 1));
    return {color: "#b71c1c", weight: 0.5, fillColor: "#d32f2f", fillOpacity: a};
  }

  var mode = C.by || "points", asked = 0;

  // Counted: per street when zoomed out, per community, then per cell in the visible box.
  function level() {
    var z = view.map.getZoom();
    return z < 13.5 ? "street" : z < 15 ? "community" : "cell";
  }

  function draw(by) {
    mode = by;
    var url = C.url + (C.url.indexOf("?") < 0 ? "?" : "&");
    if (by !== "points") {
      var l = level(), b = view.map.getBounds();
      url += "by=" + l;
      if (l === "cell") url += "&bbox=" + [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map(function (v) { return v.toFixed(5); }).join(",");
    }
    var mine = ++asked;
    HotlineMap.json(url).then(function (data) {
      if (mine !== asked) return;
      layer.clearLayers();
      var cells = !!data.by;
      if (note) note.hidden = !(cells && by === "points");
      var top = 0;
      data.features.forEach(function (f) { top = Math.max(top, f.properties.count || 0); });
      L.geoJSON(data, {
        style: function (f) { return shade(f.properties.count, top); },
        pointToLayer: function (f, at) {
          var p = f.properties;
          return L.circleMarker(at, {
            radius: p.overdue ? 8 : 6, weight: p.overdue ? 3 : 1,
            color: p.overdue ? "#c62828" : "#263238",
            fillColor: COLOURS[p.state] || "#9e9e9e", fillOpacity: 0.9,
            className: "case-dot" + (p.overdue ? " overdue" : ""),
          });
        },
        onEachFeature: function (f, l) {
          var p = f.properties;
          if (p.number) {
            l.bindTooltip(p.number + " · " + p.class_name + " · " + p.state_name);
            l.on("click", function () { window.location.href = "/cases/" + p.number; });
          } else {
            l.bindTooltip(p.name ? C.area.replace("{name}", p.name).replace("{count}", p.count) : C.count.replace("{cell}", p.code).replace("{count}", p.count));
          }
        },
      }).addTo(layer);
      box.dataset.shown = String(data.features.length);
    }).catch(function () {});
  }

  document.querySelectorAll("[data-map-by]").forEach(function (b) {
    b.addEventListener("click", function () {
      document.querySelectorAll("[data-map-by]").forEach(function (o) { o.setAttribute("aria-pressed", String(o === b)); });
      draw(b.dataset.mapBy);
    });
  });
  view.map.on("moveend", function () { if (mode !== "points") draw(mode); });
  view.ready.then(function () { draw(mode); });
})();
