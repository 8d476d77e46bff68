// Copy buttons (<button data-copy="#element-id">) and the connection form's per-auth-type fields.
// The only script the console needs; without it every page still works.
(function () {
  "use strict";

  function fallbackCopy(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    document.body.removeChild(area);
    return ok ? Promise.resolve() : Promise.reject(new Error("copy failed"));
  }

  function copy(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).catch(function () { return fallbackCopy(text); });
    }
    return fallbackCopy(text);
  }

  function flash(button, label) {
    var original = button.getAttribute("data-label") || button.textContent;
    button.setAttribute("data-label", original);
    button.textContent = label;
    window.setTimeout(function () { button.textContent = original; }, 1500);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) { return; }
    event.preventDefault();
    var source = document.querySelector(button.getAttribute("data-copy"));
    if (!source) { return; }
    var text = source.value !== undefined && source.tagName !== "PRE" ? source.value : source.textContent;
    copy(text).then(
      function () { button.setAttribute("data-copied", "1"); flash(button, "Copied"); },
      function () { flash(button, "Press Ctrl+C"); }
    );
  });
})();

// Connection form: show only the fieldset of the chosen authentication (all are shown without script).
(function () {
  "use strict";

  var select = document.querySelector("select[name=auth_type]");
  if (!select) { return; }
  function sync() {
    document.querySelectorAll("fieldset[data-auth-type]").forEach(function (fieldset) {
      fieldset.hidden = fieldset.getAttribute("data-auth-type") !== select.value;
    });
  }
  select.addEventListener("change", sync);
  sync();
})();
