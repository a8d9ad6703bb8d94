// Mailroom's small script. Pages work without it; it adds conveniences.
"use strict";

// Times as the server shows them: in the user's time zone and the page's language, which the
// page names on <html data-zone lang>.
const clockTime = (date) => {
  const root = document.documentElement;
  const options = { hour: "numeric", minute: "2-digit" };
  try {
    return date.toLocaleTimeString(root.lang || [], { ...options, timeZone: root.dataset.zone || "UTC" });
  } catch {
    // A zone this browser does not know: its own clock is the next best.
    return date.toLocaleTimeString(root.lang || [], options);
  }
};

// Login: the browser's time zone becomes the user's at the first sign-in (the server keeps only
// a name its time-zone database knows, and never replaces one the user has).
for (const field of document.querySelectorAll("input[data-browser-zone]")) {
  try {
    field.value = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  } catch {
    field.value = "";
  }
}

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

// Buttons that need a second thought: <button data-confirm="question">.
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-confirm]");
  if (button && !window.confirm(button.dataset.confirm)) event.preventDefault();
});

// Compose: a rich text editor in place of the plain text box. What is typed stays in the form as
// plain text (the message's text part) and as HTML (its HTML part); images pasted in are put in
// as data URLs, which the server turns into inline parts. Without script, the plain box remains.
const plainBody = document.querySelector("form[data-no-subject] #body");
if (plainBody) {
  const form = plainBody.form;
  const toolbar = form.querySelector(".editor-toolbar");
  const editor = document.createElement("div");
  editor.className = "editor";
  editor.contentEditable = "true";
  editor.setAttribute("role", "textbox");
  editor.setAttribute("aria-multiline", "true");
  editor.setAttribute("aria-labelledby", "body-label");
  const escape = (text) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  // A resumed draft comes back as it was formatted (the server cleaned what it kept).
  const kept = form.querySelector("[name=html]").value;
  editor.innerHTML = kept || escape(plainBody.value).replace(/\n/g, "<br>");
  plainBody.after(editor);
  plainBody.hidden = true;
  toolbar.hidden = false;
  const sync = () => {
    plainBody.value = editor.innerText.replace(/\u00a0/g, " ");
    form.querySelector("[name=html]").value = editor.innerHTML;
  };
  document.execCommand("defaultParagraphSeparator", false, "div");
  toolbar.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-command]");
    if (!button) return;
    editor.focus();
    let value = button.dataset.value || null;
    if (button.dataset.prompt) {
      value = window.prompt(button.dataset.prompt, "https://");
      if (!value || !/^(https?:|mailto:)/i.test(value)) return;
    }
    document.execCommand(button.dataset.command, false, value);
    sync();
    form.dispatchEvent(new Event("input"));
  });
  editor.addEventListener("input", sync);
  editor.addEventListener("paste", (event) => {
    const images = Array.from(event.clipboardData?.items || []).filter((item) => item.type.startsWith("image/"));
    if (images.length === 0) return;
    event.preventDefault();
    for (const item of images) {
      const reader = new FileReader();
      reader.onload = () => {
        document.execCommand("insertImage", false, reader.result);
        sync();
        form.dispatchEvent(new Event("input"));
      };
      reader.readAsDataURL(item.getAsFile());
    }
  });
  // The editor's text goes with the form whichever handler runs first.
  form.addEventListener("submit", sync, { capture: true });
  form.addEventListener("formdata", sync, { capture: true });
  sync();
}

// Compose: files dropped anywhere on the form join those picked (an image dropped on the
// editor goes into the text, as a pasted one does).
const dropForm = document.querySelector("form[data-no-subject]");
if (dropForm) {
  const picker = dropForm.querySelector("#attachments");
  dropForm.addEventListener("dragover", (event) => {
    if (!event.dataTransfer?.types.includes("Files")) return;
    event.preventDefault();
    dropForm.classList.add("dropping");
  });
  dropForm.addEventListener("dragleave", () => dropForm.classList.remove("dropping"));
  dropForm.addEventListener("drop", (event) => {
    dropForm.classList.remove("dropping");
    if (event.target.closest(".editor") || !event.dataTransfer?.files.length) return;
    event.preventDefault();
    const all = new DataTransfer();
    for (const file of picker.files) all.items.add(file);
    for (const file of event.dataTransfer.files) all.items.add(file);
    picker.files = all.files;
    picker.dispatchEvent(new Event("change", { bubbles: true }));
  });
}

// Compose: a second thought before sending without a subject, with a file mentioned in what
// the user wrote (not in the quoted original) but none attached, or with a template's
// {{placeholder}} left unfilled.
const composeForm = document.querySelector("form[data-no-subject]");
if (composeForm) {
  composeForm.addEventListener("submit", (event) => {
    const subject = composeForm.querySelector("#subject").value.trim();
    const written = [];
    for (const line of composeForm.querySelector("#body").value.split("\n")) {
      if (line.startsWith("---------- ")) break;
      if (!line.startsWith(">")) written.push(line);
    }
    const files = composeForm.querySelector("#attachments").files.length
      + (composeForm.querySelector("[name=keep_attachments]:checked") ? 1 : 0);
    const mentions = new RegExp(composeForm.dataset.attachWords, "iu").test(written.join("\n"));
    // Sent separately, {{name}}, {{first_name}} and {{email}} are each recipient's own.
    const separately = composeForm.querySelector("[name=separately]:checked");
    const placeholders = Array.from((subject + "\n" + written.join("\n")).matchAll(/\{\{\s*([\p{L}\p{N}_-]+)\s*\}\}/gu), (m) => m[1]);
    const unfilled = placeholders.some((name) => !(separately && ["name", "first_name", "email"].includes(name)));
    const warnings = [];
    if (unfilled) warnings.push(composeForm.dataset.unfilled);
    if (!subject) warnings.push(composeForm.dataset.noSubject);
    if (mentions && files === 0) warnings.push(composeForm.dataset.noAttachment);
    if (warnings.some((warning) => !window.confirm(warning))) event.preventDefault();
  });
}

// The list's "select all" box.
document.addEventListener("change", (event) => {
  if (!event.target.matches("[data-select-all]")) return;
  for (const box of document.querySelectorAll(".rows input[name=ids]")) box.checked = event.target.checked;
});

// The mail workspace's keyboard: j/k move through the list, o or Enter opens, u goes back, e
// archives, # trashes, s stars, Shift+I / Shift+U mark read / unread, c writes a new message, r / a
// / f reply, reply to all and forward the open one, ? shows the shortcuts.
const mail = document.querySelector(".mail");
if (mail) {
  const rows = () => Array.from(document.querySelectorAll(".rows .row"));
  let keyed = rows().findIndex((row) => row.classList.contains("current"));
  const key = (index) => {
    const list = rows();
    if (list.length === 0) return;
    keyed = Math.max(0, Math.min(list.length - 1, index));
    list.forEach((row, i) => row.classList.toggle("keyed", i === keyed));
    list[keyed].querySelector("a.open")?.focus();
  };
  // Acts on the keyed row through the list's form, when no message is open.
  const actOnKeyed = (action) => {
    const row = rows()[keyed];
    const form = document.getElementById("list-form");
    if (!row || !form) return;
    row.querySelector("input[name=ids]").checked = true;
    const button = document.createElement("button");
    button.name = "action";
    button.value = action;
    button.hidden = true;
    form.append(button);
    button.click();
  };
  const readerButton = (name) => document.querySelector(`.reader button[data-key="${name}"]`);
  const actions = { e: "archive", "#": "trash", s: "star", I: "read", U: "unread" };
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.target.closest("input, textarea, select, [contenteditable]")) return;
    const k = event.key;
    if (k === "j") key(keyed + 1);
    else if (k === "k") key(keyed - 1);
    else if (k === "o") rows()[keyed]?.querySelector("a.open")?.click();
    else if (k === "u") document.querySelector("[data-key-back]")?.click();
    else if (k === "?") document.getElementById("shortcuts")?.showModal();
    else if (k === "/") document.querySelector("input[name=q]")?.focus();
    else if (k === "c") document.querySelector("[data-key-compose]")?.click();
    else if (k === "r" || k === "a" || k === "f") document.querySelector(`.reader a[data-key="${k}"]`)?.click();
    else if (k in actions) {
      // With a message open the keys act on it (it is read already); otherwise on the keyed row.
      const button = readerButton(k);
      if (button) button.click();
      else if (!document.querySelector(".reader")) actOnKeyed(actions[k]);
    } else return;
    event.preventDefault();
  });

  // Live: the change feed is asked every 10 s. When something changed, the folder list and the
  // message list are fetched again and swapped in place (the open message stays as it is), unless
  // the user is in the middle of selecting; the title's unread count follows.
  const feed = mail.dataset.live;
  let cursor = null;
  const poll = async () => {
    try {
      const url = cursor === null ? feed : `${feed}?cursor=${encodeURIComponent(cursor)}`;
      const answer = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!answer.ok) return;
      const body = await answer.json();
      const changed = cursor !== null && body.data.length > 0;
      cursor = body.next_cursor;
      if (changed) await refresh();
    } catch {
      // Offline for a moment: the next round tries again.
    }
  };
  const refresh = async () => {
    const selecting = document.querySelector(".rows input[name=ids]:checked");
    // The list without the open message: fetching that would read it again.
    const list = new URL(location.href);
    list.searchParams.delete("open");
    list.searchParams.delete("images");
    list.searchParams.delete("notice");
    const page = await fetch(list, { credentials: "same-origin" });
    if (!page.ok) return;
    const fresh = new DOMParser().parseFromString(await page.text(), "text/html");
    document.title = fresh.title;
    for (const part of [".mail .folders", ".messages .rows", ".messages .pages"]) {
      const now = document.querySelector(part);
      const next = fresh.querySelector(part);
      if (selecting && part === ".messages .rows") continue;
      if (now && next) now.replaceWith(next);
    }
    const note = document.querySelector(".live-note");
    if (note && selecting) note.hidden = false;
    const open = document.querySelector(".reader")?.dataset.message;
    for (const row of document.querySelectorAll(".rows .row")) row.classList.toggle("current", row.dataset.id === open);
  };
  poll();
  setInterval(poll, Number(mail.dataset.poll) * 1000 || 10000);
}

// People from the user's mail suggested as an address is typed in To, Cc or Bcc, or a word in
// the search box (arrows move, Enter or a click takes one, Escape closes); the entry being typed
// is replaced.
for (const input of document.querySelectorAll("input[data-suggest]")) {
  const list = document.createElement("ul");
  list.className = "suggestions";
  list.id = `${input.id}-suggestions`;
  list.setAttribute("role", "listbox");
  list.hidden = true;
  input.after(list);
  input.setAttribute("role", "combobox");
  input.setAttribute("aria-controls", list.id);
  input.setAttribute("aria-autocomplete", "list");
  input.setAttribute("aria-expanded", "false");
  let timer = 0;
  let active = -1;
  const show = (open) => {
    list.hidden = !open;
    input.setAttribute("aria-expanded", String(open));
    if (!open) input.removeAttribute("aria-activedescendant");
  };
  // In the search box the entry is the last word, and a person goes in as from: (or the
  // operator typed); in an address field it is what follows the last comma or semicolon.
  const search = input.dataset.suggest === "search";
  const operator = /^(from|to|cc):/i;
  const cut = () => search
    ? Math.max(input.value.lastIndexOf(" "), input.value.lastIndexOf("(")) + 1
    : Math.max(input.value.lastIndexOf(","), input.value.lastIndexOf(";")) + 1;
  const entry = () => input.value.slice(cut()).trim().replace(search ? operator : /^$/, "");
  const choose = (item) => {
    if (search) {
      const op = input.value.slice(cut()).match(operator)?.[0].toLowerCase() || "from:";
      input.value = `${input.value.slice(0, cut())}${op}${item.dataset.address} `;
    } else {
      const head = input.value.slice(0, cut()).trimEnd();
      input.value = `${head ? `${head} ` : ""}${item.dataset.value}, `;
    }
    show(false);
    input.focus();
  };
  const mark = (index) => {
    const items = Array.from(list.children);
    active = (index + items.length) % items.length;
    items.forEach((item, i) => item.setAttribute("aria-selected", String(i === active)));
    input.setAttribute("aria-activedescendant", items[active].id);
  };
  input.addEventListener("input", () => {
    window.clearTimeout(timer);
    const typed = entry();
    if (!typed || (search && (typed.length < 2 || typed.startsWith('"') || /^[a-z]+:/i.test(typed)))) return show(false);
    timer = window.setTimeout(async () => {
      const answer = await fetch(`/api/v1/addresses?q=${encodeURIComponent(typed)}`, { credentials: "same-origin" });
      if (!answer.ok || entry() !== typed) return;
      const { data } = await answer.json();
      list.replaceChildren(...data.map((person, i) => {
        const item = document.createElement("li");
        const name = (person.name || "").replace(/["\\<>]/g, "");
        const quoted = /[,;:@()[\]]/.test(name) ? `"${name}"` : name;
        item.id = `${list.id}-${i}`;
        item.setAttribute("role", "option");
        item.dataset.value = name ? `${quoted} <${person.address}>` : person.address;
        item.dataset.address = person.address;
        item.textContent = name ? `${name} <${person.address}>` : person.address;
        item.addEventListener("mousedown", (event) => { event.preventDefault(); choose(item); });
        return item;
      }));
      active = -1;
      show(data.length > 0);
    }, 150);
  });
  input.addEventListener("keydown", (event) => {
    if (list.hidden) return;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      mark(active + (event.key === "ArrowDown" ? 1 : -1));
    } else if (event.key === "Enter" && active >= 0) {
      event.preventDefault();
      choose(list.children[active]);
    } else if (event.key === "Escape") {
      show(false);
    }
  });
  input.addEventListener("blur", () => show(false));
}

// Compose: the draft is saved two seconds after typing stops and when the page is left (files
// apart, which go with the message only). One save at a time; the answer names the draft, so
// later saves change it rather than make another.
const autosaved = document.querySelector("form[data-autosave]");
if (autosaved) {
  const draftField = autosaved.querySelector("[name=draft]");
  const status = autosaved.querySelector(".draft-status");
  let timer = 0;
  let saving = Promise.resolve();
  let changed = false;
  let sending = false;
  const fields = () => {
    const data = new FormData(autosaved);
    data.delete("attachments");
    return data;
  };
  const save = () => {
    if (!changed || sending) return saving;
    changed = false;
    saving = saving.then(async () => {
      const answer = await fetch(autosaved.dataset.autosave, { method: "POST", body: fields(), credentials: "same-origin" });
      // The draft went meanwhile (sent or discarded elsewhere): the next save starts a new one.
      if (answer.status === 404 && draftField.value) {
        draftField.value = "";
        changed = true;
        window.setTimeout(save, 0);
        return;
      }
      if (!answer.ok) return;
      const draft = await answer.json();
      draftField.value = draft.id;
      const at = clockTime(new Date());
      status.firstChild.textContent = `${status.dataset.saved} ${at} · `;
    }).catch(() => { changed = true; });
    return saving;
  };
  status.prepend(document.createTextNode(""));
  autosaved.addEventListener("input", () => {
    changed = true;
    window.clearTimeout(timer);
    timer = window.setTimeout(save, 2000);
  });
  autosaved.addEventListener("submit", () => { sending = true; window.clearTimeout(timer); });
  // Leaving: the last words go with a beacon, which outlives the page.
  window.addEventListener("pagehide", () => {
    if (changed && !sending && navigator.sendBeacon(autosaved.dataset.autosave, fields())) changed = false;
  });
}
