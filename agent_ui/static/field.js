// The field form's position: the phone's GPS, typed, or corrected on the map by dragging the
// marker or tapping; each change names the street, community and grid cell, or, outside the
// grid, offers the nearest cell. Nothing typed is lost: the form is only filled, never reset.
(function () {
  "use strict";
  var T = window.FIELD_TEXTS;
  var lat = document.getElementById("lat"), lon = document.getElementById("lon");
  var place = document.getElementById("map-place"), nearestButton = document.getElementById("map-nearest");
  var fill = function (text, values) {
    return text.replace(/\{(\w+)\}/g, function (_, k) { return values[k] == null ? "" : values[k]; });
  };
  var component = document.getElementById("component-id"), chosen = document.getElementById("component-chosen");
  var classes = document.querySelector("select[name=kind_code]");
  var view = HotlineMap.create(document.getElementById("field-map"), {
    level: "community",
    components: true,
    componentText: function (p) { return fill(T.component, p); },
    onComponent: function (p, x, y) {  // the report is about this component
      component.value = p.id;
      chosen.textContent = fill(T.component, p);
      classes.value = "component:" + p.class_code;
      view.pin(x, y, moved);
      lon.value = x.toFixed(6);
      lat.value = y.toFixed(6);
      show(x, y);
    },
  });
  var nearest = null, outside = false;  // outside: the last point looked up is off the grid
  view.placeOnClick(function (x, y) { moved(x, y); });

  var asked = 0;  // only the latest lookup is shown (answers may come back out of order)

  function show(x, y) {
    var mine = ++asked;
    place.setAttribute("aria-busy", "true");  // the old text stays: nothing moves under a finger
    HotlineMap.locate(x, y).then(function (found) {
      if (mine !== asked) return;
      place.removeAttribute("aria-busy");
      nearestButton.hidden = true;
      outside = !found.cell && !!found.nearest;
      if (found.cell) {
        place.textContent = fill(T.in_cell, {street: found.street_name, community: found.community_name, cell: found.cell});
        place.className = "";
        view.markCell(found.geometry);
      } else if (found.nearest) {
        nearest = found.nearest;
        place.textContent = fill(T.outside, {street: nearest.street_name, community: nearest.community_name, metres: nearest.distance_m});
        place.className = "error";
        view.markCell(nearest.geometry);
        nearestButton.hidden = false;
      }
    }).catch(function () { outside = false; place.textContent = T.failed; place.className = "error"; });
  }

  function moved(x, y) {
    component.value = "";  // moved off the component
    chosen.textContent = "";
    lon.value = x.toFixed(6);
    lat.value = y.toFixed(6);
    show(x, y);
  }

  function fromInputs(focus) {
    var x = parseFloat(lon.value), y = parseFloat(lat.value);
    if (!isFinite(x) || !isFinite(y)) return;
    view.pin(x, y, moved);
    if (focus) view.focus(x, y);
    show(x, y);
  }

  function useNearest(x, y) {
    moved(x, y);
    view.pin(x, y, moved);
    view.focus(x, y);
  }

  // A point known to lie outside the grid is not sent: the server would refuse it, and the
  // chosen photo would have to be chosen again.
  document.getElementById("field-form").addEventListener("submit", function (e) {
    if (outside) {
      e.preventDefault();
      place.scrollIntoView({block: "center"});
    }
  });

  nearestButton.onclick = function () { if (nearest) useNearest(nearest.lon, nearest.lat); };
  var offered = document.getElementById("use-nearest");
  if (offered) offered.onclick = function () { useNearest(parseFloat(offered.dataset.lon), parseFloat(offered.dataset.lat)); };
  lat.addEventListener("change", function () { fromInputs(true); });
  lon.addEventListener("change", function () { fromInputs(true); });

  document.getElementById("locate").onclick = function () {
    var out = document.getElementById("gps");
    if (!navigator.geolocation) { out.textContent = T.no_gps; return; }
    out.textContent = "…";
    navigator.geolocation.getCurrentPosition(function (p) {
      out.textContent = "±" + Math.round(p.coords.accuracy) + " m";
      moved(p.coords.longitude, p.coords.latitude);
      view.pin(p.coords.longitude, p.coords.latitude, moved);
      view.focus(p.coords.longitude, p.coords.latitude);
    }, function (e) { out.textContent = e.message; }, {enableHighAccuracy: true, timeout: 10000});
  };

  view.ready.then(function () {
    if (lon.value && lat.value) { fromInputs(true); return; }
    var c = view.map.getCenter();  // no point yet: a marker to drag from the map's centre
    view.pin(c.lng, c.lat, moved);
  });
})();
