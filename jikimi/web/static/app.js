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
  } else if (element.form) {
    element.form.requestSubmit(element);
  }
});
