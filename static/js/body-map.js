/* The optional clickable body map on the region steps: it ticks the same checkboxes (issue 9).
   The checkboxes are the answer; the picture only mirrors them, both ways. */
(function () {
  "use strict";

  function setRegion(region, on) {
    region.classList.toggle("is-on", on);
    region.setAttribute("aria-checked", on ? "true" : "false");
  }

  document.querySelectorAll("[data-body-map]").forEach(function (picker) {
    var field = picker.getAttribute("data-body-map");
    var form = picker.closest("form");
    if (!form) {
      return;
    }

    function boxFor(code) {
      var boxes = form.querySelectorAll("input[type=checkbox]");
      for (var i = 0; i < boxes.length; i += 1) {
        if (boxes[i].name === field && boxes[i].value === code) {
          return boxes[i];
        }
      }
      return null;
    }

    function regionsFor(code) {
      return Array.prototype.filter.call(
        picker.querySelectorAll(".map-region"),
        function (region) {
          return region.getAttribute("data-code") === code;
        }
      );
    }

    picker.querySelectorAll(".map-region").forEach(function (region) {
      var box = boxFor(region.getAttribute("data-code"));
      if (!box) {
        region.parentNode.removeChild(region);
        return;
      }
      setRegion(region, box.checked);

      function toggle() {
        box.checked = !box.checked;
        box.dispatchEvent(new Event("change", { bubbles: true }));
      }

      region.addEventListener("click", toggle);
      region.addEventListener("keydown", function (event) {
        if (event.key === " " || event.key === "Enter") {
          event.preventDefault();
          toggle();
        }
      });
    });

    form.addEventListener("change", function (event) {
      var input = event.target;
      if (input.type !== "checkbox" || input.name !== field) {
        return;
      }
      regionsFor(input.value).forEach(function (region) {
        setRegion(region, input.checked);
      });
    });

    // Back or Forward to a step brings its boxes back as they were left, unsaved ticks too,
    // after this script has run and with no change event: the map showed the page as sent,
    // and a tap to tick a region whose box was ticked unticked it (a QA round).
    window.addEventListener("pageshow", function () {
      picker.querySelectorAll(".map-region").forEach(function (region) {
        setRegion(region, boxFor(region.getAttribute("data-code")).checked);
      });
    });

    picker.hidden = false;
  });
})();
