// Mailroom's small script. Pages work without it; it adds conveniences.
"use strict";

// Copy buttons: <button data-copy="ID-of-an-input" data-copied="label shown after copying">.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  const source = document.getElementById(button.dataset.copy);
  if (!source) return;
  const text = source.value ?? source.textContent;
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    // Without clipboard access (plain http), select the text so the user can copy it.
    source.select?.();
    document.execCommand?.("copy");
  }
  const label = button.textContent;
  button.textContent = button.dataset.copied || label;
  setTimeout(() => { button.textContent = label; }, 1500);
});

// Pages that follow work in the background (a sync under way) carry data-refresh="seconds": they
// reload themselves while it goes on, unless the user is typing in a form.
const refreshing = document.querySelector("[data-refresh]");
if (refreshing) {
  const seconds = Number(refreshing.dataset.refresh) || 5;
  setTimeout(function reload() {
    const active = document.activeElement;
    if (active && active.matches("input, textarea, select")) {
      setTimeout(reload, seconds * 1000);
      return;
    }
    location.reload();
  }, seconds * 1000);
}
