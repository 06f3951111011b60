// Shenfen — live notifications on every signed-in citizen page (included by base.html).
// Progressive enhancement only: without this file (or without EventSource) pages show the state when loaded.
//
// Opens /me/events (server-sent events); for each `notification` event it
//   1. prepends the message into the aria-live="polite" region #live-list (screen readers announce it),
//   2. updates the unread badge in the tab bar,
//   3. dispatches a DOM CustomEvent `shenfen:notification` on document with the event's JSON as `detail`,
//   4. refreshes, from a fresh server rendering of the current URL, every element whose `data-live-subject`
//      names the notification's subject: the value is a prefix of the notification's dedupe key, ending at a
//      `:` boundary (`appointment:42` matches `appointment:42:booked`, not `appointment:421:…`); an empty value
//      matches every notification.
(function () {
  'use strict';
  var region = document.getElementById('live-region');
  if (!region || !window.EventSource || !window.JSON) { return; }
  var list = document.getElementById('live-list');
  var badge = document.getElementById('unread-badge');
  var count = document.getElementById('unread-count');
  var SHOWN = 3;

  function matches(subject, key) {
    if (subject === '') { return true; }
    if (key === subject) { return true; }
    var prefix = subject.charAt(subject.length - 1) === ':' ? subject : subject + ':';
    return key.slice(0, prefix.length) === prefix;
  }

  function announce(d) {
    var li = document.createElement('li');
    li.className = 'live-item';
    li.setAttribute('data-id', d.id);
    var text;
    if (d.href) {
      text = document.createElement('a');
      text.href = d.href;
    } else {
      text = document.createElement('span');
    }
    text.textContent = d.text;
    li.appendChild(text);
    list.insertBefore(li, list.firstChild);
    while (list.children.length > SHOWN) { list.removeChild(list.lastChild); }
  }

  function setUnread(n) {
    if (!badge || !count || typeof n !== 'number') { return; }
    count.textContent = String(n);
    badge.hidden = n <= 0;
  }

  // One refresh at a time; a notification arriving during one asks for another afterwards.
  var refreshing = false;
  var again = false;
  function refresh() {
    if (refreshing) { again = true; return; }
    if (!window.fetch || !window.DOMParser) { return; }
    refreshing = true;
    fetch(window.location.href, { credentials: 'same-origin', headers: { 'Accept': 'text/html' } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) { return; }
        var fresh = new DOMParser().parseFromString(html, 'text/html');
        var focusedId = document.activeElement && document.activeElement.id;
        var olds = document.querySelectorAll('[data-live-subject]');
        var news = fresh.querySelectorAll('[data-live-subject]');
        for (var i = 0; i < olds.length; i++) {
          var subject = olds[i].getAttribute('data-live-subject');
          for (var j = 0; j < news.length; j++) {
            if (news[j].getAttribute('data-live-subject') === subject) {
              olds[i].innerHTML = news[j].innerHTML;
              break;
            }
          }
        }
        // Keep the reader's place: focus returns to the same control when it is still there.
        if (focusedId && document.activeElement === document.body) {
          var back = document.getElementById(focusedId);
          if (back) { back.focus(); }
        }
        document.dispatchEvent(new CustomEvent('shenfen:refreshed'));
      })
      .catch(function () { /* the next notification or a reload shows the state */ })
      .then(function () {
        refreshing = false;
        if (again) { again = false; refresh(); }
      });
  }

  var url = region.getAttribute('data-stream') + '?since=' + encodeURIComponent(region.getAttribute('data-since') || '');
  var source = new EventSource(url);
  source.addEventListener('notification', function (e) {
    var d;
    try { d = JSON.parse(e.data); } catch (err) { return; }
    announce(d);
    setUnread(d.unread);
    document.dispatchEvent(new CustomEvent('shenfen:notification', { detail: d }));
    var subjects = document.querySelectorAll('[data-live-subject]');
    for (var i = 0; i < subjects.length; i++) {
      if (matches(subjects[i].getAttribute('data-live-subject'), d.dedupe_key || '')) { refresh(); break; }
    }
  });
})();
