// API tokens (settings page): copy a new token's plaintext, and take the focus to it when it appears.
(function () {
  "use strict";

  function say(box, text) {
    var status = box && box.querySelector("[data-copy-status]");
    if (status) status.textContent = text;
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy-from]");
    if (!button) return;
    var input = document.getElementById(button.getAttribute("data-copy-from"));
    if (!input) return;
    var box = button.closest(".token-issued");
    input.focus();
    input.select();
    var copied = function () { say(box, "Copied. Store it somewhere safe: it is not shown again."); };
    var manual = function () { say(box, "Copy it by hand: it is selected (Ctrl+C or Cmd+C)."); };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(copied, manual);
    } else {
      try {
        if (document.execCommand("copy")) copied(); else manual();
      } catch (e) {
        manual();
      }
    }
  });

  function focusIssued() {
    var input = document.querySelector("[data-token-plaintext]");
    if (input) {
      input.focus();
      input.select();
    }
  }

  document.addEventListener("DOMContentLoaded", focusIssued);
  document.addEventListener("htmx:afterSwap", focusIssued);
})();
