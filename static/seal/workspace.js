// The rating form by keyboard, saved as you go.
//   1-5 (outside text fields and score groups) choose the preference, then the first score
//   group takes the focus; in a focused score group a number picks that score and moves on to
//   the next group (after the last one, to the justification). Tab, arrows and Space work as
//   usual. Ctrl/Cmd+Enter submits, Ctrl/Cmd+S saves the draft now.
//   Every change is saved as a draft shortly after (fetch to the page's own draft action, which
//   answers JSON); leaving with unsaved changes asks first.
(function () {
  "use strict";
  const form = document.getElementById("rating-form");
  if (!form) return;
  const options = form.querySelectorAll('input[name="preference"]');
  const justification = form.querySelector('textarea[name="justification"]');
  const counter = document.getElementById("justification-count");
  const status = document.getElementById("autosave-status");
  const AUTOSAVE_MS = 1500;

  // One entry per score group (a dimension for one answer), in page order.
  const groups = [];
  form.querySelectorAll('input[type="radio"][name^="score_"]').forEach(function (radio) {
    if (groups.indexOf(radio.name) < 0) groups.push(radio.name);
  });

  function radiosOf(name) {
    return form.querySelectorAll('input[type="radio"][name="' + name + '"]');
  }

  function focusGroup(index) {
    if (index >= groups.length) {
      justification.focus();
      return;
    }
    const radios = radiosOf(groups[index]);
    const checked = Array.prototype.find.call(radios, function (r) { return r.checked; });
    (checked || radios[0]).focus();
  }

  function pick(radio) {
    radio.checked = true;
    radio.dispatchEvent(new Event("change", { bubbles: true }));
  }

  // --- justification count ---------------------------------------------------------------
  function count() {
    const minimum = parseInt(counter.dataset.min, 10) || 0;
    const length = justification.value.trim().length;
    counter.textContent = String(length);
    counter.classList.toggle("short", length < minimum);
    counter.classList.toggle("enough", length >= minimum);
  }
  if (counter && justification) {
    justification.addEventListener("input", count);
    count();
  }

  // --- autosave and the unsaved-changes guard ----------------------------------------------
  let dirty = false;
  let leaving = false;
  let timer = null;
  let saving = null;

  function say(text) {
    if (status) status.textContent = text;
  }

  function save() {
    if (timer) { clearTimeout(timer); timer = null; }
    if (!dirty) return Promise.resolve();
    if (saving) return saving.then(save);
    const body = new FormData(form);
    body.set("action", "draft");
    dirty = false;
    say("Saving draft…");
    saving = fetch(window.location.href, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRFToken": body.get("csrfmiddlewaretoken") || "" },
    }).then(function (response) {
      return response.json().then(function (answer) {
        if (response.ok && answer.saved) {
          say("Draft saved at " + new Date().toLocaleTimeString() + ".");
        } else {
          dirty = true;
          say("Draft not saved: " + (answer.error || response.status));
        }
      });
    }).catch(function () {
      dirty = true;
      say("Draft not saved: no connection. It will be tried again.");
    }).finally(function () { saving = null; });
    return saving;
  }

  function changed() {
    dirty = true;
    say("Unsaved changes…");
    if (timer) clearTimeout(timer);
    timer = setTimeout(save, AUTOSAVE_MS);
  }
  form.addEventListener("input", changed);
  form.addEventListener("change", changed);
  form.addEventListener("submit", function () {
    leaving = true;
    if (timer) clearTimeout(timer);
  });
  window.addEventListener("beforeunload", function (event) {
    if (leaving || (!dirty && !saving)) return;
    event.preventDefault();
    event.returnValue = "";
  });

  // --- keys --------------------------------------------------------------------------------
  document.addEventListener("keydown", function (event) {
    const target = event.target;
    const typing = /^(TEXTAREA|INPUT|SELECT)$/.test(target.tagName) && target.type !== "radio";
    if ((event.ctrlKey || event.metaKey) && event.key === "Enter") {
      event.preventDefault();
      document.getElementById("submit-rating").click();
      return;
    }
    if ((event.ctrlKey || event.metaKey) && (event.key === "s" || event.key === "S")) {
      event.preventDefault();
      dirty = true;
      save();
      return;
    }
    if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
    if (!/^[0-9]$/.test(event.key)) return;
    const group = target.type === "radio" ? groups.indexOf(target.name) : -1;
    if (group >= 0) {
      const radio = Array.prototype.find.call(radiosOf(target.name), function (r) {
        return r.value === event.key;
      });
      if (!radio) return;
      event.preventDefault();
      pick(radio);
      focusGroup(group + 1);
      return;
    }
    const index = "12345".indexOf(event.key);
    if (index >= 0 && options[index]) {
      event.preventDefault();
      pick(options[index]);
      const label = options[index].closest("label");
      label.classList.add("flash");
      setTimeout(function () { label.classList.remove("flash"); }, 300);
      focusGroup(0);
    }
  });
})();
