/* KetaClinic page behaviour (no inline scripts: the CSP forbids them).
   - idle time-out: warns before the server-side limit and offers "Stay signed in";
   - the session timer; print buttons; focus on the first field with an error. */
(function () {
  "use strict";
  var body = document.body;
  // a message carried in the address (?_m=...) is shown once: a reload or a bookmark does not repeat it
  if (window.history && window.history.replaceState && window.location.search.indexOf("_m=") !== -1) {
    var query = window.location.search.slice(1).split("&").filter(function (p) { return p.indexOf("_m=") !== 0; });
    window.history.replaceState(null, "", window.location.pathname + (query.length ? "?" + query.join("&") : "") + window.location.hash);
  }
  var timeout = parseInt(body.dataset.idleTimeoutS || "0", 10);
  var warning = parseInt(body.dataset.idleWarningS || "0", 10);
  var csrf = body.dataset.csrf || "";
  var last = Date.now();
  var box = document.getElementById("idle-warning");
  var left = document.getElementById("idle-left");

  function reset() { last = Date.now(); if (box) { box.hidden = true; } }

  if (timeout > 0 && box) {
    document.body.addEventListener("htmx:afterRequest", function (event) {
      var config = event.detail && event.detail.requestConfig;
      var background = config && config.headers && config.headers["X-Background"] === "1";
      if (!background) { reset(); }
    });
    setInterval(function () {
      var remaining = Math.ceil(timeout - (Date.now() - last) / 1000);
      if (remaining <= 0) {
        window.location.href = "/login?reason=idle&next=" + encodeURIComponent(window.location.pathname);
        return;
      }
      if (remaining <= warning) {
        if (box.hidden) { box.hidden = false; document.getElementById("idle-stay").focus(); }
        left.textContent = String(remaining);
      }
    }, 500);
    document.getElementById("idle-stay").addEventListener("click", function () {
      fetch("/session/keepalive", { method: "POST", headers: { "X-CSRF-Token": csrf }, credentials: "same-origin" })
        .then(function (r) { if (r.ok) { reset(); } else { window.location.href = "/login?reason=idle"; } });
    });
  }

  document.addEventListener("click", function (event) {
    var target = event.target.closest("[data-print]");
    if (target) { event.preventDefault(); window.print(); }
  });

  function tickTimers() {
    document.querySelectorAll("[data-timer-start]").forEach(function (el) {
      var start = Date.parse(el.dataset.timerStart);
      if (isNaN(start)) { return; }
      var s = Math.max(0, Math.floor((Date.now() - start) / 1000));
      var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
      el.textContent = (h ? h + ":" : "") + String(m).padStart(2, "0") + ":" + String(sec).padStart(2, "0");
    });
  }
  tickTimers();
  setInterval(tickTimers, 1000);

  function focusFirstError(root) {
    var bad = (root || document).querySelector("[aria-invalid='true']");
    if (bad && !document.activeElement.closest("[aria-invalid='true']")) { bad.focus(); }
  }
  focusFirstError(document);
  document.body.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target && event.detail.target.dataset.focusErrors !== undefined) { focusFirstError(event.detail.target); }
    var auto = event.detail.target && event.detail.target.querySelector("[data-autofocus]");
    if (auto) { auto.focus(); }
  });
})();
