// Progressive enhancement only: every action works without this file.
"use strict";

// Review queue: one key per decision, R to reveal, N for the note.
document.addEventListener("keydown", function (event) {
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  var target = event.target;
  if (target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.tagName === "SELECT")) {
    if (event.key === "Escape") target.blur();
    return;
  }
  var element = document.querySelector('[data-key="' + event.key.toLowerCase() + '"]');
  if (!element) return;
  event.preventDefault();
  if (element.tagName === "INPUT") {
    element.focus();
  } else if (element.tagName === "A") {
    element.click();
  } else if (element.form) {
    element.form.requestSubmit(element);
  }
});

// After a decision: the confirmation offers "undo" for a few seconds, then goes.
(function () {
  var toast = document.getElementById("decided");
  if (!toast) return;
  var left = parseInt(toast.dataset.seconds, 10) || 10;
  var countdown = toast.querySelector(".countdown");
  function tick() {
    if (countdown) countdown.textContent = "(" + left + ")";
    if (left <= 0) { toast.remove(); return; }
    left -= 1;
    setTimeout(tick, 1000);
  }
  tick();
})();

// Wellbeing: a session timer with a break reminder at the admin's interval, and revealed
// originals that blur again after a set time (click "show again" to look once more).
(function () {
  var box = document.getElementById("wellbeing");
  if (!box) return;
  var minutes = parseInt(box.dataset.breakMinutes, 10) || 20;
  var started = parseInt(sessionStorage.getItem("jikimi-review-start"), 10);
  if (!started) { started = Date.now(); sessionStorage.setItem("jikimi-review-start", String(started)); }
  var timer = box.querySelector(".timer"), elapsed = box.querySelector(".elapsed");
  var reminder = box.querySelector(".break-reminder");
  timer.hidden = false;
  function update() {
    var seconds = Math.floor((Date.now() - started) / 1000);
    elapsed.textContent = Math.floor(seconds / 60) + ":" + String(seconds % 60).padStart(2, "0");
    if (seconds >= minutes * 60) reminder.hidden = false;
  }
  reminder.querySelector(".dismiss").addEventListener("click", function () {
    started = Date.now();
    sessionStorage.setItem("jikimi-review-start", String(started));
    reminder.hidden = true;
    update();
  });
  update();
  setInterval(update, 1000);
})();

(function () {
  var original = document.querySelector(".evidence .original");
  if (!original) return;
  var seconds = parseInt(original.dataset.reblur, 10) || 30;
  var again = document.querySelector(".evidence .show-again");
  var pending;
  function schedule() {
    clearTimeout(pending);
    pending = setTimeout(function () {
      original.classList.add("reblurred");
      if (original.pause) original.pause();
      again.hidden = false;
    }, seconds * 1000);
  }
  again.addEventListener("click", function () {
    original.classList.remove("reblurred");
    again.hidden = true;
    schedule();
  });
  schedule();
})();

// The queue table: one box selects every row of the page.
(function () {
  var all = document.getElementById("select-all");
  if (!all) return;
  all.addEventListener("change", function () {
    document.querySelectorAll('input[name="items"]').forEach(function (box) { box.checked = all.checked; });
  });
})();
