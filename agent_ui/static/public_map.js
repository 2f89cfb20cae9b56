// The public evaluation's map: each district's outline (drawn from its grid cells) shaded by
// the period's registered cases, with its figures in words. No case's location is shown.
(function () {
  "use strict";
  var box = document.getElementById("district-map");
  if (!box || !window.L) return;
  var tips = JSON.parse(document.getElementById(box.dataset.tips).textContent);
  var map = L.map(box, {attributionControl: false}).setView([39.91, 116.41], 12);
  fetch("/public/districts.geojson").then(function (r) { return r.json(); }).then(function (data) {
    var top = 1;
    data.features.forEach(function (f) {
      var d = tips[f.properties.code];
      if (d) top = Math.max(top, d.registered);
    });
    var layer = L.geoJSON(data, {
      style: function (f) {
        return {color: "#1f4e79", weight: 1.5, fillColor: "#1f4e79",
                fillOpacity: 0.1 + 0.6 * ((tips[f.properties.code] || {}).registered || 0) / top};
      },
      onEachFeature: function (f, l) {
        var d = tips[f.properties.code];
        l.bindTooltip(d ? d.tip : f.properties.name, {permanent: true});
      },
    }).addTo(map);
    if (layer.getBounds().isValid()) map.fitBounds(layer.getBounds());
    box.dataset.ready = "1";
  });
})();
