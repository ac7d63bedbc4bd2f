// Keyboard shortcuts for the review page: a approves, r rejects and puts the cursor in the
// reason, Enter (on the focused button) or Ctrl/Cmd+Enter records the decision, n opens the next
// rating without deciding. Letters typed into the reason stay text.
(function () {
  "use strict";
  const form = document.getElementById("review-form");
  if (!form) return;
  const submit = document.getElementById("submit-review");
  const reason = form.querySelector('textarea[name="reason"]');
  function choose(value) {
    const radio = form.querySelector('input[name="decision"][value="' + value + '"]');
    if (radio) radio.checked = true;
  }
  document.addEventListener("keydown", function (event) {
    if ((event.ctrlKey || event.metaKey) && event.key === "Enter") {
      event.preventDefault();
      submit.click();
      return;
    }
    const typing = /^(TEXTAREA|INPUT|SELECT)$/.test(event.target.tagName) && event.target.type !== "radio";
    if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "a") {
      event.preventDefault();
      choose("approve");
      submit.focus();
    } else if (event.key === "r") {
      event.preventDefault();  // the "r" must not land in the reason
      choose("reject");
      reason.focus();
    } else if (event.key === "n") {
      const next = document.getElementById("next-item");
      if (next) next.click();
    }
  });
})();
