// Shenfen service worker: shows Web Push messages (encrypted by the server, decrypted by the browser) as system
// notifications, and opens the page they are about when tapped. Registered by static/push.js when the citizen
// switches push on in the notification centre.
'use strict';

self.addEventListener('push', function (event) {
  var d = {};
  try { d = event.data ? event.data.json() : {}; } catch (e) { d = { body: event.data ? event.data.text() : '' }; }
  event.waitUntil(self.registration.showNotification(d.title || '居民身份证网上服务', {
    body: d.body || '',
    tag: d.id || undefined,
    lang: d.lang || 'zh-CN',
    data: { href: d.href || '/me/notifications' }
  }));
});

self.addEventListener('notificationclick', function (event) {
  event.notification.close();
  var href = (event.notification.data && event.notification.data.href) || '/me/notifications';
  // Same-site paths only.
  if (href.charAt(0) !== '/' || href.charAt(1) === '/') { href = '/me/notifications'; }
  event.waitUntil(self.clients.openWindow(href));
});
