// What every page does in the browser: deadlines count down live, and a form that asks
// for confirmation (data-confirm) asks before it is sent. No library, no CDN.
(function () {
  "use strict";
  function human(ms) {
    var minutes = Math.floor(Math.abs(ms) / 60000);
    var days = Math.floor(minutes / 1440), hours = Math.floor((minutes % 1440) / 60), mins = minutes % 60;
    var zh = document.documentElement.lang !== "en";
    if (days) return zh ? days + "天" + hours + "小时" : days + "d " + hours + "h";
    if (hours) return zh ? hours + "小时" + mins + "分" : hours + "h " + mins + "m";
    return zh ? mins + "分钟" : mins + " min";
  }
  function tick() {
    var now = Date.now();
    document.querySelectorAll(".deadline[data-due]").forEach(function (el) {
      var left = Date.parse(el.dataset.due) - now;
      if (isNaN(left)) return;
      el.classList.toggle("over", left < 0);
      var label = left < 0 ? el.dataset.late : el.dataset.left;
      el.textContent = label.replace("{time}", human(left));
    });
  }
  tick();
  setInterval(tick, 30000);
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.dataset && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
    }
  });
})();
