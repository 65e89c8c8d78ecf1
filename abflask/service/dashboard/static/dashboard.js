// Progressive enhancement only: every page works without this file.
// On an experiment page, every few seconds while the tab is visible, fetch
// the live participant counts (/x/<key>/live.json) and the results section
// (/x/<key>/results.html: the same HTML the server put in the page) and put
// them in place. A hidden tab asks for nothing; it refreshes when shown again.
(function () {
  "use strict";
  var live = document.getElementById("live");
  var results = document.getElementById("results");
  if ((!live && !results) || !window.fetch) { return; }
  var status = document.getElementById("live-status");
  var every = 5000;
  var timer = null;
  var busy = false;
  var shown = null;
  var format = new Intl.NumberFormat("en-US");

  function show(text) { if (status) { status.textContent = text; } }

  function get(url, type) {
    return fetch(url, { credentials: "same-origin", headers: { "Accept": type } })
      .then(function (answer) {
        if (answer.status === 401) { throw new Error("logged out"); }
        if (!answer.ok) { throw new Error(String(answer.status)); }
        return type === "application/json" ? answer.json() : answer.text();
      });
  }

  function counts(body) {
    var cells = live.querySelectorAll(".live-participants");
    for (var i = 0; i < cells.length; i++) {
      var n = body.participants[cells[i].getAttribute("data-variation")];
      if (typeof n === "number") { cells[i].textContent = format.format(n); }
    }
  }

  function section(html) {
    // Only a change is swapped in: a reader's selection survives otherwise.
    if (html !== shown) {
      results.innerHTML = html;
      shown = html;
    }
  }

  function refresh() {
    timer = null;
    if (document.hidden || busy) { return; }
    busy = true;
    var asks = [];
    if (live) { asks.push(get(live.getAttribute("data-url"), "application/json").then(counts)); }
    if (results) { asks.push(get(results.getAttribute("data-url"), "text/html").then(section)); }
    Promise.all(asks)
      .then(function () { show("Updated " + new Date().toLocaleTimeString() + "."); schedule(); })
      .catch(function (error) {
        if (error.message === "logged out") {
          show("Logged out: reload the page to log in again.");
          return;
        }
        show("Live update failed; retrying.");
        schedule();
      })
      .then(function () { busy = false; });
  }

  function schedule() {
    if (timer === null && !document.hidden) { timer = window.setTimeout(refresh, every); }
  }

  document.addEventListener("visibilitychange", function () {
    if (document.hidden) {
      if (timer !== null) { window.clearTimeout(timer); timer = null; }
    } else if (timer === null && !busy) {
      refresh();
    }
  });
  schedule();
})();
