// The consent form's signature pad (vendor/signature_pad.umd.min.js): the drawn mark goes to the server as SVG.
(function () {
  "use strict";
  function start() {
    var canvas = document.getElementById("signature-pad");
    var form = document.getElementById("consent-form");
    if (!canvas || !form || typeof SignaturePad === "undefined") { return; }
    var pad = new SignaturePad(canvas, { penColor: "rgb(0, 0, 0)", backgroundColor: "rgba(0, 0, 0, 0)" });
    function fit() {  // sharp lines on high-density screens; the box keeps its CSS size
      var ratio = Math.max(window.devicePixelRatio || 1, 1);
      var data = pad.toData();
      canvas.width = canvas.offsetWidth * ratio;
      canvas.height = canvas.offsetHeight * ratio;
      canvas.getContext("2d").scale(ratio, ratio);
      pad.clear();
      pad.fromData(data);
    }
    window.addEventListener("resize", fit);
    fit();
    document.getElementById("signature-clear").addEventListener("click", function () { pad.clear(); });
    form.addEventListener("submit", function (event) {
      var missing = document.getElementById("signature-missing");
      if (pad.isEmpty()) {
        event.preventDefault();
        missing.hidden = false;
        canvas.focus();
        return;
      }
      missing.hidden = true;
      document.getElementById("f-signature_svg").value = pad.toSVG();
    });
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
