// The desk's map: a click, a dragged marker or a place picked from the gazetteer sets the
// case's point; the street, community and cell are named and the district and grid cell
// filled in; open cases of the chosen class near the point are listed (a likely duplicate),
// each with a button that links the report to it.
(function () {
  "use strict";
  var T = window.DESK_MAP_TEXTS;
  var form = document.getElementById("case-form");
  var place = document.getElementById("map-place");
  var nearbyBox = document.getElementById("nearby"), nearbyList = document.getElementById("nearby-list");
  var fill = function (text, values) {
    return text.replace(/\{(\w+)\}/g, function (_, k) { return values[k] == null ? "" : values[k]; });
  };
  var view = HotlineMap.create(document.getElementById("desk-map"), {
    level: "street",
    components: true,
    componentText: function (p) { return fill(T.component, p); },
    onComponent: function (p, x, y) {  // the case is about this component: class, point, id
      form.elements.kind.value = "component";
      form.elements.class_code.value = p.class_code;
      form.elements.component_id.value = p.id;
      fromMap = true;
      document.getElementById("class-search").value = p.class_name;
      var chosen = document.getElementById("class-chosen");
      chosen.textContent = fill(T.component, p);
      chosen.classList.remove("muted");
      view.pin(x, y, moved);
      set(x, y);
    },
  });
  var others = L.layerGroup().addTo(view.map);

  var askedNearby = 0;

  function nearby() {
    var mine = ++askedNearby;
    var x = parseFloat(form.elements.lon.value), y = parseFloat(form.elements.lat.value);
    var kind = form.elements.kind.value, code = form.elements.class_code.value;
    others.clearLayers();
    nearbyList.textContent = "";
    nearbyBox.hidden = true;
    if (!isFinite(x) || !isFinite(y) || !kind || !code) return;
    HotlineMap.json("/map/nearby?lon=" + x.toFixed(6) + "&lat=" + y.toFixed(6) + "&kind=" + kind + "&class_code=" + code)
      .then(function (cases) {
        if (mine !== askedNearby) return;
        cases.forEach(function (c) {
          var text = fill(T.nearby_item, {number: c.number, state: c.state, metres: c.distance_m, address: c.address});
          var li = document.createElement("li");
          var a = document.createElement("a");
          a.href = "/cases/" + c.number;
          a.target = "_blank";
          a.textContent = text;
          li.appendChild(a);
          var link = document.createElement("button");  // this report repeats that case
          link.type = "button";
          link.className = "small";
          link.dataset.link = c.number;
          link.textContent = T.link;
          link.addEventListener("click", function () { linkTo(c.number); });
          li.appendChild(link);
          nearbyList.appendChild(li);
          L.circleMarker([c.lat, c.lon], {radius: 7, color: "#e65100", fillOpacity: 0.6}).bindTooltip(text).addTo(others);
        });
        nearbyBox.hidden = cases.length === 0;
      }).catch(function () {});
  }

  // A report linked to an open case is registered as its duplicate (重复件): it is
  // recorded and counted, not dispatched; the caller is given the original's number.
  var linked = document.getElementById("linked"), dispatchNow = form.elements.dispatch_now;
  function showLink() {
    var number = form.elements.duplicate_of.value;
    linked.hidden = !number;
    document.getElementById("linked-text").textContent = number ? fill(T.linked, {number: number}) : "";
    if (dispatchNow) { dispatchNow.disabled = !!number; if (number) dispatchNow.checked = false; }
  }
  function linkTo(number) {
    form.elements.duplicate_of.value = number;
    showLink();
    form.dispatchEvent(new Event("input"));  // the draft keeps the link
  }
  document.getElementById("unlink").addEventListener("click", function () { linkTo(""); });
  form.addEventListener("link-duplicate", function (e) { linkTo(e.detail); });  // the screen pop
  showLink();  // a draft brought back from before a reload

  var asked = 0;  // only the latest lookup fills the form (answers may come back out of order)

  function set(x, y) {
    var mine = ++asked;
    form.elements.lon.value = x.toFixed(6);
    form.elements.lat.value = y.toFixed(6);
    HotlineMap.locate(x, y).then(function (found) {
      if (mine !== asked) return;
      if (found.cell) {
        form.elements.district_code.value = found.district;
        form.elements.grid_code.value = found.cell;
        place.textContent = fill(T.in_cell, {street: found.street_name, community: found.community_name, cell: found.cell});
        place.className = "";
        view.markCell(found.geometry);
      } else if (found.nearest) {
        form.elements.grid_code.value = "";
        place.textContent = fill(T.outside, {street: found.nearest.street_name, community: found.nearest.community_name, metres: found.nearest.distance_m});
        place.className = "error";
        view.markCell(found.nearest.geometry);
      }
      form.dispatchEvent(new Event("input"));  // the draft keeps the point
    }).catch(function () { place.textContent = T.failed; place.className = "error"; });
    nearby();
  }

  var fromMap = false;  // the component was picked on the map (not typed from its plate)
  function moved(x, y) {  // moved off a component picked on the map: the case is not about it
    if (fromMap) { form.elements.component_id.value = ""; fromMap = false; }
    set(x, y);
  }
  view.placeOnClick(moved);
  form.addEventListener("place-picked", function (e) {
    var h = e.detail;
    if (h.lon == null || h.lat == null) return;
    view.pin(h.lon, h.lat, moved);
    view.focus(h.lon, h.lat, 16);
    set(h.lon, h.lat);
  });
  form.addEventListener("class-picked", function () { form.elements.component_id.value = ""; nearby(); });
  form.addEventListener("reset", function () {
    others.clearLayers(); nearbyBox.hidden = true; place.textContent = ""; view.markCell(null);
    form.elements.duplicate_of.value = ""; linked.hidden = true;
    if (dispatchNow) dispatchNow.disabled = false;
  });
})();
