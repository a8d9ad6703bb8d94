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

// Compose (and signatures): a rich text editor in place of the plain text box. What is typed
// stays in the form as plain text (the message's text part) and as HTML (its HTML part); images
// pasted in are put in as data URLs, which the server turns into inline parts. Without script,
// the plain box remains, and the form says so (no `rich` field), so stale HTML is never taken.
for (const plainBody of document.querySelectorAll("form[data-no-subject] #body, textarea[data-rich]")) {
  const form = plainBody.form;
  const toolbar = form.querySelector(".editor-toolbar");
  const editor = document.createElement("div");
  editor.className = "editor";
  editor.contentEditable = "true";
  editor.setAttribute("role", "textbox");
  editor.setAttribute("aria-multiline", "true");
  const label = plainBody.labels[0];
  if (label && !label.id) label.id = `${plainBody.id}-label`;
  editor.setAttribute("aria-labelledby", label?.id || "body-label");
  form.append(Object.assign(document.createElement("input"), { type: "hidden", name: "rich", value: "1" }));
  // A refused body's error is read with the editor, as it was with the plain box.
  for (const name of ["aria-describedby", "aria-invalid"]) {
    if (plainBody.hasAttribute(name)) editor.setAttribute(name, plainBody.getAttribute(name));
  }
  const escape = (text) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  // A resumed draft comes back as it was formatted (the server cleaned what it kept); a new
  // message starts with the formatted signature the page holds apart from the form.
  const kept = form.querySelector("[name=html]").value || form.querySelector("template.initial-html")?.innerHTML;
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
  // The toolbar is one Tab stop: the arrow keys, Home and End move between its buttons, and Tab
  // comes back to the one last used (a roving tabindex, as WAI-ARIA's toolbar pattern has it).
  const tools = Array.from(toolbar.querySelectorAll("button"));
  const rove = (current) => tools.forEach((tool) => { tool.tabIndex = tool === current ? 0 : -1; });
  rove(tools[0]);
  toolbar.addEventListener("focusin", (event) => { if (tools.includes(event.target)) rove(event.target); });
  toolbar.addEventListener("keydown", (event) => {
    const at = tools.indexOf(event.target);
    const to = { ArrowRight: at + 1, ArrowLeft: at - 1, Home: 0, End: tools.length - 1 }[event.key];
    if (at < 0 || to === undefined) return;
    event.preventDefault();
    tools[(to + tools.length) % tools.length].focus();
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
    // The picker's own files went up when they were picked: these join them the same way.
    picker.files = event.dataTransfer.files;
    picker.dispatchEvent(new Event("change", { bubbles: true }));
  });
}

// Compose: a second thought before sending without a subject, with a file mentioned in what
// the user wrote (not in the quoted original) but none attached, or with a template's
// {{placeholder}} left unfilled.
const composeForm = document.querySelector("form[data-no-subject]");
if (composeForm) {
  composeForm.addEventListener("submit", (event) => {
    // Discarding asks its own question.
    if (event.submitter?.hasAttribute("data-discard")) return;
    const subject = composeForm.querySelector("#subject").value.trim();
    const written = [];
    for (const line of composeForm.querySelector("#body").value.split("\n")) {
      if (line.startsWith("---------- ")) break;
      if (!line.startsWith(">")) written.push(line);
    }
    const files = composeForm.querySelector("#attachments").files.length
      + composeForm.querySelectorAll("ul.files li").length
      + (composeForm.querySelector("[name=keep_attachments]:checked") ? 1 : 0);
    const mentions = new RegExp(composeForm.dataset.attachWords, "iu").test(written.join("\n"));
    // Sent separately, {{name}}, {{first_name}} and {{email}} are each recipient's own.
    const separately = composeForm.querySelector("[name=separately]:checked");
    const placeholders = Array.from((subject + "\n" + written.join("\n")).matchAll(/\{\{\s*([\p{L}\p{N}_-]+)\s*\}\}/gu), (m) => m[1]);
    const unfilled = [...new Set(placeholders.filter((name) => !(separately && ["name", "first_name", "email"].includes(name))))];
    const warnings = [];
    // Each one named, so the user knows what to look for.
    if (unfilled.length) warnings.push(composeForm.dataset.unfilled.replace("{names}", unfilled.map((name) => `{{${name}}}`).join(", ")));
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

// Controls that only work with script show only with it.
for (const element of document.querySelectorAll("[data-needs-script]")) element.hidden = false;

// The mail workspace.
const mail = document.querySelector(".mail");
if (mail) {
  const store = {
    get: (key, fallback) => { try { return localStorage.getItem(`mailroom.${key}`) ?? fallback; } catch { return fallback; } },
    set: (key, value) => { try { localStorage.setItem(`mailroom.${key}`, value); } catch { /* private mode */ } },
  };
  const rows = () => Array.from(document.querySelectorAll(".rows .row:not(.leaving)"));
  const toast = document.querySelector(".toast");

  // Density, and single-key shortcuts, which the user can turn off (a dictated word must not
  // archive mail).
  const density = document.querySelector("[data-density]");
  const applyDensity = (value) => {
    mail.classList.toggle("density-compact", value === "compact");
    if (density) density.value = value;
  };
  applyDensity(store.get("density", "comfortable"));
  density?.addEventListener("change", () => { store.set("density", density.value); applyDensity(density.value); });
  const shortcuts = document.querySelector("[data-shortcuts]");
  if (shortcuts) {
    shortcuts.checked = store.get("shortcuts", "on") === "on";
    shortcuts.addEventListener("change", () => store.set("shortcuts", shortcuts.checked ? "on" : "off"));
  }

  // The list's width: dragged or moved with the arrow keys on the divider, and remembered.
  const splitter = mail.querySelector(".splitter");
  const setWidth = (rem) => {
    const width = Math.max(18, Math.min(60, Math.round(rem)));
    mail.style.setProperty("--list-w", `${width}rem`);
    splitter?.setAttribute("aria-valuenow", String(width));
    return width;
  };
  setWidth(Number(store.get("listWidth", "28")) || 28);
  if (splitter) {
    const rem = parseFloat(getComputedStyle(document.documentElement).fontSize) || 16;
    splitter.addEventListener("pointerdown", (event) => {
      event.preventDefault();
      splitter.setPointerCapture(event.pointerId);
      splitter.classList.add("dragging");
      const left = mail.querySelector(".messages").getBoundingClientRect().left;
      const move = (e) => setWidth((e.clientX - left) / rem);
      const up = () => {
        splitter.classList.remove("dragging");
        splitter.removeEventListener("pointermove", move);
        store.set("listWidth", splitter.getAttribute("aria-valuenow"));
      };
      splitter.addEventListener("pointermove", move);
      splitter.addEventListener("pointerup", up, { once: true });
    });
    splitter.addEventListener("keydown", (event) => {
      const now = Number(splitter.getAttribute("aria-valuenow"));
      const step = { ArrowLeft: -2, ArrowRight: 2 }[event.key];
      if (!step) return;
      event.preventDefault();
      store.set("listWidth", String(setWidth(now + step)));
    });
  }

  // A message's frame takes its content's height (the frame runs no script; the page reads it).
  const fit = (frame) => {
    const doc = frame.contentDocument;
    if (!doc?.documentElement) return;
    frame.classList.toggle("plain", doc.body?.classList.contains("plain-doc") ?? false);
    frame.style.height = `${Math.max(60, Math.ceil(doc.documentElement.getBoundingClientRect().height) + 2)}px`;
  };
  const watch = (frame) => {
    frame.addEventListener("load", () => {
      fit(frame);
      const doc = frame.contentDocument;
      if (doc?.body && "ResizeObserver" in window) new ResizeObserver(() => fit(frame)).observe(doc.body);
      // Folded quotes open and close inside the frame.
      doc?.addEventListener("toggle", () => fit(frame), true);
    });
    if (frame.contentDocument?.readyState === "complete" && frame.contentDocument.body?.childElementCount) fit(frame);
  };
  for (const frame of document.querySelectorAll("iframe.body")) watch(frame);
  document.addEventListener("click", (event) => {
    if (!event.target.closest("[data-expand-all]")) return;
    for (const details of document.querySelectorAll(".conversation details")) details.open = true;
    event.target.closest("details.menu")?.removeAttribute("open");
  });

  // Menus (Label as, Move to, More): one open at a time, closed by a click elsewhere or Escape.
  document.addEventListener("click", (event) => {
    for (const menu of document.querySelectorAll("details.menu[open]")) {
      if (!menu.contains(event.target)) menu.removeAttribute("open");
    }
  });
  document.addEventListener("toggle", (event) => {
    const menu = event.target;
    if (!menu.matches?.("details.menu") || !menu.open) return;
    for (const other of document.querySelectorAll("details.menu[open]")) if (other !== menu) other.removeAttribute("open");
    menu.querySelector(".menu-item")?.focus();
  }, true);

  // The toast: what was done, and its Undo for ten seconds (z undoes too).
  let lastUndo = null;
  let toastTimer = 0;
  const say = (text, undo) => {
    window.clearTimeout(toastTimer);
    toast.replaceChildren(Object.assign(document.createElement("span"), { textContent: text }));
    lastUndo = undo || null;
    if (undo) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = toast.dataset.undoText;
      button.addEventListener("click", () => undo());
      toast.append(button);
    }
    const seconds = Number(toast.dataset.undoSeconds) || 10;
    toastTimer = window.setTimeout(() => { toast.replaceChildren(); lastUndo = null; }, seconds * 1000);
  };

  // The message just sent: its toast goes after a while as any other does, and a reload does
  // not bring it back.
  if (toast.childElementCount) {
    toastTimer = window.setTimeout(() => toast.replaceChildren(), (Number(toast.dataset.undoSeconds) || 10) * 1000);
    const here = new URL(location.href);
    here.searchParams.delete("sent");
    here.searchParams.delete("discarded");
    history.replaceState(null, "", here);
  }

  const csrf = () => document.querySelector("input[name=csrf_token]")?.value || "";
  const post = async (url, data) => {
    const answer = await fetch(url, { method: "POST", body: new URLSearchParams(data), credentials: "same-origin", headers: { Accept: "application/json" } });
    const body = await answer.json().catch(() => ({}));
    if (!answer.ok) throw new Error(body.error || toast.dataset.failed);
    return body;
  };

  // The open conversation leaves the reading pane (archived, trashed...): the pane shows its
  // empty state, or on a narrow screen the list comes back; focus stays in the list.
  const closeReader = () => {
    const reader = mail.querySelector("article.reader");
    if (!reader) return;
    const url = new URL(location.href);
    url.searchParams.delete("open");
    url.searchParams.delete("images");
    history.replaceState(null, "", url);
    reader.replaceWith(document.getElementById("empty-reader").content.cloneNode(true));
    mail.classList.remove("reading");
  };
  const moves = (action) => /^(archive|trash|spam|not_spam|restore|delete|move(:|$))/.test(action);
  // The opposite of an action: what a menu item becomes once pressed, and the Undo of the user's own
  // marks (to-do, tags), which never go to the provider and so have no held jobs to drop.
  const inverse = (action) => {
    const [name, arg] = action.split(":");
    const pairs = { todo: "untodo", untodo: "todo", tag: "untag", untag: "tag", add_label: "remove_label", remove_label: "add_label" };
    return pairs[name] ? (arg ? `${pairs[name]}:${arg}` : pairs[name]) : null;
  };
  // What the page shows at once, before the server answers; `undo` puts it back.
  const showDone = (action, ids, form) => {
    const listed = rows().filter((row) => ids.includes(row.dataset.id));
    const open = mail.querySelector("article.reader");
    const openId = open?.dataset.message;
    if (moves(action)) {
      const all = rows();
      const first = all.indexOf(listed[0]);
      for (const row of listed) row.classList.add("leaving");
      if (openId && ids.includes(openId)) closeReader();
      const next = rows()[Math.max(0, Math.min(first, rows().length - 1))];
      if (next) { keyed = rows().indexOf(next); key(keyed); }
      return () => {
        for (const row of listed) row.classList.remove("leaving");
      };
    }
    const name = action.split(":")[0];
    if (name === "read" || name === "unread") {
      for (const row of listed) row.classList.toggle("unread", name === "unread");
      if (name === "unread" && openId && ids.includes(openId)) closeReader();
    }
    if (name === "star" || name === "unstar") {
      for (const row of listed) {
        const marks = row.querySelector(".marks");
        const star = marks?.querySelector("svg.star");
        if (name === "star" && marks && !star) marks.insertAdjacentHTML("afterbegin", '<svg class="i star" aria-hidden="true"><use href="#i-star"/></svg>');
        if (name === "unstar" && star) star.remove();
      }
      const button = form.querySelector("button[data-key=s]");
      if (button && form.closest(".reader")) {
        button.value = name === "star" ? "unstar" : "star";
        button.setAttribute("aria-pressed", String(name === "star"));
        button.classList.toggle("on", name === "star");
        button.querySelector("svg")?.classList.toggle("star", name === "star");
      }
    }
    const item = form.querySelector(`.menu-item[value="${CSS.escape(action)}"]`);
    if (item && item.hasAttribute("aria-pressed")) {
      const on = item.getAttribute("aria-pressed") !== "true";
      item.setAttribute("aria-pressed", String(on));
      item.value = inverse(action) || action;
    }
    if (name === "todo" || name === "untodo") {
      const todoItem = form.querySelector(`.menu-item[value="${name}"]`);
      if (todoItem && form.closest(".reader")) todoItem.value = inverse(name);
    }
    form.querySelector("details.menu[open]")?.removeAttribute("open");
    return () => {};
  };

  // Every action of the list and the reading pane, in place: the page changes at once, the server
  // is told, and the toast offers Undo. Without script the same forms post and the page reloads.
  const act = async (form, action) => {
    const data = new FormData(form);
    data.set("action", action);
    const ids = data.getAll("ids");
    if (ids.length === 0) {
      say(toast.dataset.nothing);
      return;
    }
    const putBack = showDone(action, ids, form);
    for (const box of document.querySelectorAll(".rows input[name=ids]:checked, [data-select-all]")) box.checked = false;
    try {
      const done = await post(form.getAttribute("action"), data);
      let undo = null;
      if (done.undo) {
        undo = async () => {
          toast.replaceChildren();
          try {
            const back = await post("/mail/undo", { csrf_token: csrf(), batch: done.undo });
            putBack();
            say(back.text);
          } catch (error) {
            say(error.message);
          }
          await refresh(true);
        };
      } else if (inverse(action)) {
        undo = async () => {
          toast.replaceChildren();
          const again = new FormData(form);
          again.set("action", inverse(action));
          again.delete("ids");
          for (const id of done.ids) again.append("ids", id);
          again.set("scope", "message");
          try { await post(form.getAttribute("action"), again); putBack(); } catch (error) { say(error.message); }
          await refresh(true);
        };
      }
      say(done.text, undo);
      refresh(false);
    } catch (error) {
      putBack();
      say(error.message);
      refresh(true);
    }
  };
  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (!form.matches("form[data-act]")) return;
    const action = event.submitter?.value;
    if (!action) return;
    event.preventDefault();
    act(form, action);
  });

  // The keyboard: j/k move through the list, o or Enter opens, u goes back, e archives, # trashes,
  // ! reports spam, s stars, Shift+I / Shift+U mark read / unread, l labels, v moves, z undoes,
  // c writes a new message, r / a / f reply, reply to all and forward, ? shows the shortcuts.
  let keyed = rows().findIndex((row) => row.classList.contains("current"));
  // An opened conversation takes the focus, so that the keyboard and a screen reader go on from it
  // rather than from the top of the page; its row stays keyed for j and k.
  const opened = mail.querySelector("article.reader");
  if (opened && !location.hash) {
    opened.focus({ preventScroll: true });
    rows()[keyed]?.classList.add("keyed");
  }
  const key = (index) => {
    const list = rows();
    if (list.length === 0) return;
    keyed = Math.max(0, Math.min(list.length - 1, index));
    document.querySelectorAll(".rows .row.keyed").forEach((row) => row.classList.remove("keyed"));
    list[keyed].classList.add("keyed");
    list[keyed].querySelector("a.open")?.focus();
  };
  const actions = { e: "archive", "#": "trash", "!": "spam", s: "star", I: "read", U: "unread" };
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      const menu = document.querySelector("details.menu[open]");
      if (menu) { menu.removeAttribute("open"); menu.querySelector("summary")?.focus(); }
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.target.closest("input, textarea, select, [contenteditable]")) return;
    if (shortcuts && !shortcuts.checked) return;
    const k = event.key;
    const reader = document.querySelector("article.reader");
    if (k === "j") key(keyed + 1);
    else if (k === "k") key(keyed - 1);
    else if (k === "o") rows()[keyed]?.querySelector("a.open")?.click();
    else if (k === "u") document.querySelector("[data-key-back]")?.click();
    else if (k === "?") document.getElementById("shortcuts")?.showModal();
    else if (k === "/") document.querySelector("input[name=q]")?.focus();
    else if (k === "c") document.querySelector("[data-key-compose]")?.click();
    else if (k === "z") { if (lastUndo) lastUndo(); }
    else if (k === "l" || k === "v") {
      const summary = document.querySelector(`.reader summary[data-key-menu="${k}"]`);
      if (summary) summary.click();
      else return;
    } else if (k === "r" || k === "a" || k === "f") document.querySelector(`.reader a[data-key="${k}"]`)?.click();
    else if (k in actions) {
      // With a conversation open the keys act on it; otherwise on the selection or the keyed row.
      const form = reader?.querySelector("form[data-act]") || document.getElementById("list-form");
      if (!form) return;
      let action = actions[k];
      if (reader) {
        const button = reader.querySelector(`button[data-key="${CSS.escape(k)}"]`);
        if (!button) return;
        action = button.value;
      } else if (!form.querySelector("input[name=ids]:checked")) {
        const row = rows()[keyed];
        row?.querySelector("input[name=ids]")?.click();
        // s stars the keyed conversation, or takes its star off, as the reading pane's button does.
        if (k === "s" && row?.querySelector(".marks svg.star")) action = "unstar";
      }
      act(form, action);
    } else return;
    event.preventDefault();
  });

  // Live: the change feed is asked every 10 s. When something changed, the folder list and the
  // message list are fetched again and swapped in place (the open conversation stays as it is),
  // unless the user is in the middle of selecting; the title's unread count follows.
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
      if (changed) await refresh(false);
    } catch {
      // Offline for a moment: the next round tries again.
    }
  };
  const refresh = async (force) => {
    const selecting = !force && document.querySelector(".rows input[name=ids]:checked");
    // The list without the open message: fetching that would read it again.
    const list = new URL(location.href);
    for (const name of ["open", "images", "notice", "undo", "sent", "discarded"]) list.searchParams.delete(name);
    const page = await fetch(list, { credentials: "same-origin" });
    if (!page.ok) return;
    const fresh = new DOMParser().parseFromString(await page.text(), "text/html");
    document.title = fresh.title;
    const focused = document.activeElement?.closest(".row")?.dataset.id;
    for (const part of [".mail .folders > ul", ".messages .rows", ".messages .pages"]) {
      const now = document.querySelectorAll(part);
      const next = fresh.querySelectorAll(part);
      if (selecting && part === ".messages .rows") continue;
      if (now.length === next.length) now.forEach((element, i) => element.replaceWith(next[i]));
    }
    const note = document.querySelector(".live-note");
    if (note && selecting) note.hidden = false;
    const open = document.querySelector("article.reader")?.dataset.message;
    for (const row of document.querySelectorAll(".rows .row")) {
      row.classList.toggle("current", row.dataset.id === open);
      if (row.dataset.id === open) row.setAttribute("aria-current", "true"); else row.removeAttribute("aria-current");
    }
    const list2 = rows();
    if (keyed >= 0 && list2.length) {
      keyed = Math.min(keyed, list2.length - 1);
      list2[keyed].classList.add("keyed");
      if (focused || document.activeElement === document.body) list2[keyed].querySelector("a.open")?.focus({ preventScroll: true });
    }
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
      const { data, groups = [] } = await answer.json();
      // A person goes in as `Name <address>`; a group the user writes to together, offered in
      // an address field only, goes in as all its members at once.
      const clean = (person) => (person.name || "").replace(/["\\<>]/g, "");
      const written = (person) => {
        const name = clean(person);
        const quoted = /[,;:@()[\]]/.test(name) ? `"${name}"` : name;
        return name ? `${quoted} <${person.address}>` : person.address;
      };
      const entries = data.map((person) => ({
        value: written(person),
        address: person.address,
        text: clean(person) ? `${clean(person)} <${person.address}>` : person.address,
      }));
      if (!search) {
        for (const group of groups) {
          entries.push({
            value: group.members.map(written).join(", "),
            address: group.members.map((m) => m.address).join(" "),
            text: group.members.map((m) => clean(m) || m.address).join(", "),
            group: true,
          });
        }
      }
      list.replaceChildren(...entries.map((entry, i) => {
        const item = document.createElement("li");
        item.id = `${list.id}-${i}`;
        item.setAttribute("role", "option");
        item.dataset.value = entry.value;
        item.dataset.address = entry.address;
        if (entry.group) item.classList.add("group");
        item.textContent = entry.text;
        item.addEventListener("mousedown", (event) => { event.preventDefault(); choose(item); });
        return item;
      }));
      active = -1;
      show(entries.length > 0);
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

// Compose: the draft is saved two seconds after typing stops and when the page is left. One
// save at a time; the answer names the draft, so later saves change it rather than make
// another. Files go up on their own as soon as they are picked or dropped, and stay with it.
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
  const picker = autosaved.querySelector("input[data-limit]");
  const list = autosaved.querySelector("ul.files");
  const uploadError = autosaved.querySelector("#upload-error");
  const csrf = autosaved.querySelector("[name=csrf_token]").value;
  let uploads = Promise.resolve();
  let uploading = 0;
  const refuse = (text) => {
    uploadError.textContent = text;
    uploadError.hidden = false;
  };
  const fileRow = (file) => {
    const row = document.createElement("li");
    row.dataset.file = file.id;
    const link = document.createElement("a");
    link.href = file.url;
    link.download = "";
    link.textContent = file.name;
    const size = document.createElement("span");
    size.className = "size";
    size.textContent = file.size;
    const remove = document.createElement("button");
    remove.type = "submit";
    remove.className = "link";
    remove.setAttribute("formaction", file.remove);
    remove.formNoValidate = true;
    remove.dataset.removeFile = "";
    remove.textContent = picker.dataset.remove;
    remove.setAttribute("aria-label", `${picker.dataset.remove}: ${file.name}`);
    row.append(link, " ", size, " ", remove);
    return row;
  };
  // One file per request, so that each shows its own progress and a refusal names its file.
  const send = (draft, file, progress) => new Promise((resolve) => {
    const request = new XMLHttpRequest();
    request.open("POST", `/mail/drafts/${draft}/files`);
    request.setRequestHeader("Accept", "application/json");
    request.setRequestHeader("X-CSRF-Token", csrf);
    request.upload.addEventListener("progress", (event) => { progress.value = event.loaded; });
    request.addEventListener("load", () => resolve(request));
    request.addEventListener("error", () => resolve(null));
    const data = new FormData();
    data.append("file", file, file.name);
    request.send(data);
  });
  const upload = async (file) => {
    const failed = picker.dataset.failed.replace("{name}", file.name);
    if (file.size > Number(picker.dataset.limit)) return refuse(picker.dataset.tooLarge.replace("{name}", file.name));
    if (!draftField.value) {
      changed = true;
      await save();
    }
    if (!draftField.value) return refuse(failed);
    const row = document.createElement("li");
    const progress = document.createElement("progress");
    progress.max = file.size;
    progress.setAttribute("aria-label", picker.dataset.uploading);
    row.append(`${file.name} `, progress);
    list.append(row);
    const answer = await send(draftField.value, file, progress);
    if (answer?.status === 200) {
      row.replaceWith(...JSON.parse(answer.responseText).files.map(fileRow));
      return;
    }
    row.remove();
    let text = failed;
    try { text = JSON.parse(answer.responseText).error || failed; } catch { /* not JSON: the general words */ }
    refuse(text);
  };
  picker.addEventListener("change", () => {
    const files = Array.from(picker.files);
    // Up now, so not again with the form.
    picker.value = "";
    uploadError.hidden = true;
    uploading += files.length;
    for (const file of files) uploads = uploads.then(() => upload(file)).finally(() => { uploading -= 1; });
  });
  list.addEventListener("click", async (event) => {
    const remove = event.target.closest("[data-remove-file]");
    if (!remove) return;
    event.preventDefault();
    const answer = await fetch(remove.getAttribute("formaction"), {
      method: "POST", credentials: "same-origin", headers: { Accept: "application/json", "X-CSRF-Token": csrf },
    });
    if (answer.ok) remove.closest("li").remove();
  });
  // The mail view around a panel saves what was written before it closes the panel.
  window.mailroomSave = () => save();
  autosaved.addEventListener("submit", (event) => {
    // A file still going up goes with the message: sent once it is there.
    if (uploading > 0 && !event.submitter?.hasAttribute("data-discard")) {
      event.preventDefault();
      const submitter = event.submitter;
      uploads.then(() => autosaved.requestSubmit(submitter));
      return;
    }
    sending = true;
    window.clearTimeout(timer);
  });
  // Leaving: the last words go with a beacon, which outlives the page.
  window.addEventListener("pagehide", () => {
    if (changed && !sending && navigator.sendBeacon(autosaved.dataset.autosave, fields())) changed = false;
  });
}

// Compose: Cc and Bcc wait behind their links until wanted (or already filled).
for (const group of document.querySelectorAll(".compose .optional-field")) {
  const input = group.querySelector("input");
  const button = document.querySelector(`[data-show-field="${group.dataset.field}"]`);
  if (!button) continue;
  if (input.value || input.hasAttribute("aria-invalid")) {
    button.remove();
    continue;
  }
  group.hidden = true;
  button.closest(".add-fields").hidden = false;
  button.addEventListener("click", () => {
    group.hidden = false;
    button.remove();
    input.focus();
  });
}

// The mail view: a new message in a panel over it (several at once, each can be minimised and
// kept while reading), a reply or forward under the conversation. Each is the compose page in
// a frame (`panel=1`), so everything it does (drafts, files, errors) is the page's own. On a
// phone, and without script, compose is its own page.
const dock = document.querySelector(".compose-dock");
if (dock) {
  const wide = () => window.matchMedia("(min-width: 721px)").matches;
  const toastBox = document.querySelector(".toast");
  const frameUrl = (href) => {
    const url = new URL(href, location.href);
    url.searchParams.set("panel", "1");
    return url.pathname + url.search;
  };
  const frameDoc = (frame) => {
    try { return frame.contentDocument; } catch { return null; }
  };
  // Saved, then gone: nothing written is lost when a panel closes.
  const saveFrame = async (frame) => {
    try { await frame.contentWindow?.mailroomSave?.(); } catch { /* the draft saves itself on leaving */ }
  };
  // Sent or discarded, the frame shows a page holding only its toast: the view takes it over.
  const finished = (frame) => {
    const doc = frameDoc(frame);
    if (!doc || !doc.location.pathname.startsWith("/mail/compose/closed")) return false;
    const note = doc.querySelector(".closed-note");
    if (note && toastBox) {
      toastBox.replaceChildren(...Array.from(note.childNodes, (node) => document.importNode(node, true)));
      window.setTimeout(() => toastBox.replaceChildren(), 10000);
    }
    return true;
  };
  const frameFor = (href, onLoad) => {
    const frame = document.createElement("iframe");
    frame.src = frameUrl(href);
    frame.title = dock.dataset.new;
    frame.addEventListener("load", () => onLoad(frame));
    return frame;
  };
  const newPanel = (href) => {
    const panel = document.createElement("section");
    panel.className = "compose-panel";
    panel.setAttribute("aria-label", dock.dataset.new);
    const header = document.createElement("header");
    const title = Object.assign(document.createElement("button"), { type: "button", className: "title", textContent: dock.dataset.new });
    title.setAttribute("aria-expanded", "true");
    const tool = (text, label) => {
      const button = Object.assign(document.createElement("button"), { type: "button", className: "tool", textContent: text, title: label });
      button.setAttribute("aria-label", label);
      return button;
    };
    const minimise = tool("–", dock.dataset.minimise);
    const full = tool("↗", dock.dataset.full);
    const close = tool("×", dock.dataset.close);
    const toggle = () => {
      const small = panel.classList.toggle("minimised");
      title.setAttribute("aria-expanded", String(!small));
      minimise.textContent = small ? "▴" : "–";
      minimise.title = small ? dock.dataset.show : dock.dataset.minimise;
      minimise.setAttribute("aria-label", minimise.title);
    };
    title.addEventListener("click", toggle);
    minimise.addEventListener("click", toggle);
    const frame = frameFor(href, (loaded) => {
      if (finished(loaded)) {
        panel.remove();
        return;
      }
      const doc = frameDoc(loaded);
      const subject = doc?.getElementById("subject");
      const name = () => { title.textContent = subject?.value.trim() || dock.dataset.new; };
      subject?.addEventListener("input", name);
      name();
      doc?.getElementById("to")?.focus();
    });
    full.addEventListener("click", async () => {
      await saveFrame(frame);
      const draft = frameDoc(frame)?.querySelector("[name=draft]")?.value;
      location.href = draft ? `/mail/compose?draft=${draft}` : href;
    });
    close.addEventListener("click", async () => {
      await saveFrame(frame);
      panel.remove();
    });
    header.append(title, minimise, full, close);
    panel.append(header, frame);
    // Room for three side by side; an older one is minimised to make room.
    const open = dock.querySelectorAll(".compose-panel:not(.minimised)");
    if (open.length >= 3) open[0].querySelector(".title").click();
    dock.append(panel);
  };
  const inline = async (href) => {
    const reader = document.querySelector("article.reader");
    if (!reader) return false;
    const old = reader.querySelector(".inline-compose");
    if (old) {
      await saveFrame(old.querySelector("iframe"));
      old.remove();
    }
    const box = document.createElement("div");
    box.className = "inline-compose";
    const frame = frameFor(href, (loaded) => {
      if (finished(loaded)) {
        box.remove();
        return;
      }
      const doc = frameDoc(loaded);
      if (!doc) return;
      // As tall as what it holds, so the conversation and the reply scroll as one.
      const fit = () => { loaded.style.height = `${doc.documentElement.scrollHeight}px`; };
      new ResizeObserver(fit).observe(doc.body);
      fit();
      (doc.querySelector(".editor") || doc.getElementById("body"))?.focus();
    });
    // Closed, it is saved first: the draft stays in Drafts.
    const close = Object.assign(document.createElement("button"), { type: "button", className: "tool close", textContent: "×", title: dock.dataset.close });
    close.setAttribute("aria-label", dock.dataset.close);
    close.addEventListener("click", async () => {
      await saveFrame(frame);
      box.remove();
    });
    box.append(close, frame);
    reader.append(box);
    box.scrollIntoView({ block: "nearest" });
    return true;
  };
  document.addEventListener("click", (event) => {
    const link = event.target.closest?.("a[href^='/mail/compose']");
    if (!link || !wide() || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
    if (link.closest(".compose-panel, .inline-compose")) return;
    event.preventDefault();
    const href = link.getAttribute("href");
    if (new URL(href, location.href).searchParams.has("reply")) {
      inline(href).then((shown) => { if (!shown) newPanel(href); });
    } else {
      newPanel(href);
    }
  });
  // Undo of a message just sent (or scheduled) opens it again in a panel over the view it was
  // sent from, rather than as a page of its own.
  document.addEventListener("submit", async (event) => {
    const form = event.target.closest?.(".toast form[data-toast-undo]");
    if (!form || !wide() || !/^\/mail\/outbox\/\d+\/cancel$/.test(new URL(form.action).pathname)) return;
    event.preventDefault();
    let answer;
    try {
      answer = await fetch(form.action, { method: "POST", body: new FormData(form), credentials: "same-origin" });
    } catch {
      form.submit();
      return;
    }
    const url = new URL(answer.url);
    if (answer.ok && url.pathname === "/mail/compose") {
      toastBox?.replaceChildren();
      newPanel(url.pathname + url.search);
    } else {
      // Too late, or refused: the page that says so.
      location.href = answer.url;
    }
  });
  // Leaving the view saves what the panels hold (each frame's own beacon does too).
  window.addEventListener("pagehide", () => {
    for (const frame of document.querySelectorAll(".compose-panel iframe, .inline-compose iframe")) saveFrame(frame);
  });
}
