// The asset browser: drag-and-drop uploads (one request per file, with its progress), the
// page's "select all" box and the selection count. No build step, nothing from the network.
(function () {
  "use strict";
  var form = document.getElementById("asset-upload");
  var input = document.getElementById("upload-images");
  var list = document.getElementById("upload-list");

  function item(text, css) {
    var li = document.createElement("li");
    li.className = "upload-item " + (css || "");
    var label = document.createElement("span");
    label.textContent = text;
    li.appendChild(label);
    list.appendChild(li);
    return li;
  }

  function say(li, text, css, role) {
    li.className = "upload-item " + css;
    li.querySelector("span").textContent = text;
    var bar = li.querySelector("progress");
    if (bar) { bar.remove(); }
    if (role) { li.setAttribute("role", role); }
  }

  function send(file, token) {
    return new Promise(function (resolve) {
      var li = item(file.name + " — waiting", "");
      var bar = document.createElement("progress");
      bar.max = 100; bar.value = 0;
      bar.setAttribute("aria-label", "Upload of " + file.name);
      li.appendChild(bar);
      var body = new FormData();
      body.append("images", file, file.name);
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.setRequestHeader("X-CSRFToken", token);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.addEventListener("progress", function (event) {
        if (event.lengthComputable) {
          bar.value = Math.round((event.loaded / event.total) * 100);
          li.querySelector("span").textContent = file.name + " — " + bar.value + "%";
        }
      });
      xhr.addEventListener("load", function () {
        var answer = null;
        try { answer = JSON.parse(xhr.responseText); } catch (e) { answer = null; }
        if (!answer) {
          say(li, file.name + ": the server answered " + xhr.status + ".", "upload-bad", "alert");
        } else if (answer.errors.length) {
          say(li, answer.errors.join(" "), "upload-bad", "alert");
        } else {
          say(li, file.name + " — stored", "upload-ok");
          answer.notes.forEach(function (note) { item(note, "upload-note"); });
        }
        resolve(answer && !answer.errors.length);
      });
      xhr.addEventListener("error", function () {
        say(li, file.name + ": the upload was interrupted.", "upload-bad", "alert");
        resolve(false);
      });
      xhr.send(body);
    });
  }

  function uploadAll(files) {
    if (!files.length) { return; }
    list.innerHTML = "";
    var token = form.querySelector("input[name=csrfmiddlewaretoken]").value;
    var queue = Array.prototype.slice.call(files);
    var stored = 0;
    function next() {
      var file = queue.shift();
      if (!file) {
        input.value = "";
        if (stored) { refreshResults(); }
        return;
      }
      send(file, token).then(function (ok) { if (ok) { stored += 1; } next(); });
    }
    next();
  }

  function refreshResults() {
    var filters = document.getElementById("asset-filters");
    if (window.htmx && filters) { window.htmx.trigger(filters, "submit"); }
  }

  if (form && input && list && window.FormData && window.XMLHttpRequest) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      uploadAll(input.files);
    });
    input.addEventListener("change", function () { uploadAll(input.files); });
    var zone = form.querySelector("[data-drop-zone]");
    ["dragenter", "dragover"].forEach(function (name) {
      zone.addEventListener(name, function (event) {
        event.preventDefault();
        zone.classList.add("is-over");
      });
    });
    ["dragleave", "drop"].forEach(function (name) {
      zone.addEventListener(name, function () { zone.classList.remove("is-over"); });
    });
    zone.addEventListener("drop", function (event) {
      event.preventDefault();
      uploadAll(event.dataTransfer.files);
    });
  }

  // The bulk bar shows the choices of the chosen action only (all of them without script).
  function showActionChoices() {
    var select = document.querySelector("[data-bulk-action]");
    if (!select) { return; }
    document.querySelectorAll("[data-for-action]").forEach(function (group) {
      group.hidden = group.getAttribute("data-for-action") !== select.value;
    });
  }
  showActionChoices();
  document.addEventListener("htmx:afterSettle", showActionChoices);

  function countSelected() {
    var target = document.querySelector("[data-selected-count]");
    if (!target) { return; }
    var n = document.querySelectorAll("#bulk-form input[name=assets]:checked").length;
    target.textContent = n ? "(" + n + ")" : "";
  }
  document.addEventListener("change", function (event) {
    if (event.target.matches("[data-select-all]")) {
      document.querySelectorAll("#bulk-form input[name=assets]").forEach(function (box) {
        box.checked = event.target.checked;
      });
    }
    if (event.target.matches("[data-bulk-action]")) { showActionChoices(); }
    if (event.target.closest("#bulk-form")) { countSelected(); }
  });
  // An opened image's details get the focus (and, on a narrow screen, come into view).
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.target.id === "asset-detail") {
      var card = document.getElementById("asset-detail-card");
      if (card) { card.focus(); card.scrollIntoView({ block: "nearest" }); }
    }
  });
})();
