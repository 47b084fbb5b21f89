/* The signed-in staff pages: a session ends after data-idle-seconds without a request
   (SESSION_IDLE_MINUTES). A clinician who typed a long reason or note on a case page, or left it
   half-typed during a phone call, and sent it after the limit, was sent to the login page and lost
   what was typed (a QA round). Here typing or choosing keeps the session open, a page holding
   text not yet sent warns a while before the limit (WCAG 2.2.1), and a page whose session has
   ended anyway says so, and keeps the text on the screen to be copied. Nothing typed is ever put
   in the browser's storage: only when the session was last kept open. */
(function () {
  "use strict";

  var box = document.getElementById("staff-session");
  if (!box || !window.fetch) {
    return;
  }
  var warning = document.getElementById("staff-session-warning");
  var endedNote = document.getElementById("staff-session-ended");
  var lockedNote = document.getElementById("staff-session-locked");
  var page = document.getElementById("container"); // the admin's page, all but this box
  var stay = document.getElementById("staff-session-stay");
  var keepUrl = box.getAttribute("data-keep-alive-url");
  var idleMs = Number(box.getAttribute("data-idle-seconds")) * 1000;
  // The server moves a session's end at most once in this interval: a page's own request
  // counts from up to this much before it was made.
  var refreshMs = Number(box.getAttribute("data-refresh-seconds")) * 1000;
  // While someone types the page asks at most once a minute (a shorter limit, more often).
  var askEveryMs = Math.min(Math.max(60000, refreshMs), idleMs / 3);
  var warnMs = Math.min(180000, idleMs / 4);
  var checkEveryMs = 15000;
  var sharedKey = "staff-session-kept";
  var loadedAt = Date.now();
  var lastKept = loadedAt - refreshMs; // the earliest this page's own request may have kept it
  var lastAsked = loadedAt; // the page's own request counts as one
  var asking = null; // the keep-alive on its way
  var ended = false; // the server said so
  var shown = null; // "warning", "ended" or null
  var lastBox = null; // where the person was typing, given the focus back after "Stay signed in"

  // Every staff page of this browser shares one session: one in use keeps it open for a page
  // left beside it, which would otherwise warn on its own count.
  var sharedKept = function () {
    try {
      return Number(window.localStorage.getItem(sharedKey)) || 0;
    } catch (error) {
      return 0; // storage turned off: each page counts alone
    }
  };
  var share = function (at) {
    try {
      if (at > sharedKept()) {
        window.localStorage.setItem(sharedKey, String(at));
      }
    } catch (error) {}
  };
  var keptAt = function () {
    return Math.max(lastKept, Math.min(sharedKept(), Date.now()));
  };
  share(lastKept);

  // A page answering a form sent (refused: a sent form that is saved is answered by another
  // page) holds in its boxes the text that was sent, not saved. Drawn with the page, it is
  // each box's default value, and it counted as nothing typed: no warning before the limit,
  // and the page, the reason on it, hidden once the session had ended (a QA round).
  var sentBack = box.hasAttribute("data-sent-back");
  var unsent = function (field) {
    return field.value !== field.defaultValue || (sentBack && field.value.trim() !== "");
  };
  var isTextBox = function (field) {
    if (field.tagName === "TEXTAREA") {
      return true;
    }
    return field.tagName === "INPUT" &&
      /^(text|search|email|tel|url|number|date|datetime-local|time)$/.test(field.type);
  };
  // A form that would send what was typed: a POST form with a box whose text is not the one the
  // page came with. A search box (a GET form) loses nothing on a new sign-in.
  var holdsTyped = function (form) {
    if (!form || String(form.method).toLowerCase() !== "post") {
      return false;
    }
    return Array.prototype.some.call(form.elements, function (field) {
      return isTextBox(field) && !field.readOnly && !field.disabled && unsent(field);
    });
  };
  // Text given back to copy (a reason typed for a move the referral no longer offers) is in
  // a read-only box outside any form.
  var toCopy = function () {
    return sentBack && Array.prototype.some.call(
      document.querySelectorAll("#container textarea[readonly]"),
      function (field) {
        return field.value.trim() !== "";
      }
    );
  };
  var typed = function () {
    return Array.prototype.some.call(document.forms, holdsTyped) || toCopy();
  };

  var show = function (which) {
    if (which === shown) {
      return;
    }
    var hadFocus = stay && document.activeElement === stay;
    if (which === "ended") {
      sayIdle();
    }
    shown = which;
    // Hidden, then shown: role="alert" is read out when it appears.
    warning.hidden = which !== "warning";
    endedNote.hidden = which !== "ended";
    document.body.classList.toggle("staff-session-shown", which !== null);
    if (hadFocus && which !== "warning" && lastBox && document.contains(lastBox)) {
      lastBox.focus({ preventScroll: true });
    }
  };

  // A session that ended with the idle limit passed since it was last kept open: the login
  // page the "Sign in again" links open says so (?ended=idle selects its one fixed message).
  // One ended sooner was ended elsewhere (signed out in another tab): nothing is added.
  var sayIdle = function () {
    var idle = Date.now() - keptAt() >= idleMs;
    Array.prototype.forEach.call(box.querySelectorAll("a[href]"), function (link) {
      var url = new URL(link.href, window.location.href);
      if (idle) {
        url.searchParams.set("ended", "idle");
      } else {
        url.searchParams.delete("ended");
      }
      link.href = url.pathname + url.search;
    });
  };

  // A page with nothing typed, left past the end of its session: its patient's details are
  // hidden, as the patient form hides itself, rather than left on a screen nobody is at (a
  // review found a case page readable long after its session ended). Shown again when the
  // session turns out to be kept by another page of this browser.
  var lock = function (locked) {
    sayIdle();
    if (page && page.hidden !== locked) {
      page.hidden = locked;
      lockedNote.hidden = !locked;
    }
  };

  var check = function () {
    if (ended) {
      show("ended");
      return;
    }
    var left = keptAt() + idleMs - Date.now();
    if (!typed()) {
      // Nothing to lose: no warning, and the page is left as it is until its session ends.
      show(null);
      lock(left <= -refreshMs);
    } else if (left <= -refreshMs) {
      // Past the end however late this page's last request moved it: ended, unless someone
      // is back at it, whose typing asks the server.
      show("ended");
    } else if (left <= warnMs) {
      show("warning");
    } else {
      show(null);
    }
  };

  // One request at a time; the answer is "alive", "ended" or "unknown" (no answer, or one this
  // script does not know: the page stays as it is, and the next activity asks again).
  var keepAlive = function () {
    if (asking) {
      return asking;
    }
    var sentAt = Date.now();
    lastAsked = sentAt;
    var csrf = document.querySelector("input[name=csrfmiddlewaretoken]");
    asking = window.fetch(keepUrl, {
      method: "POST",
      credentials: "same-origin",
      redirect: "manual",
      headers: { "X-CSRFToken": csrf ? csrf.value : "" },
    })
      .then(function (response) {
        if (response.status === 204) {
          ended = false;
          lastKept = Math.max(lastKept, sentAt);
          share(sentAt);
          return "alive";
        }
        // 200 {"signed_in": false}: the session has ended. 403: this page's CSRF token is no
        // longer the browser's (signed out, or in again, elsewhere). Either way this page's
        // forms would not be saved.
        if (response.status === 200) {
          return response.json().then(function (body) {
            if (body && body.signed_in === false) {
              ended = true;
              return "ended";
            }
            return "unknown";
          }, function () {
            return "unknown";
          });
        }
        if (response.status === 403 || response.status === 401) {
          ended = true;
          return "ended";
        }
        return "unknown";
      }, function () {
        return "unknown";
      })
      .then(function (answer) {
        asking = null;
        check();
        return answer;
      });
    return asking;
  };

  // Typing or choosing is activity: the session is kept open, at most once a minute.
  ["input", "change"].forEach(function (type) {
    document.addEventListener(type, function (event) {
      if (box.contains(event.target)) {
        return;
      }
      if (event.target && isTextBox(event.target)) {
        lastBox = event.target;
      }
      if (Date.now() - lastAsked >= askEveryMs) {
        keepAlive();
      } else {
        check();
      }
    }, true);
  });
  stay.addEventListener("click", function () {
    keepAlive();
  });

  // Sending a form with typed text asks first whether the session still holds: sent after the
  // session ended, the admin answered with its login page, and the text was gone. Sent as it
  // was when the server says it holds, or cannot say (the request failed).
  var checking = [];
  var cleared = null;
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form === cleared) {
      cleared = null;
      return;
    }
    if (event.defaultPrevented || !holdsTyped(form)) {
      return;
    }
    event.preventDefault();
    if (checking.indexOf(form) >= 0) {
      return; // a second press while the first is asked about: sent once
    }
    checking.push(form);
    var submitter = event.submitter && event.submitter.form === form ? event.submitter : null;
    keepAlive().then(function (answer) {
      checking.splice(checking.indexOf(form), 1);
      if (answer === "ended") {
        show("ended");
        endedNote.focus();
        return;
      }
      cleared = form;
      if (form.requestSubmit) {
        form.requestSubmit(submitter); // its submit event comes back here at once, let through
      } else {
        form.submit();
      }
      cleared = null; // a box the browser found invalid: no submit event, and asked next time
    });
  });

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") {
      check();
    }
  });
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) {
      checking = [];
    }
    check();
  });
  window.addEventListener("storage", function (event) {
    if (event.key === sharedKey) {
      check();
    }
  });
  window.setInterval(check, checkEveryMs);
})();
