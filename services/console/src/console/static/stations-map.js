// The stations map: Leaflet (vendored) with no tile server, each station a circle at its
// location, coloured by whether it is open now. Data comes from the page (data-stations), so no
// inline script is needed under the console's Content Security Policy.
(function () {
  "use strict";
  var element = document.getElementById("stations-map");
  if (!element || typeof L === "undefined") {
    return;
  }
  var stations = JSON.parse(element.getAttribute("data-stations") || "[]");
  if (!stations.length) {
    element.hidden = true;
    return;
  }
  var map = L.map(element, { attributionControl: false, zoomSnap: 0.25 });
  var bounds = [];
  stations.forEach(function (s) {
    var point = [s.lat, s.lng];
    bounds.push(point);
    L.circleMarker(point, {
      radius: 8,
      weight: 2,
      color: s.open ? "#1e6b34" : "#a4161a",
      fillOpacity: 0.6
    }).bindTooltip(s.name).addTo(map);
  });
  map.fitBounds(bounds, { padding: [30, 30], maxZoom: 14 });
})();
