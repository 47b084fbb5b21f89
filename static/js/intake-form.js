/* The patient form: focus the error summary, and show the emergency advice at once (spec §1 I). */
(function () {
  "use strict";

  var summary = document.getElementById("error-summary");
  if (summary) {
    summary.focus();
  }

  // A second click on the button would send the step twice: the first one is enough.
  document.addEventListener("submit", function (event) {
    var buttons = event.target.querySelectorAll("button[type=submit]");
    window.setTimeout(function () {
      buttons.forEach(function (button) {
        button.disabled = true;
      });
    }, 0);
  });

  var advice = document.getElementById("interrupt-advice");
  if (!advice) {
    return;
  }
  var recorded = advice.getAttribute("data-recorded") === "true";

  function record() {
    if (recorded) {
      return;
    }
    recorded = true;
    var csrf = document.querySelector("input[name=csrfmiddlewaretoken]");
    fetch(advice.getAttribute("data-record-url"), {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrf ? csrf.value : "" },
    }).catch(function () {
      recorded = false;
    });
  }

  document.addEventListener("change", function (event) {
    var input = event.target;
    if (!input.matches || !input.matches("input[data-interrupt]")) {
      return;
    }
    if (input.checked && input.value === "yes") {
      var hidden = advice.classList.contains("d-none");
      advice.classList.remove("d-none");
      if (hidden) {
        // Shown and announced (role="alert"), focus left on the answer: moving it on a change
        // of answer pulled keyboard users away with "Yes" ticked (WCAG 3.2.2; a review).
        advice.scrollIntoView({ block: "start" });
      }
      record();
    }
  });
})();
