/* The patient form: focus the error summary, and show the emergency advice at once (spec §1 I). */
(function () {
  "use strict";

  // A POST to one of the form's own endpoints, with the page's CSRF token (and any other
  // options of fetch's).
  function post(url, options) {
    var csrf = document.querySelector("input[name=csrfmiddlewaretoken]");
    return fetch(url, Object.assign({
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrf ? csrf.value : "" },
    }, options));
  }

  var summary = document.getElementById("error-summary");
  if (summary) {
    summary.focus();
    // Followed as a plain link, the browser scrolls the box or radio itself to the top of the
    // window, leaving its question (the label, or the group's legend) out of sight above it.
    summary.addEventListener("click", function (event) {
      var link = event.target.closest ? event.target.closest("a[href^='#']") : null;
      var input = link ? document.getElementById(link.getAttribute("href").slice(1)) : null;
      if (!input) {
        return;
      }
      var group = input.closest("fieldset");
      var legend = group ? group.querySelector("legend") : null;
      var question = legend || document.querySelector("label[for='" + input.id + "']");
      if (!question) {
        return;
      }
      event.preventDefault();
      var top = question.getBoundingClientRect().top;
      var bottom = input.getBoundingClientRect().bottom;
      // A question too long to show with its control: the control comes first.
      (bottom - top <= window.innerHeight ? question : input).scrollIntoView({ block: "start" });
      input.focus({ preventScroll: true });
    });
  }

  // A second click on the button would send the step twice: the first one is enough.
  // Only for a while: a save that never left the page (Stop or Escape on a slow connection,
  // a request cut off) fires no event here, and a button disabled for good left the patient
  // unable to continue, Enter in a box too (no implicit submission without an enabled button).
  // Sent twice after that, a step is saved twice with the same answers.
  var resendAfterMs = 4000;
  var enable = function (buttons) {
    buttons.forEach(function (button) {
      button.disabled = false;
    });
  };
  document.addEventListener("submit", function (event) {
    // A number box with text the browser cannot read as a number (a range, 10-11, in pounds) is
    // sent empty, and the step was saved without it: each is named, and the server refuses it
    // with its message (intake.forms.UNREADABLE).
    event.target.querySelectorAll("input[name=unreadable]").forEach(function (named) {
      named.remove();
    });
    event.target.querySelectorAll("input[type=number]").forEach(function (box) {
      if (box.validity && box.validity.badInput) {
        var named = document.createElement("input");
        named.type = "hidden";
        named.name = "unreadable";
        named.value = box.name;
        event.target.appendChild(named);
      }
    });
    var buttons = event.target.querySelectorAll("button[type=submit]");
    window.setTimeout(function () {
      buttons.forEach(function (button) {
        button.disabled = true;
      });
      window.setTimeout(function () {
        enable(buttons);
      }, resendAfterMs);
    }, 0);
  });
  // A page brought back by Back from the back/forward cache is as it was left, button and all.
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) {
      enable(document.querySelectorAll("form button[type=submit]"));
    }
  });

  // A mouse wheel turned over a number box with the focus counts its value up or down in
  // chromium: a height or a pain score just typed, the pointer left over it while scrolling to
  // the button, was saved one or more off what was typed (a QA round). The box lets go of the
  // focus instead, and the wheel leaves its value alone.
  document.addEventListener("wheel", function (event) {
    var box = event.target;
    if (box.type === "number" && box === document.activeElement) {
      box.blur();
    }
  }, { passive: true });

  // The form's session closes after data-idle-seconds without a request (a shared computer).
  // While the patient is active (typing, choosing) the page keeps it open with a request every
  // few minutes; a while before it would close, a warning offers to keep it (WCAG 2.2.1).
  // Once it has closed the page goes to data-closed-url: left on the screen, it showed the
  // answers, and its private link opened the whole form, to whoever sat down next (a review).
  // The result page and a first step not yet saved close likewise, counting from the last
  // activity on the page alone (they hold nothing open on the server).
  // A page counts from the earliest its session may have been kept open, so it may close up to
  // a refresh interval before the session does: it ends the form's hold in this browser
  // (data-close-url) before it leaves, or Back in that minute showed the form, filled in by
  // the server, with its private link (a review).
  var closer = document.querySelector("[data-closed-url]");
  if (closer) {
    var idle = document.getElementById("idle-warning");
    var keepUrl = closer.getAttribute("data-keep-open-url");
    var idleMs = Number(closer.getAttribute("data-idle-seconds")) * 1000;
    var warnMs = Math.min(180000, idleMs / 4);
    var keepEveryMs = Math.min(300000, idleMs / 3);
    var checkEveryMs = 15000;
    // The page's own request moved the session's end by up to this much less (it is moved at
    // most once a refresh interval): count from the earliest it may have been.
    var lastKept = Date.now() - Number(closer.getAttribute("data-refresh-seconds")) * 1000;
    var lastActive = 0;
    var closed = false;
    var keeping = Promise.resolve(); // the last keep-open's request
    // Windows of one browser showing the same form share its count: one the patient is at work
    // in keeps the form open for all of them. Side by side (both in sight), the other one,
    // left alone, warned and closed on its own count, and closing ended the form under the
    // patient at work in the first (a review). Kept in the browser's storage for this form.
    var form = closer.getAttribute("data-form");
    var sharedKey = form ? "intake-kept:" + form : null;
    var share = function (at) {
      try {
        if (at) {
          window.localStorage.setItem(sharedKey, String(at));
        } else {
          window.localStorage.removeItem(sharedKey);
        }
      } catch (error) {} // storage turned off: each window counts alone, as before
    };
    var sharedKept = function () {
      try {
        return Number(window.localStorage.getItem(sharedKey)) || 0;
      } catch (error) {
        return 0;
      }
    };
    if (sharedKey) {
      // A form sent or left leaves its count behind: those past the limit go.
      try {
        Object.keys(window.localStorage).forEach(function (key) {
          var at = Number(window.localStorage.getItem(key)) || 0;
          if (key.indexOf("intake-kept:") === 0 && key !== sharedKey && Date.now() - at > idleMs) {
            window.localStorage.removeItem(key);
          }
        });
      } catch (error) {}
    }
    var close = function () {
      if (closed) {
        return;
      }
      closed = true;
      if (sharedKey) {
        share(0);
      }
      var leave = function () {
        // Replaced, not added: Back does not lead to the page that was closed.
        window.location.replace(closer.getAttribute("data-closed-url"));
      };
      // Off the screen whatever the answer: if the request failed, the session still ends
      // within the minute. Sent once a keep-open still on its way is answered (the page
      // blank meanwhile): answered after the close, for a session ended by then, that answer
      // took the browser's session cookie away (Django's, for a request whose session is
      // empty) with the closed mark the close had just set, and Back brought the last person's
      // first step back filled in (a flaky test: the page's clock run past the limit with one
      // out).
      document.documentElement.hidden = true;
      var closing = function () {
        return post(closer.getAttribute("data-close-url"));
      };
      keeping.then(closing, closing).then(leave, leave);
    };
    var keepOpen = function () {
      if (closed) {
        // Closing: hiding the page blurs the box in use, whose change event came here.
        return;
      }
      var keptAt = Date.now();
      lastKept = keptAt;
      if (idle) {
        idle.classList.add("d-none");
      }
      if (!keepUrl) {
        return;
      }
      // The server says whether the form is still open here: after a phone was locked past
      // the limit, "Keep my form open" or a tap found it closed and the page stayed as it was.
      keeping = post(keepUrl);
      keeping
        .then(function (response) {
          return response.ok ? response.json() : { open: true };
        })
        .then(function (answer) {
          if (!answer.open) {
            close();
          } else if (sharedKey) {
            share(keptAt);
          }
        })
        .catch(function () {});
    };
    var check = function () {
      var now = Date.now();
      if (sharedKey && sharedKept() > lastKept) {
        // Kept open from another window of this form since: counted from then, as if here.
        lastKept = Math.min(sharedKept(), now);
        if (idle) {
          idle.classList.add("d-none");
        }
      }
      var active = lastActive > lastKept;
      if (now - lastKept >= idleMs) {
        // Past the limit. Someone at the page since may still hold it open: the server says.
        // A page out of sight (a tab behind the one in use, a locked phone) closes when it is
        // next shown: closing ends the form in this browser, in every tab, and would end it
        // under a patient at work in another one (who opened their private link there, say).
        if (active) {
          keepOpen();
        } else if (document.visibilityState !== "hidden") {
          close();
        }
      } else if (active && now - lastKept >= keepEveryMs) {
        keepOpen();
      } else if (idle && now - lastKept >= idleMs - warnMs && idle.classList.contains("d-none")) {
        idle.classList.remove("d-none");
        // On a phone the patient is mostly far down a step, well below the warning at its top
        // (a review found it 700 px above the window). "nearest" leaves one in view in place.
        idle.scrollIntoView({ block: "nearest" });
      }
    };
    ["input", "keydown", "pointerdown", "change"].forEach(function (type) {
      document.addEventListener(type, function () {
        lastActive = Date.now();
        // Typed or chosen after the last check before the limit, kept open at once: counted at
        // the next check, up to a check's interval past the limit, it kept open a session
        // already ended, and the page closed under the patient with what they had typed.
        // Not on a button's press: "Keep my form open" keeps it open, once.
        var late = lastActive - lastKept >= idleMs - checkEveryMs;
        if ((type === "input" || type === "change") && late) {
          keepOpen();
        }
      }, true);
    });
    if (idle) {
      document.getElementById("idle-keep-open").addEventListener("click", keepOpen);
    }
    // A phone unlocked, a tab brought back, a page restored by Back: checked at once, before
    // whoever is there reads it, where the next 15-second check would leave it on the screen.
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible") {
        check();
      }
    });
    window.addEventListener("pageshow", check);
    if (sharedKey) {
      // "Keep my form open" in another window takes the warning off this one at once.
      window.addEventListener("storage", function (event) {
        if (event.key === sharedKey) {
          check();
        }
      });
    }
    window.setInterval(check, checkEveryMs);
  }

  // A first step shown after this browser's form was closed (or "Start a new form"): Back
  // brought the last person's first step back with their name, birth date and contact details
  // in its boxes, put back by the browser from its own store over the empty page the server
  // sent. A history entry not stamped with the server's latest mark was someone else's: its
  // boxes are set back to what the server sent. One stamped with it is this patient's own, and
  // what they typed there stays when they come back to it. Chromium puts the boxes back after
  // this script has run: before DOMContentLoaded, or (Back to a page that replaced itself)
  // after load, before pageshow. A page newly opened has nothing put back, and is left alone
  // while the patient may already be typing.
  // On a slow connection the page shows, and is typed into, well before load, even before
  // this script runs: a reset of the whole form wiped what the next patient had begun to type.
  // A box they typed in or chose (an input or change event, noted from the page's head on:
  // the browser puts boxes back without one) keeps what they left in it, put back if chromium
  // wrote the last person's value over it after load; only the other boxes are set back.
  var fresh = document.querySelector("form[data-closed-mark]");
  if (fresh) {
    var mark = fresh.getAttribute("data-closed-mark");
    var entry = window.history.state;
    var opened = performance.getEntriesByType ? performance.getEntriesByType("navigation") : [];
    var restorable = !opened.length || opened[0].type !== "navigate";
    if (!entry || entry.intakeClosedMark !== mark) {
      window.history.replaceState(Object.assign({}, entry, { intakeClosedMark: mark }), "");
      if (restorable) {
        var boxes = Array.prototype.filter.call(fresh.elements, function (box) {
          return /^(input|select|textarea)$/i.test(box.tagName) &&
            !/^(hidden|submit|button|reset|image)$/.test(box.type);
        });
        // A box as left: its value, ticked or not, or (a list) which of its options are chosen.
        var stateOf = function (box) {
          if (box.type === "checkbox" || box.type === "radio") {
            return box.checked;
          }
          if (box.options) {
            return Array.prototype.map.call(box.options, function (option) {
              return option.selected;
            });
          }
          return box.value;
        };
        var setTo = function (box, state) {
          if (box.type === "checkbox" || box.type === "radio") {
            if (box.checked !== state) {
              box.checked = state;
            }
          } else if (box.options) {
            Array.prototype.forEach.call(box.options, function (option, index) {
              if (option.selected !== state[index]) {
                option.selected = state[index];
              }
            });
          } else if (box.value !== state) {
            // Only when it differs: a date typed in part reads "" and would be cleared.
            box.value = state;
          }
        };
        var sent = function (box) {
          if (box.type === "checkbox" || box.type === "radio") {
            return box.defaultChecked;
          }
          if (box.options) {
            return Array.prototype.map.call(box.options, function (option) {
              return option.defaultSelected;
            });
          }
          return box.defaultValue;
        };
        var theirs = new Map();
        var keep = function (event) {
          var box = event.target;
          if (boxes.indexOf(box) < 0) {
            return;
          }
          // Ticking a radio unticks the others of its group without an event of theirs.
          var group = box.type === "radio" ? boxes.filter(function (other) {
            return other.type === "radio" && other.name === box.name;
          }) : [box];
          group.forEach(function (member) {
            theirs.set(member, stateOf(member));
          });
        };
        fresh.addEventListener("input", keep, true);
        fresh.addEventListener("change", keep, true);
        // Those typed in or chosen before this script ran (step.html notes them) hold what the
        // patient left in them: chromium puts no box back before it has run.
        if (window.intakeTouched) {
          window.intakeTouched.forEach(function (box) {
            keep({ target: box });
          });
        }
        var forget = function () {
          boxes.forEach(function (box) {
            setTo(box, theirs.has(box) ? theirs.get(box) : sent(box));
          });
        };
        document.addEventListener("DOMContentLoaded", forget);
        window.addEventListener("pageshow", function once(event) {
          window.removeEventListener("pageshow", once);
          if (!event.persisted) {
            forget();
          }
        });
      }
    }
  }

  // "Finish and clear this screen" on the result page: the closed page replaces it in the
  // history, as when it closes by itself. Sent as a plain form (a new history entry, the
  // result page forgotten on the server all the same) if the request cannot be made.
  var finish = document.getElementById("finish");
  if (finish) {
    finish.addEventListener("submit", function (event) {
      event.preventDefault();
      post(finish.action, { redirect: "manual" })
        .then(function (response) {
          if (response.type !== "opaqueredirect") {
            throw new Error(String(response.status));
          }
          window.location.replace(finish.getAttribute("data-finished-url"));
        })
        .catch(function () {
          finish.submit();
        });
    });
  }

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
    post(advice.getAttribute("data-record-url")).catch(function () {
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

  // Back, Forward or a return to the page brings an unsent "Yes" back ticked (the browser
  // restores what was typed) with no change event: the advice must show with it.
  function showForRestoredYes() {
    if (document.querySelector("input[data-interrupt][value=yes]:checked")) {
      advice.classList.remove("d-none");
      record();
    }
  }
  showForRestoredYes();
  window.addEventListener("pageshow", showForRestoredYes);
})();
