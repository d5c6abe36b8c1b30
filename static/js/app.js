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
