// The stations map: Leaflet (vendored) drawn on the district's outline and grid polygons
// (GeoJSON the console serves, data-areas), no tile server unless the console's settings name
// one (data-tiles). Each station is a circle on top, green when open now; its popup says what
// is free now. All data comes from the page's data-* attributes and the console's own origin,
// so no inline script is needed under the Content Security Policy. Popups are built as DOM
// nodes with textContent: station names never become HTML.
(function () {
  "use strict";
  var element = document.getElementById("stations-map");
  if (!element || typeof L === "undefined") {
    return;
  }
  var stations = JSON.parse(element.getAttribute("data-stations") || "[]");
  var words = JSON.parse(element.getAttribute("data-labels") || "{}");
  var tiles = element.getAttribute("data-tiles");
  // No fade on popups: a popup is readable (and its link at full contrast) the moment it opens,
  // which also spares readers who ask for reduced motion.
  var map = L.map(element, {
    attributionControl: Boolean(tiles),
    zoomSnap: 0.25,
    fadeAnimation: false
  });
  if (tiles) {
    L.tileLayer(tiles, {
      maxZoom: 18,
      attribution: element.getAttribute("data-attribution") || ""
    }).addTo(map);
  }
  // Stations above the areas whatever order the two arrive in.
  map.createPane("stations").style.zIndex = 450;

  var AREA_STYLES = {
    district: { color: "#23395d", weight: 2.5, fillColor: "#dfe8f1", fillOpacity: 0.55 },
    community: { color: "#5b6b7d", weight: 1.5, fillColor: "#c7d7e6", fillOpacity: 0.45 },
    grid: { color: "#5b6b7d", weight: 1, dashArray: "4 3", fillOpacity: 0 },
    micro_grid: { color: "#8896a5", weight: 0.6, dashArray: "2 3", fillOpacity: 0 }
  };

  function areaStyle(feature) {
    var level = (feature.properties && feature.properties.level) || "grid";
    var style = L.extend({}, AREA_STYLES[level] || AREA_STYLES.grid);
    style.className = "area area-" + level;
    return style;
  }

  function line(parent, text) {
    var row = document.createElement("div");
    row.textContent = text;
    parent.appendChild(row);
  }

  function popup(s) {
    var box = document.createElement("div");
    var name = document.createElement("strong");
    name.textContent = s.name;
    box.appendChild(name);
    line(box, s.open ? words.open_now : words.closed_now);
    line(box, words.free_beds + ": " + s.beds[0] + " / " + s.beds[1]);
    line(box, words.free_parking + ": " + s.parking[0] + " / " + s.parking[1]);
    var link = document.createElement("a");
    link.href = "/stations/" + encodeURIComponent(s.id);
    link.textContent = words.details;
    box.appendChild(link);
    return box;
  }

  // Leaflet sets a string tooltip as HTML: a station's name (which its own staff may edit)
  // goes in as text only.
  function label(text) {
    var span = document.createElement("span");
    span.textContent = text;
    return span;
  }

  var bounds = [];
  stations.forEach(function (s) {
    var point = [s.lat, s.lng];
    bounds.push(point);
    L.circleMarker(point, {
      pane: "stations",
      className: "station-marker",
      radius: 7,
      weight: 2,
      color: s.open ? "#1e6b34" : "#a4161a",
      fillOpacity: 0.75
    })
      .bindTooltip(label(s.name))
      .bindPopup(popup(s))
      .addTo(map);
  });
  if (bounds.length) {
    map.fitBounds(bounds, { padding: [30, 30], maxZoom: 14 });
  }

  var areas = element.getAttribute("data-areas");
  if (!areas) {
    return;
  }
  fetch(areas, { credentials: "same-origin", headers: { Accept: "application/geo+json" } })
    .then(function (answer) {
      return answer.ok ? answer.json() : null;
    })
    .then(function (shapes) {
      if (!shapes) {
        return;
      }
      var layer = L.geoJSON(shapes, { style: areaStyle, interactive: false });
      if (!bounds.length) {
        map.fitBounds(layer.getBounds(), { padding: [10, 10] });
      }
      layer.addTo(map);
      element.setAttribute("data-areas-drawn", String(layer.getLayers().length));
    });
})();
