// Progressive enhancement of the QR verification page: where the browser has BarcodeDetector
// and a camera, scan the code and submit; everywhere else the pasted-text form works as is.
(function () {
  "use strict";
  var box = document.getElementById("scanner");
  var start = document.getElementById("scan-start");
  var video = document.getElementById("scan-video");
  var field = document.getElementById("token");
  var form = document.getElementById("qr-form");
  if (!box || !("BarcodeDetector" in window) || !navigator.mediaDevices) { return; }
  box.hidden = false;
  start.addEventListener("click", function () {
    var detector = new window.BarcodeDetector({ formats: ["qr_code"] });
    navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } }).then(function (stream) {
      video.srcObject = stream;
      video.hidden = false;
      video.play();
      var stop = function () { stream.getTracks().forEach(function (t) { t.stop(); }); };
      var tick = function () {
        detector.detect(video).then(function (codes) {
          if (codes.length) { stop(); field.value = codes[0].rawValue; form.submit(); return; }
          window.requestAnimationFrame(tick);
        }).catch(function () { window.requestAnimationFrame(tick); });
      };
      tick();
    }).catch(function () { box.hidden = true; field.focus(); });
  });
}());
