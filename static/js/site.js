// Copy buttons: <button data-copy="#selector">. No inline scripts, so a strict CSP can apply.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const field = document.querySelector(button.dataset.copy);
  if (!field) return;
  const text = field.value || field.textContent;
  try {
    await navigator.clipboard.writeText(text);
  } catch (e) {
    field.select();
    document.execCommand("copy");
  }
  const label = button.textContent;
  button.textContent = "Copied";
  setTimeout(() => { button.textContent = label; }, 1500);
});

// Grant forms: one-click "read only", "everything", "none" for the tool checkboxes.
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-pick]");
  if (!button) return;
  const fieldset = button.closest("[data-grant]");
  fieldset.querySelectorAll("input[name=tools]").forEach((box) => {
    const pick = button.dataset.pick;
    box.checked = pick === "all" || (pick === "read" && box.dataset.group === "read");
  });
});

// Wide tables become stacked cards on a phone (site.css): label each cell with its column's heading.
// A column whose heading is only for screen readers (an action such as "Undo") needs no visible label.
document.querySelectorAll("table.log").forEach((table) => {
  const headings = Array.from(table.querySelectorAll("thead th")).map((th) => {
    const visible = th.cloneNode(true);
    visible.querySelectorAll(".sr-only").forEach((hidden) => hidden.remove());
    return visible.textContent.trim();
  });
  table.querySelectorAll("tbody tr").forEach((row) => {
    Array.from(row.children).forEach((cell, index) => {
      if (headings[index] && cell.colSpan === 1) cell.dataset.label = headings[index];
    });
  });
});
