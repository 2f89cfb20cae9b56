// The maps of every page, over the vendored Leaflet (/static/vendor/leaflet): the project's
// own layers from /map (area outlines, grid cells when zoomed in), a tile service only when
// the operator configured one (data-tiles). Nothing here reaches beyond the app's origin.
(function () {
  "use strict";
  var CELL_ZOOM = 15, COMPONENT_ZOOM = 17;

  function json(url) {
    return fetch(url, {credentials: "same-origin"}).then(function (r) {
      return r.ok ? r.json() : Promise.reject(r.status);
    });
  }

  function create(el, options) {
    var opts = options || {};
    var zh = document.documentElement.lang !== "en";
    var map = L.map(el, {attributionControl: false, zoomControl: false, zoomSnap: 0.25});
    L.control.zoom({zoomInTitle: zh ? "放大" : "Zoom in", zoomOutTitle: zh ? "缩小" : "Zoom out"}).addTo(map);
    map.setView([39.915, 116.41], 13);
    if (el.dataset.tiles) {
      L.control.attribution({prefix: false}).addTo(map);
      L.tileLayer(el.dataset.tiles, {attribution: el.dataset.attribution || "", maxZoom: 19}).addTo(map);
    }
    var outlines = L.geoJSON(null, {
      style: {color: "#37474f", weight: 1.5, fill: false},
      onEachFeature: function (f, layer) {
        if (f.properties.name) layer.bindTooltip(f.properties.name, {sticky: true});
      },
    }).addTo(map);
    var cells = L.geoJSON(null, {style: {color: "#90a4ae", weight: 0.6, fill: false}, interactive: false}).addTo(map);
    var mark = L.geoJSON(null, {style: {color: "#c62828", weight: 2, fillOpacity: 0.12}, interactive: false}).addTo(map);
    var url = opts.areasUrl || "/map/areas.geojson?level=" + (opts.level || "street");
    var ready = opts.level === false ? Promise.resolve().then(function () { el.dataset.ready = "1"; }) : json(url).then(function (data) {
      outlines.addData(data);
      var b = outlines.getBounds();
      map.invalidateSize();  // the page may have laid the box out again since the map began
      if (!opts.keepView && b.isValid()) map.fitBounds(b, {animate: false});
      if (opts.onAreas) opts.onAreas(data, outlines);
      el.dataset.ready = "1";
    });
    function loadCells() {
      if (opts.cells === false) return;
      if (map.getZoom() < CELL_ZOOM) { cells.clearLayers(); return; }
      var b = map.getBounds();
      var box = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map(function (v) { return v.toFixed(5); });
      json("/map/cells.geojson?bbox=" + box.join(",")).then(function (d) {
        cells.clearLayers();
        cells.addData(d);
      }).catch(function () {});
    }
    map.on("moveend", loadCells);
    // Components (部件) when zoomed in close, a colour per major class; a click on one calls
    // opts.onComponent(properties, lon, lat).
    var parts = L.layerGroup().addTo(map);
    var PART_COLOURS = {"01": "#6a1b9a", "02": "#00838f", "03": "#5d4037", "04": "#2e7d32", "05": "#ad1457", "06": "#455a64"};
    // The legend: a colour per major class of the components in view (names from the data).
    var legend = null, legendBox = null;
    function showLegend(features) {
      var majors = {};
      features.forEach(function (f) { majors[f.properties.class_code.slice(0, 2)] = f.properties.major_name; });
      var codes = Object.keys(majors).sort();
      if (!codes.length) { if (legend) { legend.remove(); legend = null; } return; }
      if (!legend) {
        legend = L.control({position: "bottomright"});
        legend.onAdd = function () {
          legendBox = L.DomUtil.create("div", "map-legend");
          legendBox.style.cssText = "background:#fff;padding:.3rem .5rem;border-radius:4px;font-size:12px;line-height:1.5";
          return legendBox;
        };
        legend.addTo(map);
      }
      legendBox.textContent = "";
      codes.forEach(function (code) {
        var row = L.DomUtil.create("div", "", legendBox);
        var dot = L.DomUtil.create("span", "", row);
        dot.style.cssText = "display:inline-block;width:10px;height:10px;border-radius:50%;margin-right:.3rem;background:" + (PART_COLOURS[code] || "#455a64");
        row.appendChild(document.createTextNode(majors[code] || code));
      });
    }
    function loadComponents() {
      if (!opts.components) return;
      if (map.getZoom() < COMPONENT_ZOOM) { parts.clearLayers(); showLegend([]); return; }
      var b = map.getBounds();
      var box = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map(function (v) { return v.toFixed(5); });
      json("/map/components.geojson?bbox=" + box.join(",")).then(function (d) {
        parts.clearLayers();
        showLegend(d.features);
        d.features.forEach(function (f) {
          var p = f.properties, c = f.geometry.coordinates;
          var m = L.circleMarker([c[1], c[0]], {radius: 5, weight: 2, color: "#fff", fillOpacity: 1,
            fillColor: PART_COLOURS[p.class_code.slice(0, 2)] || "#455a64", className: "component component-" + p.id});
          if (opts.componentText) m.bindTooltip(opts.componentText(p));
          if (opts.onComponent) m.on("click", function (e) { L.DomEvent.stopPropagation(e); opts.onComponent(p, c[0], c[1]); });
          m.addTo(parts);
        });
      }).catch(function () {});
    }
    map.on("moveend", loadComponents);
    var pin = null;
    return {
      map: map,
      ready: ready,
      outlines: outlines,
      // The one draggable point of a form; onMove(lon, lat) after every drag or click.
      pin: function (lon, lat, onMove) {
        var at = [lat, lon];
        if (!pin) {
          pin = L.marker(at, {draggable: !!onMove, keyboard: true}).addTo(map);
          if (onMove) pin.on("dragend", function () { var p = pin.getLatLng(); onMove(p.lng, p.lat); });
        } else {
          pin.setLatLng(at);
        }
        return pin;
      },
      // A click on the map places the pin there (making it if need be), then onMove(lon, lat).
      placeOnClick: function (onMove) {
        var self = this;
        map.on("click", function (e) {
          self.pin(e.latlng.lng, e.latlng.lat, onMove);
          onMove(e.latlng.lng, e.latlng.lat);
        });
      },
      // Outline one cell (GeoJSON geometry), or none.
      markCell: function (geometry) {
        mark.clearLayers();
        if (geometry) mark.addData(geometry);
      },
      focus: function (lon, lat, zoom) { map.setView([lat, lon], zoom || 17); },
    };
  }

  function locate(lon, lat) {
    return json("/map/locate?lon=" + lon.toFixed(6) + "&lat=" + lat.toFixed(6));
  }

  window.HotlineMap = {create: create, locate: locate, json: json};
})();
