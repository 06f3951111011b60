// Shenfen — Web Push opt-in on the notification centre. Shows the section only where the browser can receive
// push messages; subscribes with the server's VAPID key and sends the subscription to the server.
(function () {
  'use strict';
  var box = document.getElementById('push-optin');
  if (!box || !('serviceWorker' in navigator) || !('PushManager' in window) || !window.Notification || !window.fetch) { return; }
  if (Notification.permission === 'denied') { return; }
  var button = document.getElementById('push-on');
  var status = document.getElementById('push-status');
  box.hidden = false;

  function applicationServerKey(b64) {
    var s = (b64 + '===='.slice(0, (4 - b64.length % 4) % 4)).replace(/-/g, '+').replace(/_/g, '/');
    var raw = window.atob(s);
    var out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) { out[i] = raw.charCodeAt(i); }
    return out;
  }

  function send(sub) {
    return fetch(box.getAttribute('data-endpoint'), {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'Accept': 'application/json' },
      body: JSON.stringify(sub)
    }).then(function (r) { if (!r.ok) { throw new Error('HTTP ' + r.status); } });
  }

  function on() {
    status.textContent = status.getAttribute('data-on');
    button.hidden = true;
  }

  function failed() {
    button.disabled = false;
    status.textContent = status.getAttribute(Notification.permission === 'denied' ? 'data-denied' : 'data-failed');
  }

  // Already subscribed on this device: say so (and refresh the server's copy).
  navigator.serviceWorker.getRegistration('/').then(function (reg) {
    if (!reg) { return; }
    return reg.pushManager.getSubscription().then(function (sub) { if (sub) { return send(sub).then(on); } });
  }).catch(function () { /* the button stays */ });

  button.addEventListener('click', function () {
    button.disabled = true;
    navigator.serviceWorker.register('/sw.js', { scope: '/' })
      .then(function () { return navigator.serviceWorker.ready; })
      .then(function (reg) {
        return reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: applicationServerKey(box.getAttribute('data-key')) });
      })
      .then(send)
      .then(on)
      .catch(failed);
  });
})();
