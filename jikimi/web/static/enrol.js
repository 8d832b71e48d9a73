// Enrolment from real photos: show the faces found in each chosen photo, numbered, to click on.
// Without this file the form still works for photos with one face; the server then explains.
"use strict";

document.addEventListener("DOMContentLoaded", function () {
  var form = document.querySelector("form.enrol-form");
  if (!form) return;
  var input = form.querySelector('input[name="photos"]');
  var pickers = form.querySelector(".face-pickers");
  var csrf = form.querySelector('input[name="csrf_token"]').value;
  var text = function (name, n) { return (form.dataset["text" + name] || "").replace("{n}", n); };

  input.addEventListener("change", function () {
    pickers.textContent = "";
    form.querySelectorAll("input.face-choice").forEach(function (old) { old.remove(); });
    Array.prototype.forEach.call(input.files, function (file, index) { picker(file, index); });
  });

  form.addEventListener("submit", function (event) {
    var open = pickers.querySelector('.face-picker[data-state="choose"]');
    if (open) {
      event.preventDefault();
      open.scrollIntoView({block: "center"});
      open.querySelector(".status").classList.add("alert");
    }
  });

  function picker(file, index) {
    var figure = document.createElement("figure");
    figure.className = "face-picker";
    figure.dataset.state = "checking";
    var frame = document.createElement("div");
    frame.className = "frame";
    var img = document.createElement("img");
    img.src = URL.createObjectURL(file);
    img.alt = file.name;
    frame.appendChild(img);
    var status = document.createElement("figcaption");
    status.className = "status";
    status.textContent = file.name + ": " + text("Looking");
    figure.appendChild(frame);
    figure.appendChild(status);
    pickers.appendChild(figure);
    var choice = document.createElement("input");
    choice.type = "hidden";
    choice.name = "face_" + index;
    choice.className = "face-choice";
    form.appendChild(choice);

    var body = new FormData();
    body.append("photo", file);
    fetch(form.dataset.facesUrl, {method: "POST", body: body, headers: {"X-CSRF-Token": csrf}, credentials: "same-origin"})
      .then(function (answer) { return answer.json().then(function (data) { return {ok: answer.ok, data: data}; }); })
      .then(function (result) {
        if (!result.ok) {
          figure.dataset.state = "problem";
          status.textContent = file.name + ": " + (result.data.text || text("Failed"));
          status.classList.add("alert");
          return;
        }
        var faces = result.data.faces;
        if (faces.length === 0) {
          figure.dataset.state = "problem";
          status.textContent = file.name + ": " + text("None");
          status.classList.add("alert");
          return;
        }
        faces.forEach(function (face) { frame.appendChild(box(face, result.data, figure, choice, status, file)); });
        if (faces.length === 1 && faces[0].usable) {
          choice.value = "1";
          figure.dataset.state = "chosen";
          frame.querySelector(".face-box").setAttribute("aria-pressed", "true");
          status.textContent = file.name + ": " + text("One");
        } else {
          figure.dataset.state = "choose";
          status.textContent = file.name + ": " + text("Several");
        }
      })
      .catch(function () {
        figure.dataset.state = "problem";
        status.textContent = file.name + ": " + text("Failed");
      });
  }

  function box(face, photo, figure, choice, status, file) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "face-box";
    button.textContent = face.number;
    button.setAttribute("aria-label", text("Face", face.number));
    button.setAttribute("aria-pressed", "false");
    var b = face.box;  // [left, top, right, bottom] in pixels of the photo
    button.style.left = (100 * b[0] / photo.width) + "%";
    button.style.top = (100 * b[1] / photo.height) + "%";
    button.style.width = (100 * (b[2] - b[0]) / photo.width) + "%";
    button.style.height = (100 * (b[3] - b[1]) / photo.height) + "%";
    if (!face.usable) {  // too small to identify her: shown, not offered
      button.disabled = true;
      button.title = text("Small");
    }
    button.addEventListener("click", function () {
      figure.querySelectorAll(".face-box").forEach(function (other) { other.setAttribute("aria-pressed", "false"); });
      button.setAttribute("aria-pressed", "true");
      choice.value = String(face.number);
      figure.dataset.state = "chosen";
      status.classList.remove("alert");
      status.textContent = file.name + ": " + text("Chosen", face.number);
    });
    return button;
  }
});
