// Progressive enhancement only: every page works without this file.
// On an experiment page, refresh the live participant counts every few
// seconds from /x/<key>/live.json (the session cookie authenticates it).
(function () {
  "use strict";
  var section = document.getElementById("live");
  if (!section || !window.fetch) { return; }
  var url = section.getAttribute("data-url");
  var status = document.getElementById("live-status");
  var every = 5000;
  var format = new Intl.NumberFormat("en-US");

  function show(text) { if (status) { status.textContent = text; } }

  function refresh() {
    if (document.hidden) { return schedule(); }
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (answer) {
        if (answer.status === 401) { show("Logged out: reload the page to log in again."); return null; }
        if (!answer.ok) { throw new Error(String(answer.status)); }
        return answer.json();
      })
      .then(function (body) {
        if (!body) { return; }
        var cells = section.querySelectorAll("td.live-participants");
        for (var i = 0; i < cells.length; i++) {
          var n = body.participants[cells[i].getAttribute("data-variation")];
          if (typeof n === "number") { cells[i].textContent = format.format(n); }
        }
        show("Updated " + new Date().toLocaleTimeString() + ".");
        schedule();
      })
      .catch(function () { show("Live update failed; retrying."); schedule(); });
  }

  function schedule() { window.setTimeout(refresh, every); }
  schedule();
})();
