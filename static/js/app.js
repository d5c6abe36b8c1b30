// Small behaviours the strict Content-Security-Policy keeps out of inline attributes.
document.addEventListener("change", (event) => {
  const select = event.target.closest("select[data-autosubmit]");
  if (select) select.form.requestSubmit();
});

document.addEventListener("click", (event) => {
  const copy = event.target.closest("[data-copy]");
  if (copy) {
    const source = document.querySelector(copy.dataset.copy);
    if (source && navigator.clipboard) {
      navigator.clipboard.writeText(source.textContent.trim()).then(() => {
        copy.textContent = "Copied";
      });
    }
  }
  const confirmable = event.target.closest("[data-confirm]");
  if (confirmable && !window.confirm(confirmable.dataset.confirm)) {
    event.preventDefault();
  }
});

// Filter bars (data-omit-empty) send only the filters that are set, so the URL pushed to the
// history stays readable: ?search=ada rather than ?search=ada&status=&list_id=&tag=.
document.addEventListener("htmx:configRequest", (event) => {
  if (event.detail.verb !== "get" || !event.detail.elt.closest("[data-omit-empty]")) return;
  const params = event.detail.parameters;
  for (const [name, value] of Object.entries(params)) {
    if (value === "") delete params[name];
  }
});

// A header checkbox (data-select-all="<name>") ticks or clears the page's checkboxes of that name.
document.addEventListener("change", (event) => {
  const all = event.target.closest("input[data-select-all]");
  if (!all) return;
  for (const box of document.querySelectorAll(`input[type="checkbox"][name="${all.dataset.selectAll}"]`)) {
    box.checked = all.checked;
  }
});

// Segment dates are typed as YYYY-MM-DD, the format their placeholder and the rule messages name. The
// calendar button beside one opens the browser's date picker (a hidden date input, whatever the
// browser shows it as) and writes the chosen day back in that format; without JavaScript the button
// stays hidden and the date is typed.
document.addEventListener("htmx:load", (event) => {
  for (const button of event.detail.elt.querySelectorAll("[data-date-picker]")) button.hidden = false;
});

document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-date-picker]");
  if (!button) return;
  const field = button.closest(".segment-date");
  const text = field.querySelector(".segment-date-text");
  const picker = field.querySelector(".segment-date-picker");
  picker.value = /^\d{4}-\d{2}-\d{2}$/.test(text.value.trim()) ? text.value.trim() : "";
  try {
    picker.showPicker();
  } catch {
    text.focus(); // no picker in this browser: type the date
  }
});

// Capturing, so the live count hears only the text field's change (with the new date), not the picker's.
document.addEventListener("change", (event) => {
  const picker = event.target.closest(".segment-date-picker");
  if (!picker) return;
  event.stopPropagation();
  if (!picker.value) return;
  const text = picker.closest(".segment-date").querySelector(".segment-date-text");
  text.value = picker.value;
  text.dispatchEvent(new Event("change", { bubbles: true }));
}, true);

// A failed htmx request leaves the part of the page that asked as it was (base.html's htmx config
// swaps no error answer), and says what went wrong in the problem area (base.html): the server's
// own message when it sends one there (HX-Retarget: #request-problem, a statement timeout), else a
// short one for the status. The next request for that same part of the page that works clears it
// (another part's poller, say a progress bar, does not).
const REQUEST_PROBLEMS = {
  403: "You are not allowed to do this. Reload the page: your role or company may have changed.",
  404: "What you asked for no longer exists. Reload the page.",
  413: "The request is too large.",
  429: "Too many requests. Wait a moment and try again.",
};
let failedTarget = null; // the part of the page whose request failed: {id, element}

function showRequestProblem(target, text) {
  const area = document.getElementById("request-problem");
  if (!area) return;
  if (text !== undefined) {
    const line = document.createElement("p");
    line.className = "error";
    line.textContent = text;
    area.replaceChildren(line);
  }
  failedTarget = target ? { id: target.id, element: target } : null;
  area.parentElement.hidden = false;
}

function clearRequestProblem() {
  const area = document.getElementById("request-problem");
  failedTarget = null;
  if (!area || area.parentElement.hidden) return;
  area.parentElement.hidden = true;
  area.replaceChildren();
}

const isProblemArea = (element) => Boolean(element) && element.id === "request-problem";

document.addEventListener("htmx:beforeSwap", (event) => {
  if (!isProblemArea(event.detail.target)) return;
  event.detail.shouldSwap = true;
  event.detail.isError = false; // the message is the answer: no generic one on top
  failedTarget = { id: event.target.id, element: event.target }; // the event's own target: the original one
});

document.addEventListener("htmx:afterSwap", (event) => {
  if (isProblemArea(event.detail.target)) showRequestProblem(failedTarget && failedTarget.element);
});

document.addEventListener("htmx:responseError", (event) => {
  const status = event.detail.xhr.status;
  showRequestProblem(
    event.detail.target,
    REQUEST_PROBLEMS[status] ||
      (status >= 500
        ? `Something went wrong on our side (error ${status}). Try again in a moment; if it keeps happening, tell your administrator.`
        : `The request was refused (error ${status}). Reload the page and try again.`),
  );
});

document.addEventListener("htmx:sendError", (event) => {
  showRequestProblem(event.detail.target, "The server could not be reached. Check your connection and try again.");
});

document.addEventListener("htmx:afterRequest", (event) => {
  const target = event.detail.target;
  if (!event.detail.successful || !failedTarget || !target || isProblemArea(target)) return;
  if (target === failedTarget.element || (failedTarget.id && target.id === failedTarget.id)) clearRequestProblem();
});

document.addEventListener("click", (event) => {
  if (event.target.closest("[data-dismiss-problem]")) clearRequestProblem();
});
