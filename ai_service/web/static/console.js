// nocai console: the only script. It keeps the incident queue live by re-fetching its rows as an HTML fragment
// (GET /?fragment=rows with the page's filters) every few seconds. Every page works without it.
(function () {
  "use strict";

  function live(table) {
    var url = table.getAttribute("data-live");
    var every = Math.max(2, parseInt(table.getAttribute("data-every") || "5", 10)) * 1000;
    var body = table.querySelector("tbody");
    var note = document.querySelector("[data-live-note]");
    var busy = false;

    function tick() {
      if (busy || document.hidden) { return; }
      busy = true;
      fetch(url, { credentials: "same-origin", redirect: "manual", headers: { "Accept": "text/html" } })
        .then(function (response) {
          if (response.type === "opaqueredirect" || response.status === 401 || response.status === 403) {
            window.location.reload();  // the session ended: the page itself sends the visitor to sign in
            return null;
          }
          if (!response.ok) { throw new Error("HTTP " + response.status); }
          return response.text();
        })
        .then(function (html) {
          if (html === null) { return; }
          if (body.innerHTML.trim() !== html.trim()) { body.innerHTML = html; }
          if (note) { note.textContent = "Updated " + new Date().toLocaleTimeString(); note.classList.remove("stale"); }
        })
        .catch(function () {
          if (note) { note.textContent = "Not updating: the service did not answer (retrying)"; note.classList.add("stale"); }
        })
        .then(function () { busy = false; });
    }

    window.setInterval(tick, every);
    document.addEventListener("visibilitychange", function () { if (!document.hidden) { tick(); } });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var tables = document.querySelectorAll("table[data-live]");
    for (var i = 0; i < tables.length; i++) { live(tables[i]); }
  });
})();
