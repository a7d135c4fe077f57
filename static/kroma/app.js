// Small behaviours the templates ask for with data- attributes; no inline scripts.
(function () {
  "use strict";
  var slot = document.getElementById("new-project-slot");
  var initial = slot ? slot.innerHTML : "";
  document.addEventListener("click", function (event) {
    var cancel = event.target.closest("[data-cancel-new-project]");
    if (cancel && slot) {
      slot.innerHTML = initial;
      if (window.htmx) { window.htmx.process(slot); }
    }
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && slot && slot.querySelector("form")) {
      slot.innerHTML = initial;
      if (window.htmx) { window.htmx.process(slot); }
    }
  });
  // The Lab shows only the fields of the chosen tool.
  function showLabGroups() {
    var chosen = document.querySelector("input[name=operation]:checked");
    if (!chosen) { return; }
    document.querySelectorAll("[data-lab-op]").forEach(function (group) {
      group.hidden = group.getAttribute("data-lab-op").split(" ").indexOf(chosen.value) < 0;
    });
  }
  // ...and the price of what "Generate" would cost for the chosen quality and size.
  function showGeneratePrice() {
    var table = document.getElementById("generate-prices");
    var quality = document.querySelector("select[name=quality]");
    var size = document.querySelector("select[name=size]");
    var target = document.getElementById("generate-price");
    if (!table || !quality || !size || !target) { return; }
    var prices = JSON.parse(table.textContent);
    target.textContent = prices[quality.value + "|" + size.value] || "?";
  }
  document.addEventListener("change", function (event) {
    if (event.target.name === "operation") { showLabGroups(); }
    if (event.target.name === "quality" || event.target.name === "size") { showGeneratePrice(); }
  });
  showGeneratePrice();
  showLabGroups();
  // Prompts: a variable's button inserts it at the template's cursor (the end before the
  // template was ever focused); the input event lets the live preview follow.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-insert-variable]");
    if (!button) { return; }
    var area = document.getElementById(button.getAttribute("aria-controls"));
    if (!area) { return; }
    var touched = area.hasAttribute("data-caret-set");
    var start = touched ? area.selectionStart : area.value.length;
    var end = touched ? area.selectionEnd : area.value.length;
    area.focus();
    area.setRangeText(button.getAttribute("data-insert-variable"), start, end, "end");
    area.setAttribute("data-caret-set", "");
    area.dispatchEvent(new Event("input", { bubbles: true }));
  });
  document.addEventListener("focusin", function (event) {
    if (event.target.matches && event.target.matches("textarea[name=template]")) {
      event.target.setAttribute("data-caret-set", "");
    }
  });
  // A failed request should say so instead of doing nothing.
  document.body.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr.status;
    if (status >= 500) { window.alert("Kroma hit an error (" + status + "). Nothing was lost; please retry."); }
    else if (status === 403) { window.alert("This page is out of date or your session ended (403). Reload the page and try again; nothing was changed."); }
    else if (status === 404) { window.alert("That is no longer there (404): reload the page to see what changed."); }
  });
  // Locking a style guide replaces its card: unsaved edits of its text would be lost silently.
  document.body.addEventListener("input", function (event) {
    var form = event.target.closest && event.target.closest("form.style-form");
    if (form) { form.setAttribute("data-dirty", ""); }
  });
  document.body.addEventListener("htmx:confirm", function (event) {
    var form = event.target.closest && event.target.closest("form");
    if (!form || !/\/lock\/$/.test(form.getAttribute("action") || "")) { return; }
    var card = form.closest(".style-guide");
    if (!card || !card.querySelector("form.style-form[data-dirty]")) { return; }
    event.preventDefault();
    if (window.confirm("This guide's text has unsaved changes; locking discards them. Lock anyway?")) {
      event.detail.issueRequest(true);
    }
  });
  // Forms answer 400 with their errors inline: let htmx swap them in.
  document.body.addEventListener("htmx:beforeSwap", function (event) {
    if (event.detail.xhr.status === 400) { event.detail.shouldSwap = true; event.detail.isError = false; }
  });
})();
