// Shenfen — acceptance-point list and heat map: "use my location" and a live refresh every 15 s.
// Progressive enhancement only: without this file the page works (district chooser, server-rendered list/map).
(function () {
  'use strict';

  // ----- use my location (WGS-84 from the browser; the server converts to GCJ-02) -----
  var geoForm = document.getElementById('geo-form');
  if (geoForm && 'geolocation' in navigator) {
    geoForm.hidden = false;
    var button = document.getElementById('geo-button');
    var status = document.getElementById('geo-status');
    button.addEventListener('click', function () {
      status.textContent = geoForm.dataset.locating;
      button.disabled = true;
      navigator.geolocation.getCurrentPosition(function (pos) {
        document.getElementById('geo-lat').value = pos.coords.latitude.toFixed(6);
        document.getElementById('geo-lng').value = pos.coords.longitude.toFixed(6);
        geoForm.submit();
      }, function () {
        button.disabled = false;
        status.textContent = geoForm.dataset.denied;
        var district = document.getElementById('district');
        if (district) { district.focus(); }
      }, { enableHighAccuracy: false, timeout: 15000, maximumAge: 300000 });
    });
  }

  // ----- live refresh of the list and the map -----
  var list = document.getElementById('points-list');
  if (!list || !window.fetch) { return; }
  var live = document.getElementById('live-status');
  var d = list.dataset;

  function waitText(minutes) {
    if (minutes === null || minutes === undefined) { return d.waitNone; }
    if (minutes === 0) { return d.waitZero; }
    return d.waitAbout.replace('{n}', String(minutes));
  }

  function set(card, field, text) {
    var el = card.querySelector('[data-field="' + field + '"]');
    if (el && el.textContent !== text) { el.textContent = text; }
  }

  function levelLabel(level) { return d['level' + level.charAt(0).toUpperCase() + level.slice(1)] || level; }
  function statusLabel(st) { return d['status' + st.charAt(0).toUpperCase() + st.slice(1)] || st; }

  function apply(points) {
    points.forEach(function (p) {
      var l = p.load;
      var card = list.querySelector('li[data-point="' + CSS.escape(p.id) + '"]');
      if (card) {
        set(card, 'booked', String(l.booked_today));
        set(card, 'capacity', String(l.capacity_today));
        set(card, 'waiting', String(l.waiting_now));
        set(card, 'wait', waitText(l.estimated_wait_minutes));
        set(card, 'status', statusLabel(l.status));
        var badge = card.querySelector('[data-field="level"]');
        if (badge) {
          badge.className = 'badge load-' + l.level;
          badge.textContent = levelLabel(l.level);
        }
        var st = card.querySelector('[data-field="status"]');
        if (st) { st.className = 'status status-' + l.status; }
      }
      var dot = document.getElementById('dot-' + p.id);
      if (dot) {
        dot.setAttribute('fill', l.color);
        dot.setAttribute('data-level', l.level);
        var title = dot.querySelector('title');
        if (title) {
          title.textContent = p.name + '：' + levelLabel(l.level) + '，' + d.bookedLabel + ' ' + l.booked_today + '/' + l.capacity_today;
        }
      }
    });
  }

  var paused = false;
  var toggle = document.getElementById('live-toggle');
  if (toggle) {
    toggle.hidden = false;
    toggle.addEventListener('click', function () {
      paused = !paused;
      toggle.textContent = paused ? toggle.dataset.resume : toggle.dataset.pause;
      if (!paused) { refresh(); }
    });
  }

  function refresh() {
    if (document.hidden || paused) { return; }
    fetch(d.api, { headers: { 'Accept': 'application/json' }, credentials: 'same-origin' })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (points) {
        apply(points);
        var now = new Date();
        var hh = String(now.getHours()).padStart(2, '0');
        var mm = String(now.getMinutes()).padStart(2, '0');
        var ss = String(now.getSeconds()).padStart(2, '0');
        // Shown, not announced: a screen reader is not interrupted every 15 s.
        live.textContent = live.dataset.updated + ' ' + hh + ':' + mm + ':' + ss;
        list.dataset.refreshed = String((Number(list.dataset.refreshed) || 0) + 1);
      })
      .catch(function () { /* keep the last figures; try again next time */ });
  }

  window.setInterval(refresh, 15000);
  document.addEventListener('visibilitychange', function () { if (!document.hidden) { refresh(); } });
})();
