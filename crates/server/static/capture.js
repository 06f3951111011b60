// Phone portrait capture: live camera with a head outline and eye line, a quick check of the frame (size and light)
// before upload, then the ordinary form upload. Without a camera or JavaScript the file input still works.
(function () {
  "use strict";
  var box = document.getElementById("camera");
  var video = document.getElementById("camera-video");
  var shoot = document.getElementById("camera-shoot");
  var form = document.getElementById("photo-form");
  var input = document.getElementById("photo");
  if (!box || !video || !shoot || !form || !input) return;
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia || typeof DataTransfer === "undefined") return;
  var lang = document.documentElement.lang || "zh-CN";
  var say = function (zh, en) { return lang.indexOf("en") === 0 ? en : zh; };
  navigator.mediaDevices.getUserMedia({ video: { facingMode: "user", width: { ideal: 1280 }, height: { ideal: 1600 } }, audio: false })
    .then(function (stream) {
      video.srcObject = stream;
      video.play();
      box.hidden = false;
    })
    .catch(function () { /* no camera or refused: the file input remains */ });

  function status(msg) {
    var el = document.getElementById("camera-status");
    if (!el) {
      el = document.createElement("p");
      el.id = "camera-status";
      el.setAttribute("role", "status");
      box.appendChild(el);
    }
    el.textContent = msg;
  }

  shoot.addEventListener("click", function () {
    var w = video.videoWidth, h = video.videoHeight;
    if (w < 358 || h < 441) { status(say("画面分辨率太低，请换用后置摄像头或上传照片。", "The camera resolution is too low; upload a photo instead.")); return; }
    var canvas = document.createElement("canvas");
    canvas.width = w; canvas.height = h;
    var ctx = canvas.getContext("2d");
    ctx.drawImage(video, 0, 0, w, h);
    // Mean brightness of the centre: too dark or washed out fails the standard anyway, so say it now.
    var d = ctx.getImageData(Math.floor(w / 4), Math.floor(h / 4), Math.floor(w / 2), Math.floor(h / 2)).data, sum = 0;
    for (var i = 0; i < d.length; i += 16) sum += 0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2];
    var mean = sum / (d.length / 16);
    if (mean < 60) { status(say("光线太暗，请到明亮处面向光源再拍。", "Too dark: face a light source and try again.")); return; }
    if (mean > 225) { status(say("光线过亮，请避开强光再拍。", "Too bright: move away from strong light and try again.")); return; }
    canvas.toBlob(function (blob) {
      if (!blob) return;
      var dt = new DataTransfer();
      dt.items.add(new File([blob], "portrait.jpg", { type: "image/jpeg" }));
      input.files = dt.files;
      status(say("正在检测照片…", "Checking the photo…"));
      form.submit();
    }, "image/jpeg", 0.92);
  });
})();
