// Review: keyboard navigation and shortcuts over the candidate cards, a lightbox with zoom and
// pan, and compare (slider or side by side). Every shortcut clicks a real control of the card,
// so what the keyboard does is what the buttons do (htmx posts them).
(function () {
  "use strict";
  var review = function () { return document.getElementById("review"); };
  if (!review()) { return; }
  var lightbox = document.getElementById("review-lightbox");
  var compare = document.getElementById("review-compare");
  var lastCard = null;  // the card to focus again after htmx replaces it
  var queuedKey = null;  // a rating/reject key pressed while its card was being replaced
  var marked = [];
  var lastFocused = null;  // the id of the card that last had the focus
  document.addEventListener("focusin", function (event) {
    var card = cardOf(event.target);
    if (card) { lastFocused = card.id; }
  });

  function cards() { return Array.prototype.slice.call(document.querySelectorAll(".review-card")); }
  function cardOf(node) { return node && node.closest ? node.closest(".review-card") : null; }
  function typing(node) {
    return node && (/^(INPUT|TEXTAREA|SELECT)$/.test(node.tagName) || node.isContentEditable);
  }
  function focusCard(card) {
    if (!card) { return; }
    card.focus();
    card.scrollIntoView({ block: "nearest" });
  }
  function step(card, delta) {
    var all = cards();
    var index = all.indexOf(card);
    return all[Math.min(all.length - 1, Math.max(0, index + delta))];
  }
  // Up and down: the card of the next row in the same grid nearest in x (else the next grid).
  function vertical(card, down) {
    var all = cards();
    var box = card.getBoundingClientRect();
    var best = null;
    var bestScore = Infinity;
    all.forEach(function (other) {
      var b = other.getBoundingClientRect();
      var dy = down ? b.top - box.top : box.top - b.top;
      if (dy < 8) { return; }
      var score = dy * 4 + Math.abs(b.left - box.left);
      if (score < bestScore) { best = other; bestScore = score; }
    });
    return best || card;
  }
  function click(card, selector) {
    var control = card.querySelector(selector);
    if (control && !control.disabled) { lastCard = card.id; control.click(); return true; }
    return false;
  }
  function pick(card) {
    var details = card.querySelector("details.use-anyway");
    if (details) {
      details.open = true;
      var reason = details.querySelector("input[name=reason]");
      if (reason) { reason.focus(); }
      return;
    }
    click(card, "button[data-pick]");
  }
  function shortcut(card, event) {
    var key = event.key;
    if (/^[0-5]$/.test(key)) { return click(card, "[data-rate='" + key + "']"); }
    if (key === "x" || key === "X") { return click(card, "[data-reject]"); }
    if (key === "Enter") { pick(card); return true; }
    if (key === " ") { openLightbox(card); return true; }
    if (key === "s" || key === "S") { openCompare(card, null); return true; }
    if (key === "c" || key === "C") { mark(card); return true; }
    if (key === "v" || key === "V") { return click(card, "a[data-vary]"); }
    return false;
  }

  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.ctrlKey || event.metaKey) { return; }
    if (lightbox.open) { lightboxKey(event); return; }
    if (compare.open || typing(event.target)) { return; }
    var card = cardOf(event.target);
    if (!card && event.target === document.body) {
      // A card replaced by htmx took the focus with it: keys go on acting on that card.
      card = document.getElementById(lastFocused) || null;
      if (!card && (event.key === "ArrowRight" || event.key === "ArrowDown")) {
        event.preventDefault();
        focusCard(cards()[0]);
        return;
      }
      if (card) { card.focus(); }
    }
    if (!card) { return; }
    // On a card's own buttons and links, Enter and Space keep their native meaning.
    var own = event.target !== card && event.target !== document.body;
    if (own && (event.key === "Enter" || event.key === " ")) { return; }
    var moves = {
      ArrowRight: function () { return step(card, 1); },
      ArrowLeft: function () { return step(card, -1); },
      ArrowDown: function () { return vertical(card, true); },
      ArrowUp: function () { return vertical(card, false); },
    };
    if (moves[event.key]) { event.preventDefault(); focusCard(moves[event.key]()); return; }
    if (lastCard === card.id && /^[0-5xX]$/.test(event.key)) {
      // This card is being saved and replaced: its next key acts on the new card.
      queuedKey = event.key;
      event.preventDefault();
      return;
    }
    if (shortcut(card, event)) { event.preventDefault(); }
  });
  document.body.addEventListener("htmx:afterSettle", function () {
    if (!queuedKey || lastCard) { return; }
    var key = queuedKey;
    queuedKey = null;
    var card = document.getElementById(lastFocused);
    if (card) { shortcut(card, { key: key }); }
  });
  document.body.addEventListener("htmx:afterRequest", function (event) {
    // A refused or failed request replaces nothing (a 400 is swapped in by app.js with its
    // message): nothing is left waiting for a new card.
    if (!event.detail.successful && event.detail.xhr && event.detail.xhr.status !== 400) {
      lastCard = null;
      queuedKey = null;
    }
  });

  document.body.addEventListener("htmx:beforeRequest", function (event) {
    var card = cardOf(event.target);
    if (card) { lastCard = card.id; }
  });
  document.body.addEventListener("htmx:afterSwap", function () {
    if (!lastCard) { return; }
    var card = document.getElementById(lastCard);
    if (lightbox.open) {
      stage.focus();
    } else if (card && !card.contains(document.activeElement)) {
      var reason = card.querySelector("details[open] input[name=reason]");
      (reason || card).focus();
    }
    lastCard = null;
    if (lightbox.open) { showLightbox(currentCard()); }
  });
  document.addEventListener("click", function (event) {
    var card = cardOf(event.target);
    if (event.target.closest("[data-open]") && card) { openLightbox(card); }
    if (event.target.closest("[data-compare-source]") && card) { openCompare(card, null); }
    if (event.target.closest("[data-compare-mark]") && card) { mark(card); }
    var close = event.target.closest("[data-close]");
    if (close) { close.closest("dialog").close(); }
  });

  // --- lightbox: zoom with + / − / wheel, pan by dragging or Shift+arrows -------------------
  var image = lightbox.querySelector("[data-lightbox-image]");
  var stage = lightbox.querySelector("[data-stage]");
  var view = { scale: 1, x: 0, y: 0, card: null };
  function currentCard() { return view.card && document.getElementById(view.card); }
  function apply() {
    image.style.transform = "translate(" + view.x + "px," + view.y + "px) scale(" + view.scale + ")";
    // Zoom is relative to the image fitted in the viewer, and says so.
    lightbox.querySelector("[data-zoom-level]").textContent =
      view.scale === 1 ? "fitted" : Math.round(view.scale * 100) + "% of fitted";
  }
  function zoom(factor) {
    view.scale = Math.min(8, Math.max(1, view.scale * factor));
    if (view.scale === 1) { view.x = 0; view.y = 0; }
    apply();
  }
  function showLightbox(card) {
    if (!card) { return; }
    view.card = card.id;
    image.src = card.getAttribute("data-full");
    image.alt = "Candidate " + card.getAttribute("data-label");
    lightbox.querySelector("#review-lightbox-title").textContent = card.getAttribute("data-label");
    var figures = Array.prototype.map.call(card.querySelectorAll(".review-metrics div"), function (row) {
      return row.querySelector("dt").textContent + " " + row.querySelector("dd").textContent;
    });
    lightbox.querySelector("[data-lightbox-status]").textContent =
      [card.getAttribute("aria-label")].concat(figures).join(" · ");
  }
  function openLightbox(card) {
    view.scale = 1; view.x = 0; view.y = 0; apply();
    showLightbox(card);
    if (!lightbox.open) { lightbox.showModal(); }
    stage.focus();
  }
  lightbox.addEventListener("close", function () { focusCard(currentCard()); });
  function lightboxKey(event) {
    var card = currentCard();
    if (!card || typing(event.target)) { return; }
    var pan = { ArrowLeft: [40, 0], ArrowRight: [-40, 0], ArrowUp: [0, 40], ArrowDown: [0, -40] };
    if (event.shiftKey && pan[event.key]) {
      view.x += pan[event.key][0]; view.y += pan[event.key][1]; apply();
    } else if (event.key === "ArrowRight" || event.key === "ArrowLeft") {
      openLightbox(step(card, event.key === "ArrowRight" ? 1 : -1));
    } else if (event.key === "+" || event.key === "=") {
      zoom(1.25);
    } else if (event.key === "-" || event.key === "_") {
      zoom(0.8);
    } else if (/^[0-5xX]$/.test(event.key) || event.key === "Enter") {
      if (event.target.tagName === "BUTTON" && event.key === "Enter") { return; }
      if (event.key === "Enter" && card.querySelector("details.use-anyway")) { lightbox.close(); }
      shortcut(card, event);
    } else {
      return;
    }
    event.preventDefault();
  }
  lightbox.addEventListener("click", function (event) {
    var button = event.target.closest("[data-zoom]");
    if (button) {
      var how = button.getAttribute("data-zoom");
      if (how === "reset") { view.scale = 1; view.x = 0; view.y = 0; apply(); } else { zoom(how === "in" ? 1.25 : 0.8); }
    }
    var move = event.target.closest("[data-step]");
    if (move) { openLightbox(step(currentCard(), Number(move.getAttribute("data-step")))); }
  });
  stage.addEventListener("wheel", function (event) {
    event.preventDefault();
    zoom(event.deltaY < 0 ? 1.15 : 0.87);
  }, { passive: false });
  var drag = null;
  stage.addEventListener("pointerdown", function (event) {
    drag = { x: event.clientX - view.x, y: event.clientY - view.y };
    stage.setPointerCapture(event.pointerId);
  });
  stage.addEventListener("pointermove", function (event) {
    if (!drag) { return; }
    view.x = event.clientX - drag.x; view.y = event.clientY - drag.y; apply();
  });
  stage.addEventListener("pointerup", function () { drag = null; });

  // --- compare: two candidates, or a candidate and its source ------------------------------
  var slider = compare.querySelector("[data-compare-slider]");
  var compareView = compare.querySelector("[data-compare-view]");
  var returnTo = null;
  function mark(card) {
    var at = marked.indexOf(card.id);
    if (at >= 0) { marked.splice(at, 1); } else { marked.push(card.id); }
    cards().forEach(function (c) {
      var on = marked.indexOf(c.id) >= 0;
      c.classList.toggle("is-marked", on);
      var button = c.querySelector("[data-compare-mark]");
      if (button) { button.setAttribute("aria-pressed", on ? "true" : "false"); }
    });
    if (marked.length === 2) {
      var first = document.getElementById(marked[0]);
      var second = document.getElementById(marked[1]);
      marked = [];
      cards().forEach(function (c) { c.classList.remove("is-marked"); });
      if (first && second) { openCompare(first, second); }
    }
  }
  function openCompare(card, other) {
    var a = other ? { src: card.getAttribute("data-full"), label: card.getAttribute("data-label") } : null;
    if (!other) {
      if (!card.getAttribute("data-source")) { return; }
      a = { src: card.getAttribute("data-source"), label: "source" };
    }
    var b = other
      ? { src: other.getAttribute("data-full"), label: other.getAttribute("data-label") }
      : { src: card.getAttribute("data-full"), label: card.getAttribute("data-label") };
    compare.querySelector("[data-compare-a]").src = a.src;
    compare.querySelector("[data-compare-a]").alt = a.label;
    compare.querySelector("[data-compare-b]").src = b.src;
    compare.querySelector("[data-compare-b]").alt = b.label;
    compare.querySelector("[data-compare-a-label]").textContent = a.label;
    compare.querySelector("[data-compare-b-label]").textContent = b.label;
    compare.querySelector("[data-compare-a-name]").textContent = a.label;
    compare.querySelector("[data-compare-b-name]").textContent = b.label;
    compare.querySelector("#review-compare-title").textContent = "Compare " + a.label + " and " + b.label;
    returnTo = card.id;
    setSlider();
    compare.showModal();
    slider.focus();
  }
  function setSlider() {
    compareView.style.setProperty("--split", slider.value + "%");
  }
  slider.addEventListener("input", setSlider);
  compare.addEventListener("change", function (event) {
    if (event.target.name !== "compare-mode") { return; }
    compareView.setAttribute("data-mode", event.target.value);
    slider.hidden = event.target.value !== "slider";
    compare.querySelector(".compare-slider-label").hidden = slider.hidden;
  });
  compare.addEventListener("close", function () { focusCard(document.getElementById(returnTo)); });
})();
