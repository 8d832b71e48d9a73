// Scans and evidence packages as background jobs: upload progress, live job progress.
// Progressive enhancement only: without this file the forms post normally and the pages refresh.
"use strict";

function jikimiEta(box, seconds) {
  if (seconds === null || seconds === undefined) return "";
  if (seconds < 60) return box.dataset.etaSeconds.replace("{n}", Math.max(1, Math.round(seconds)));
  return box.dataset.etaMinutes.replace("{n}", Math.round(seconds / 60));
}

// A job's page: ask for its progress every second; reload when it has finished.
function jikimiWatch(box) {
  var phases = JSON.parse(box.dataset.phases || "{}");
  function poll() {
    fetch(box.dataset.jobUrl, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (answer) { return answer.ok ? answer.json() : null; })
      .then(function (job) {
        if (!job) return;
        if (job.status !== "queued" && job.status !== "running") { window.location.reload(); return; }
        box.querySelector(".phase").textContent = phases[job.phase] || phases[""] || "";
        var bar = box.querySelector("progress");
        if (job.total) { bar.max = job.total; bar.value = job.done; bar.hidden = false; } else { bar.removeAttribute("value"); }
        box.querySelector(".count").textContent = job.total ? job.done + " / " + job.total : (job.done ? String(job.done) : "");
        box.querySelector(".eta").textContent = jikimiEta(box, job.eta_seconds);
        window.setTimeout(poll, 1000);
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  poll();
}

// An upload form: send it with XMLHttpRequest to show how much has gone, then follow the answer.
function jikimiUpload(form) {
  form.addEventListener("submit", function (event) {
    var file = form.querySelector("input[type=file]");
    if (!file || !file.files.length) return;  // a server folder: the normal post
    event.preventDefault();
    var box = form.querySelector(".upload-progress");
    var bar = box.querySelector("progress");
    var text = box.querySelector(".upload-text");
    var button = form.querySelector("button[type=submit]");
    box.hidden = false;
    button.disabled = true;
    var request = new XMLHttpRequest();
    request.open("POST", form.action);
    request.upload.addEventListener("progress", function (e) {
      if (!e.lengthComputable) return;
      bar.max = e.total;
      bar.value = e.loaded;
      text.textContent = Math.floor(100 * e.loaded / e.total) + "% · " + (e.loaded / 1048576).toFixed(1) + " / " +
        (e.total / 1048576).toFixed(1) + " MB";
    });
    request.addEventListener("load", function () {
      var page = new DOMParser().parseFromString(request.responseText, "text/html");
      if (request.status < 400 && request.responseURL && request.responseURL !== form.action) {
        window.location.assign(request.responseURL);  // followed a redirect: the new scan's page
        return;
      }
      if (request.status < 400) {  // an answer drawn in place (a verified package)
        document.title = page.title;
        document.querySelector("main").innerHTML = page.querySelector("main").innerHTML;
        document.querySelectorAll("form[data-upload]").forEach(jikimiUpload);
        return;
      }
      var reason = page.querySelector(".alert, main p") || page.body;
      text.textContent = reason ? reason.textContent.trim() : box.dataset.failed;  // the server's own sentence
      box.classList.add("failed");
      button.disabled = false;
    });
    request.addEventListener("error", function () {
      button.disabled = false;
      text.textContent = box.dataset.failed;
    });
    request.send(new FormData(form));
  });
}

document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("[data-job-url]").forEach(jikimiWatch);
  document.querySelectorAll("form[data-upload]").forEach(jikimiUpload);
});
