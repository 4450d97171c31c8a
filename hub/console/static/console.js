// The console's live updates: /events says "change" when stock, orders or
// stores change, and the page's main part is fetched again and swapped in,
// unless the operator is typing in one of its forms (then at the next
// change after they leave it).
"use strict";
(function () {
  var live = document.getElementById("live");
  var main = document.getElementById("main");
  var pending = false;
  var busy = false;

  function editing() {
    var el = document.activeElement;
    return el && el !== document.body && main.contains(el) && /^(INPUT|SELECT|TEXTAREA)$/.test(el.tagName);
  }

  function refresh() {
    if (busy || editing()) {
      pending = true;
      return;
    }
    busy = true;
    pending = false;
    fetch(location.href, { credentials: "same-origin", redirect: "manual" })
      .then(function (resp) {
        if (resp.type === "opaqueredirect" || resp.status === 401) {
          location.assign("/login");
          return null;
        }
        return resp.ok ? resp.text() : null;
      })
      .then(function (html) {
        if (!html) return;
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("main");
        if (fresh) {
          main.innerHTML = fresh.innerHTML;
          document.body.dataset.refreshed = String(Number(document.body.dataset.refreshed || 0) + 1);
        }
      })
      .finally(function () {
        busy = false;
        if (pending) refresh();
      });
  }

  main.addEventListener("focusout", function () {
    if (pending) setTimeout(refresh, 0);
  });

  var events = new EventSource("/events");
  var opened = false;
  events.onopen = function () {
    live.classList.add("on");
    // After a reconnect (a hub restarted), changes may have been missed.
    if (opened) refresh();
    opened = true;
  };
  events.onerror = function () { live.classList.remove("on"); };
  events.addEventListener("change", refresh);
})();
