// Keyboard shortcuts for the rating form: 1-5 choose the preference (outside text fields),
// Ctrl/Cmd+Enter submits, Ctrl/Cmd+S saves a draft.
(function () {
  "use strict";
  const form = document.getElementById("rating-form");
  if (!form) return;
  const options = form.querySelectorAll('input[name="preference"]');
  document.addEventListener("keydown", function (event) {
    const typing = /^(TEXTAREA|INPUT|SELECT)$/.test(event.target.tagName) && event.target.type !== "radio";
    if ((event.ctrlKey || event.metaKey) && event.key === "Enter") {
      event.preventDefault();
      document.getElementById("submit-rating").click();
      return;
    }
    if ((event.ctrlKey || event.metaKey) && (event.key === "s" || event.key === "S")) {
      event.preventDefault();
      document.getElementById("save-draft").click();
      return;
    }
    if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
    const index = "12345".indexOf(event.key);
    if (index >= 0 && options[index]) {
      options[index].checked = true;
      options[index].dispatchEvent(new Event("change", { bubbles: true }));
      options[index].closest("label").classList.add("flash");
      setTimeout(function () { options[index].closest("label").classList.remove("flash"); }, 300);
    }
  });
})();
