// trainset web UI: one ES module, no build step, no dependencies.
//
// It uses the same bearer API as every other client. The token is kept in the
// browser's storage (local when "remember" is ticked, else this tab's session) and
// sent as a header; no cookies, so there is nothing for a CSRF to ride on. Every
// string from the server reaches the page through textContent, never as HTML.

const API = "/prod/v1/trainers";
const KEY = "trainset.token";
const FIRST_PAGE = 24; // gallery items fetched to paint the first screen or two
const PAGE = 60; // gallery items per later page (fetched as the gallery scrolls)
const SIGNED_ABOVE = 8 * 1024 * 1024; // larger files go by signed URL (bytes skip the API on S3)
const PARALLEL = 4; // uploads at once
const MEDIA = [".jpg", ".jpeg", ".png", ".webp", ".mp4", ".mov", ".webm", ".mkv", ".avi", ".m4v"];
const ALLOWED = [...MEDIA, ".txt"];

// ---- small helpers ---------------------------------------------------------------

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v === null || v === undefined) continue;
    if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function bytes(n) {
  if (n < 1024) return `${n} B`;
  const units = ["KB", "MB", "GB", "TB"];
  let v = n / 1024, i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

function ago(wire) {
  const t = Date.parse(wire + "Z");
  const s = Math.max(0, (Date.now() - t) / 1000);
  if (s < 60) return "just now";
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return new Date(t).toLocaleDateString();
}

function ext(name) {
  const i = name.lastIndexOf(".");
  return i > 0 ? name.slice(i).toLowerCase() : "";
}

function stemOf(name) {
  const i = name.lastIndexOf(".");
  return i > 0 ? name.slice(0, i) : name;
}

function announce(text) {
  const el = document.getElementById("announce");
  el.textContent = "";
  setTimeout(() => { el.textContent = text; }, 30);
}

function badge(status) {
  return h("span", { class: `badge ${status}`, "data-status": status, text: status });
}

function confirmDialog(title, text, action = "Delete") {
  const dlg = document.getElementById("confirm");
  document.getElementById("confirm-title").textContent = title;
  document.getElementById("confirm-text").textContent = text;
  document.getElementById("confirm-ok").textContent = action;
  dlg.returnValue = "";
  dlg.showModal();
  return new Promise((resolve) => {
    dlg.addEventListener("close", () => resolve(dlg.returnValue === "ok"), { once: true });
  });
}

// ---- the API ---------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

const auth = {
  get token() { return localStorage.getItem(KEY) || sessionStorage.getItem(KEY); },
  save(token, remember) {
    this.clear();
    (remember ? localStorage : sessionStorage).setItem(KEY, token);
  },
  clear() { localStorage.removeItem(KEY); sessionStorage.removeItem(KEY); },
};

async function errorOf(status, text) {
  try {
    const e = JSON.parse(text).error;
    if (e && e.code) return new ApiError(status, e.code, e.message, e.details);
  } catch { /* not JSON: an object store's XML, a proxy's HTML */ }
  return new ApiError(status, "http_" + status, `The server answered ${status}.`);
}

async function api(method, path, { json, token } = {}) {
  const headers = { Authorization: `Bearer ${token || auth.token}` };
  let body;
  if (json !== undefined) { headers["Content-Type"] = "application/json"; body = JSON.stringify(json); }
  let res;
  try {
    res = await fetch(API + path, { method, headers, body });
  } catch {
    throw new ApiError(0, "network", "The server could not be reached; check your connection.");
  }
  if (res.ok) return res.status === 204 ? null : res.json();
  const err = await errorOf(res.status, await res.text());
  if (res.status === 401 && !token) signOut("Your token is no longer accepted; sign in again.");
  throw err;
}

// XMLHttpRequest, not fetch: only it reports upload progress.
function send(method, url, body, headers, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, url);
    for (const [k, v] of Object.entries(headers)) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded); };
    xhr.onload = async () => {
      if (xhr.status >= 200 && xhr.status < 300) resolve(xhr.responseText);
      else reject(await errorOf(xhr.status, xhr.responseText));
    };
    xhr.onerror = () => reject(new ApiError(0, "network", "The upload was cut off; try again."));
    xhr.send(body);
  });
}

function uploadDirect(dsId, file, name, onProgress) {
  const form = new FormData();
  form.append("file", file, name);
  return send("POST", `${API}/datasets/${encodeURIComponent(dsId)}/upload`, form,
    { Authorization: `Bearer ${auth.token}` }, onProgress);
}

async function uploadSigned(dsId, file, name, onProgress) {
  const r = await api("POST", `/datasets/${encodeURIComponent(dsId)}/get-upload-endpoint`,
    { json: { filenameToByteSize: { [name]: file.size } } });
  const u = r.uploads[name];
  // The URL is the credential: no bearer token goes to the object store.
  await send(u.method || "PUT", u.upload_url, file, u.headers || {}, onProgress);
}

// ---- shell: sign-in and routing ----------------------------------------------------

const main = () => document.getElementById("main");
let view = null; // the current view's teardown

function signOut(message) {
  auth.clear();
  location.hash = "#/";
  route(message);
}

function render(title, ...nodes) {
  if (view) view();
  view = null;
  document.title = title ? `${title} · trainset` : "trainset";
  main().replaceChildren(...nodes);
}

function route(message) {
  const signedIn = !!auth.token;
  document.getElementById("account").hidden = !signedIn;
  if (!signedIn) return signIn(message);
  const m = location.hash.match(/^#\/d\/([^/]+)$/);
  if (m) {
    let id = null;
    try { id = decodeURIComponent(m[1]); } catch { /* a hand-edited hash: not an id */ }
    if (id !== null) return datasetView(id);
    return render("Not found", h("p", { class: "notice error", text: "That address names no dataset." }),
      h("p", {}, h("a", { href: "#/", text: "← All datasets" })));
  }
  return listView(message);
}

function signIn(message) {
  const input = h("input", { type: "password", id: "token", name: "token", autocomplete: "off",
    required: true, spellcheck: "false", "aria-describedby": "token-help" });
  const remember = h("input", { type: "checkbox", id: "remember", checked: true });
  const err = h("p", { class: "notice error", role: "alert", hidden: !message, text: message || "" });
  const button = h("button", { type: "submit", text: "Sign in" });
  const form = h("form", {
    onsubmit: async (e) => {
      e.preventDefault();
      button.disabled = true;
      err.hidden = true;
      const token = input.value.trim();
      try {
        await api("GET", "/datasets?limit=1", { token });
        auth.save(token, remember.checked);
        location.hash = "#/";
        route();
      } catch (ex) {
        err.textContent = ex.status === 401
          ? "That token was not accepted. Check it, or ask for a new one (trainset admin create-token)."
          : ex.message;
        err.hidden = false;
        button.disabled = false;
        input.focus();
      }
    },
  },
    h("label", { for: "token", text: "Access token" }), input,
    h("p", { id: "token-help", class: "muted", text: "The token trainset printed when it first started, or one from `trainset admin create-token`. It stays in this browser." }),
    h("label", { class: "check", for: "remember" }, remember, "Remember me on this device"),
    button);
  render("Sign in", h("section", { class: "signin panel", "aria-labelledby": "signin-title" },
    h("h1", { id: "signin-title", text: "Sign in to trainset" }), err, form));
  input.focus();
}

// ---- the dataset list --------------------------------------------------------------

function listView(message) {
  const status = h("select", { id: "status-filter" },
    ["", "DRAFT", "UPLOADING", "READY", "FAILED"].map((s) => h("option", { value: s, text: s || "All" })));
  const nameInput = h("input", { type: "text", id: "new-name", placeholder: "optional, e.g. my_style_v2",
    maxlength: "128", pattern: "[A-Za-z0-9][A-Za-z0-9._\\-]*", title: "Letters, digits, dot, dash and underscore; starting with a letter or digit", autocomplete: "off" });
  const err = h("p", { class: "notice error", role: "alert", hidden: !message, text: message || "" });
  const body = h("tbody");
  const table = h("table", { class: "datasets", "aria-label": "Datasets" },
    h("thead", {}, h("tr", {},
      h("th", { scope: "col", text: "Name" }), h("th", { scope: "col", text: "Status" }),
      h("th", { scope: "col", class: "num", text: "Files" }), h("th", { scope: "col", class: "num", text: "Size" }),
      h("th", { scope: "col", text: "Updated" }), h("th", { scope: "col" }, h("span", { class: "visually-hidden", text: "Actions" })))),
    body);
  const more = h("div", { class: "more" });
  let timer = null;
  let alive = true;

  async function load() {
    clearTimeout(timer);
    const q = status.value ? `&status=${status.value}` : "";
    let all = [], cursor = null;
    try {
      do {
        const r = await api("GET", `/datasets?limit=200${q}${cursor ? `&after=${encodeURIComponent(cursor)}` : ""}`);
        all = all.concat(r.datasets);
        cursor = r.has_more ? r.next_cursor : null;
      } while (cursor && all.length < 2000);
    } catch (ex) {
      if (ex.status === 401 || !alive) return;
      err.textContent = ex.message; err.hidden = false;
      timer = setTimeout(load, 10000); // the server may be back by then
      return;
    }
    if (!alive) return;
    err.hidden = true;
    all.reverse(); // newest first
    body.replaceChildren(...all.map(row));
    if (!all.length) {
      body.append(h("tr", {}, h("td", { colspan: "6", class: "empty",
        text: status.value ? `No ${status.value} datasets.` : "No datasets yet: create one above." })));
    }
    more.replaceChildren(cursor ? h("p", { class: "muted", text: "Showing the newest 2,000 datasets." }) : "");
    const busy = all.some((d) => d.status === "UPLOADING");
    timer = setTimeout(load, busy ? 2000 : 10000);
  }

  function row(d) {
    const del = h("button", { type: "button", class: "quiet small", "aria-label": `Delete dataset ${d.name}`, text: "Delete",
      onclick: async () => {
        const ok = await confirmDialog(`Delete ${d.name}?`,
          `Its ${d.file_count} files (${bytes(d.total_bytes)}) are removed. This cannot be undone.`);
        if (!ok) return;
        try { await api("DELETE", `/datasets/${encodeURIComponent(d.id)}`); announce(`Deleted ${d.name}`); load(); }
        catch (ex) { err.textContent = ex.message; err.hidden = false; }
      } });
    return h("tr", { "data-id": d.id },
      h("td", {}, h("a", { href: `#/d/${encodeURIComponent(d.id)}`, text: d.name })),
      h("td", {}, badge(d.status)),
      h("td", { class: "num", "data-label": "Files", text: d.file_count.toLocaleString() }),
      h("td", { class: "num", "data-label": "Size", text: bytes(d.total_bytes) }),
      h("td", { class: "muted", title: d.updated_at + " UTC", text: ago(d.updated_at) }),
      h("td", {}, del));
  }

  const create = h("form", { class: "row", onsubmit: async (e) => {
    e.preventDefault();
    err.hidden = true;
    try {
      const name = nameInput.value.trim();
      const d = await api("POST", "/datasets", { json: name ? { name } : {} });
      location.hash = `#/d/${encodeURIComponent(d.id)}`;
    } catch (ex) { err.textContent = ex.message; err.hidden = false; nameInput.focus(); }
  } },
    h("label", { for: "new-name", text: "New dataset" }), nameInput,
    h("button", { type: "submit", text: "Create dataset" }));
  status.addEventListener("change", load);

  render("Datasets",
    h("div", { class: "ds-head" }, h("h1", { text: "Datasets" }), h("span", { class: "grow" }),
      h("label", { for: "status-filter", text: "Show" }), status),
    err, h("section", { class: "panel", "aria-label": "Create a dataset" }, create), table, more);
  view = () => { alive = false; clearTimeout(timer); };
  load();
}

// ---- one dataset: status, problems, uploads, gallery -------------------------------

function datasetView(id) {
  const path = `/datasets/${encodeURIComponent(id)}`;
  const state = { ds: null, items: new Map(), order: [], cursor: null, more: false, pages: 0,
    active: 0, lastReload: 0, alive: true, firstStems: new Set(), galleryShown: null, problemsShown: null };
  const title = h("h1", { tabindex: "-1" });
  const statusSlot = h("span");
  const facts = h("span", { class: "facts" });
  const err = h("p", { class: "notice error", role: "alert", hidden: true });
  const problems = h("section", { class: "panel problems", "aria-labelledby": "problems-title", hidden: true });
  const warnings = h("section", { class: "panel warnings", hidden: true });
  const gallery = h("div", { class: "gallery", role: "list", "aria-label": "Files" });
  const moreBtn = h("button", { type: "button", class: "quiet", text: "Load more", onclick: () => loadMore() });
  const more = h("div", { class: "more" });
  const sentinel = h("div", { "aria-hidden": "true" });
  let timer = null;
  let polling = false;
  let failures = 0; // polls in a row that failed: the next waits longer

  function showError(ex) { err.textContent = ex.message; err.hidden = false; }

  // -- live status: a cheap poll of the list entry; the gallery reloads on change --
  // While files are being checked only the first page is fetched again (its head says
  // why the dataset is not ready); every page shown is fetched again when the status or
  // the file count changes, so a 2,000-item gallery is not reloaded every second.
  async function poll() {
    clearTimeout(timer);
    if (!state.alive || polling || !state.ds) return; // the first page is not in yet
    polling = true;
    try {
      const r = await api("GET", `/datasets?name=${encodeURIComponent(state.ds.name)}`);
      const d = r.datasets.find((x) => x.id === id);
      if (!d) { location.hash = "#/"; return; }
      const moved = d.status !== state.ds.status || d.file_count !== state.ds.file_count;
      const touched = d.updated_at !== state.ds.updated_at;
      const stale = d.status === "UPLOADING" && Date.now() - state.lastReload > 3000;
      if (moved) await reload(true);
      else if (touched || stale) await reload(false);
      failures = 0;
    } catch (ex) {
      if (ex.status === 404) { location.hash = "#/"; return; }
      failures++;
    } finally { polling = false; }
    if (!state.alive) return;
    clearTimeout(timer);
    const busy = state.ds.status === "UPLOADING" || state.active > 0;
    timer = setTimeout(poll, Math.min(30000, (busy ? 1000 : 8000) * 2 ** Math.min(failures, 5)));
  }

  const EDITING = "form.editor:not(.saved)";

  // A live update keeps what a person is in the middle of: a panel is drawn again only
  // when what it shows changed, an open caption editor stays as it is, and keyboard
  // focus goes back to the control it was on.
  function keepingFocus(container, draw) {
    const active = document.activeElement;
    const inside = active && container.contains(active) ? active : null;
    const label = inside && inside.getAttribute("aria-label");
    draw();
    if (inside && !container.contains(document.activeElement)) {
      // The same element when it was kept (an editor), else its namesake in the new one.
      const back = container.contains(inside) ? inside
        : label && [...container.querySelectorAll("[aria-label]")].find((el) => el.getAttribute("aria-label") === label);
      if (back) back.focus();
    }
  }

  function head(ds) {
    const before = state.ds && state.ds.status;
    state.ds = ds;
    title.textContent = ds.name;
    statusSlot.replaceChildren(badge(ds.status));
    facts.textContent = `${ds.file_count.toLocaleString()} files · ${bytes(ds.total_bytes)}`;
    if (before && before !== ds.status) announce(`${ds.name} is now ${ds.status}`);
    const shown = JSON.stringify([ds.name, ds.error, ds.problem_count, ds.warnings, ds.warning_count]);
    if (shown !== state.problemsShown && !problems.querySelector(EDITING)) {
      state.problemsShown = shown;
      keepingFocus(problems, () => renderProblems(ds));
    }
  }

  function renderProblems(ds) {
    const details = (ds.error && ds.error.details) || [];
    const more = (n, shown) => (n > shown ? h("p", { class: "muted",
      text: `…and ${(n - shown).toLocaleString()} more; each is also marked in the gallery below.` }) : "");
    problems.hidden = !details.length;
    if (details.length) {
      problems.replaceChildren(
        h("h2", { id: "problems-title", text: `Why ${ds.name} is not ready` }),
        h("p", { text: ds.error.message }),
        h("ul", {}, details.map((d) => h("li", { "data-filename": d.filename || "" },
          h("div", {}, d.filename ? h("strong", { text: d.filename }) : null, " ",
            h("span", { class: "code", text: d.code })),
          h("div", { text: d.message }),
          fixFor(d)))),
        more(ds.problem_count, details.length));
    }
    const warns = ds.warnings || [];
    const count = ds.warning_count || warns.length;
    warnings.hidden = !warns.length;
    if (warns.length) {
      warnings.replaceChildren(h("details", {},
        h("summary", { text: `${count.toLocaleString()} warning${count === 1 ? "" : "s"} (they do not block READY)` }),
        h("ul", {}, warns.map((w) => h("li", {},
          h("div", {}, w.filename ? h("strong", { text: w.filename }) : null, " ", h("span", { class: "code", text: w.code })),
          h("div", { text: w.message })))),
        more(count, warns.length)));
    }
  }

  // What a person can do about each failure, right where it is explained.
  function fixFor(d) {
    const name = d.filename;
    if (!name) return null;
    const row = h("div", { class: "row" });
    if (d.code === "missing_caption") {
      row.append(h("button", { type: "button", class: "small", text: "Add caption",
        "aria-label": `Add a caption for ${name}`,
        onclick: () => row.replaceChildren(captionEditor(`${stemOf(name)}.txt`, "", () => renderProblems(state.ds))) }));
    } else if (d.code === "upload_expired") {
      row.append(filePicker(name, `Upload ${name}`));
    } else {
      if (ext(name) === ".txt") {
        row.append(h("button", { type: "button", class: "small", text: "Rewrite caption",
          "aria-label": `Write ${name} again`,
          onclick: () => row.replaceChildren(captionEditor(name, "", () => renderProblems(state.ds))) }));
      }
      row.append(filePicker(name, `Replace ${name}`));
      row.append(h("button", { type: "button", class: "quiet small", text: "Delete file",
        "aria-label": `Delete ${name}`, onclick: () => deleteFile(name) }));
    }
    return row;
  }

  // A picker that uploads the chosen file under `name` (replacing or re-uploading it).
  function filePicker(name, label) {
    const input = h("input", { type: "file", hidden: true, accept: ext(name) || undefined,
      onchange: () => { if (input.files[0]) enqueue([{ file: input.files[0], name }]); } });
    return h("span", {}, input, h("button", { type: "button", class: "small", text: label,
      onclick: () => input.click() }));
  }

  async function deleteFile(name) {
    const ok = await confirmDialog(`Delete ${name}?`, `It is removed from ${state.ds.name}; the status is checked again.`);
    if (!ok) return;
    try {
      await api("DELETE", `${path}/files/${encodeURIComponent(name)}`);
      announce(`Deleted ${name}`);
      await reload();
      poll();
    } catch (ex) { showError(ex); }
  }

  function captionEditor(filename, text, onCancel) {
    const areaId = `cap-${Math.random().toString(36).slice(2)}`;
    const area = h("textarea", { id: areaId, rows: "4", spellcheck: "true" });
    area.value = text;
    const save = h("button", { type: "submit", class: "small", text: "Save caption" });
    const status = h("span", { class: "muted", role: "status" });
    const form = h("form", { class: "editor", onsubmit: async (e) => {
      e.preventDefault();
      save.disabled = true;
      status.textContent = "Saving…";
      try {
        const blob = new Blob([area.value], { type: "text/plain" });
        await uploadDirect(id, blob, filename, () => {});
        status.textContent = "Saved; checking…";
        form.classList.add("saved"); // a live update may now draw its card afresh
        announce(`Saved ${filename}`);
        await reload();
        poll();
      } catch (ex) { status.textContent = ""; save.disabled = false; showError(ex); }
    } },
      h("label", { for: areaId, text: `Caption (${filename})` }), area,
      h("div", { class: "row" }, save,
        h("button", { type: "button", class: "quiet small", text: "Cancel", onclick: onCancel }), status));
    area.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) form.requestSubmit();
      if (e.key === "Escape") onCancel();
    });
    setTimeout(() => area.focus(), 0);
    return form;
  }

  // -- the gallery --
  function card(item) {
    const medium = item.media[0];
    const caption = item.captions[0];
    const problems = item.problems;
    const pending = [...item.media, ...item.captions].some((f) => f.check.state === "pending");
    const el = h("article", { class: `card${problems.length ? " bad" : ""}${pending ? " pending" : ""}`,
      role: "listitem", "data-stem": item.stem, "aria-label": (medium || caption).filename });
    if (medium) {
      const thumb = h("div", { class: "thumb" });
      if (medium.thumbnail_url) {
        thumb.append(h("img", { src: medium.thumbnail_url, alt: caption && caption.text ? caption.text.slice(0, 200) : medium.filename,
          loading: "lazy", decoding: "async", width: "256", height: "256" }));
      } else {
        thumb.append(h("span", { class: "placeholder",
          text: medium.check.state === "pending" ? "Checking…" : medium.check.state === "failed" ? "Cannot be shown" : "No preview" }));
      }
      if (medium.kind === "video") thumb.append(h("span", { class: "kind", text: "▶ video" }));
      el.append(thumb);
    }
    const body = h("div", { class: "body" });
    for (const m of item.media) {
      const dims = m.width ? `${m.width}×${m.height}` : "";
      const dur = m.duration ? ` · ${m.duration.toFixed(1)} s` : "";
      body.append(h("div", { class: "fname", text: m.filename }),
        h("div", { class: "meta", text: `${bytes(m.size_bytes)}${dims ? " · " + dims : ""}${dur}` }));
    }
    for (const p of problems) {
      body.append(h("div", { class: "reason", role: "note" },
        h("strong", { text: "Not ready: " }), `${p.message} `, h("span", { class: "code", text: `(${p.code})` })));
    }
    for (const w of item.warnings) {
      body.append(h("div", { class: "warn", text: `Warning: ${w.message}` }));
    }
    const capSlot = h("div");
    const actions = h("div", { class: "actions" });
    const capName = caption ? caption.filename : `${item.stem}.txt`;
    const showCaption = () => {
      if (caption) {
        if (!medium) body.prepend(h("div", { class: "fname", text: caption.filename }));
        const known = caption.text !== null && caption.text !== undefined;
        const text = known ? caption.text || "(empty caption)"
          : caption.text_truncated ? "(too long to show here)"
          : caption.check.state === "pending" ? "Checking…"
          : caption.check.state === "ok" ? "(its text could not be read just now; reload to try again)"
          : "(not shown: it failed its check)";
        capSlot.replaceChildren(h("div", { class: "caption", text }));
      } else {
        capSlot.replaceChildren(h("div", { class: "caption none", text: "No caption" }));
      }
    };
    showCaption();
    // A missing caption, a failed one, or one whose text is known (a caption too long to
    // show, or still being checked, would open an empty editor).
    const editable = !caption || caption.check.state === "failed"
      || (caption.text !== null && caption.text !== undefined);
    if (medium && editable) {
      const label = caption ? "Edit caption" : "Add caption";
      actions.append(h("button", { type: "button", class: "small", text: label,
        "aria-label": `${label} for ${medium.filename}`,
        onclick: () => {
          actions.hidden = true;
          capSlot.replaceChildren(captionEditor(capName, caption && caption.text ? caption.text : "",
            () => { actions.hidden = false; showCaption(); }));
        } }));
    }
    for (const f of [...item.media, ...item.captions]) {
      const what = f.kind === "caption" ? "caption" : f.kind;
      actions.append(h("button", { type: "button", class: "quiet small", text: item.media.length + item.captions.length > 1 ? `Delete ${what}` : "Delete",
        "aria-label": `Delete ${f.filename}`, onclick: () => deleteFile(f.filename) }));
    }
    body.append(capSlot);
    el.append(body, actions);
    return el;
  }

  function paint() {
    more.replaceChildren(state.more ? moreBtn : "");
    const shown = JSON.stringify(state.order.map((s) => state.items.get(s)));
    if (shown === state.galleryShown) return;
    state.galleryShown = shown;
    keepingFocus(gallery, () => {
      const editing = new Map();
      for (const el of gallery.querySelectorAll("article.card")) {
        if (el.querySelector(EDITING)) editing.set(el.dataset.stem, el);
      }
      if (editing.size) state.galleryShown = null; // drawn afresh once the edit is over
      gallery.replaceChildren(...state.order.map((s) => editing.get(s) || card(state.items.get(s))));
      if (!state.order.length) {
        gallery.replaceChildren(h("p", { class: "empty", text: "No files yet. Drop images, videos and their captions above." }));
      }
    });
  }

  async function fetchPage(after) {
    const limit = after ? PAGE : FIRST_PAGE;
    return api("GET", `${path}/items?limit=${limit}${after ? `&after=${encodeURIComponent(after)}` : ""}`);
  }

  function take(page) {
    for (const it of page.items) {
      if (!state.items.has(it.stem)) state.order.push(it.stem);
      state.items.set(it.stem, it);
    }
    state.cursor = page.next_cursor;
    state.more = page.has_more;
  }

  // Reload the pages already shown (`all`), or only the first (it carries the status,
  // failures and warnings; later pages keep their items until the next full reload).
  // One reload at a time: one asked for meanwhile runs once after it.
  let reloading = null, again = null;
  function reload(all = true) {
    if (reloading) { again = again === true || all; return reloading; }
    reloading = fetchShown(all).finally(() => {
      reloading = null;
      // (Its failure is the next poll's to retry.)
      if (again !== null && state.alive) { const a = again; again = null; reload(a).catch(() => {}); }
    });
    return reloading;
  }

  async function fetchShown(all) {
    state.lastReload = Date.now();
    const pages = all ? Math.max(1, state.pages) : 1;
    const items = new Map(), order = [];
    let cursor = null, more = false, first = null;
    for (let i = 0; i < pages; i++) {
      const p = await fetchPage(cursor);
      if (!first) first = p;
      for (const it of p.items) { items.set(it.stem, it); order.push(it.stem); }
      cursor = p.next_cursor; more = p.has_more;
      if (!more) break;
    }
    if (!state.alive) return;
    const firstStems = new Set(first.items.map((it) => it.stem));
    if (!all && more && state.pages > 1) {
      // Keep the later pages' items (and where they end) as they were.
      for (const s of state.order) {
        if (!items.has(s) && !state.firstStems.has(s)) { items.set(s, state.items.get(s)); order.push(s); }
      }
      cursor = state.cursor; more = state.more;
    }
    Object.assign(state, { items, order, cursor, more, firstStems });
    head(first);
    paint();
  }

  async function loadMore() {
    if (!state.more || state.loading) return;
    state.loading = true;
    try {
      take(await fetchPage(state.cursor));
      state.pages++;
      paint();
    } catch (ex) { showError(ex); } finally { state.loading = false; }
  }

  // -- uploads --
  const queueList = h("ul", { class: "queue", "aria-label": "Uploads" });
  const pendingUploads = [];
  const tally = { sent: 0, failed: 0, total: 0 };
  const summary = h("p", { class: "row", role: "status", hidden: true });
  function showTally() {
    const running = tally.total - tally.sent - tally.failed;
    summary.hidden = tally.total === 0;
    summary.replaceChildren(
      h("span", { text: `${tally.sent} of ${tally.total} uploaded${tally.failed ? `, ${tally.failed} failed` : ""}${running ? `, ${running} to go` : ""}` }),
      running ? "" : h("button", { type: "button", class: "quiet small", text: "Clear finished",
        onclick: () => {
          for (const li of queueList.querySelectorAll("li.done")) li.remove();
          tally.total -= tally.sent; tally.sent = 0;
          showTally();
        } }));
  }

  function enqueue(entries) {
    const skipped = [];
    for (const { file, name } of entries) {
      if (name.startsWith(".")) { skipped.push(name); continue; } // .DS_Store and friends
      const bar = h("progress", { max: String(file.size || 1), value: "0", "aria-label": `Upload progress of ${name}` });
      const st = h("span", { class: "state", text: "Waiting" });
      const li = h("li", { "data-name": name }, h("span", { class: "name", title: name, text: name }), bar, st);
      tally.total++;
      if (!ALLOWED.includes(ext(name))) {
        tally.failed++;
        li.className = "failed";
        st.textContent = `Not sent: ${ext(name) || "no extension"} is not an allowed type`;
        queueList.append(li);
        continue;
      }
      queueList.append(li);
      pendingUploads.push({ file, name, bar, st, li });
    }
    if (skipped.length) announce(`Skipped hidden files: ${skipped.join(", ")}`);
    showTally();
    pump();
  }

  function pump() {
    while (state.active < PARALLEL && pendingUploads.length) {
      const job = pendingUploads.shift();
      state.active++;
      poll();
      runUpload(job).finally(() => { state.active--; pump(); if (!state.active) { reload().catch(showError); poll(); } });
    }
  }

  async function runUpload({ file, name, bar, st, li }) {
    st.textContent = "Sending";
    const progress = (n) => { bar.value = n; st.textContent = `${Math.round((100 * n) / (file.size || 1))}%`; };
    try {
      if (file.size > SIGNED_ABOVE) await uploadSigned(id, file, name, progress);
      else await uploadDirect(id, file, name, progress);
      bar.value = file.size || 1;
      li.className = "done";
      st.textContent = "Uploaded";
      tally.sent++;
    } catch (ex) {
      li.className = "failed";
      st.textContent = ex.message;
      tally.failed++;
    }
    showTally();
  }

  // Files and whole folders (flattened: a dataset has no subfolders).
  async function entriesFromDrop(dt) {
    const out = [];
    const walk = async (entry) => {
      if (entry.isFile) {
        const file = await new Promise((res, rej) => entry.file(res, rej));
        out.push({ file, name: file.name });
      } else if (entry.isDirectory) {
        const reader = entry.createReader();
        for (;;) {
          const batch = await new Promise((res, rej) => reader.readEntries(res, rej));
          if (!batch.length) break;
          for (const e of batch) await walk(e);
        }
      }
    };
    const roots = [...dt.items].map((i) => (i.webkitGetAsEntry ? i.webkitGetAsEntry() : null));
    if (roots.every(Boolean)) {
      for (const r of roots) await walk(r);
    } else {
      for (const f of dt.files) out.push({ file: f, name: f.name });
    }
    return out;
  }

  const filesInput = h("input", { type: "file", id: "pick-files", multiple: true, hidden: true,
    accept: ALLOWED.join(","), onchange: () => { enqueue([...filesInput.files].map((f) => ({ file: f, name: f.name }))); filesInput.value = ""; } });
  const folderInput = h("input", { type: "file", id: "pick-folder", hidden: true, webkitdirectory: true,
    onchange: () => { enqueue([...folderInput.files].map((f) => ({ file: f, name: f.name }))); folderInput.value = ""; } });
  const drop = h("section", { class: "drop", id: "drop", "aria-label": "Upload files" },
    h("p", {}, h("strong", { text: "Drop images, videos and captions, or a whole folder, here" })),
    h("p", { class: "muted", text: "Each image or video needs a caption .txt of the same name. Files over 8 MB go by signed URL." }),
    h("div", { class: "row" },
      h("button", { type: "button", text: "Choose files…", onclick: () => filesInput.click() }),
      h("button", { type: "button", class: "quiet", text: "Choose a folder…", onclick: () => folderInput.click() })),
    filesInput, folderInput, summary, queueList);
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", async (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    enqueue(await entriesFromDrop(e.dataTransfer));
  });

  const delDs = h("button", { type: "button", class: "quiet", text: "Delete dataset", onclick: async () => {
    const ds = state.ds;
    const ok = await confirmDialog(`Delete ${ds.name}?`,
      `Its ${ds.file_count} files (${bytes(ds.total_bytes)}) are removed. This cannot be undone.`);
    if (!ok) return;
    try { await api("DELETE", path); announce(`Deleted ${ds.name}`); location.hash = "#/"; } catch (ex) { showError(ex); }
  } });

  render("Dataset",
    h("p", {}, h("a", { href: "#/", text: "← All datasets" })),
    h("div", { class: "ds-head" }, title, statusSlot, facts, h("span", { class: "grow" }), delDs),
    err, problems, warnings, drop, gallery, more, sentinel);

  const observer = new IntersectionObserver((es) => { if (es.some((e) => e.isIntersecting)) loadMore(); },
    { rootMargin: "600px" });
  view = () => { state.alive = false; clearTimeout(timer); observer.disconnect(); };

  (async () => {
    try {
      state.pages = 1;
      await reload();
      if (!state.alive) return; // left while the first page was on its way
      document.title = `${state.ds.name} · trainset`;
      title.focus();
      observer.observe(sentinel);
      poll();
    } catch (ex) {
      if (ex.status === 404) render("Not found", h("p", { class: "notice error", text: "No such dataset in this account." }),
        h("p", {}, h("a", { href: "#/", text: "← All datasets" })));
      else if (ex.status !== 401) showError(ex);
    }
  })();
}

// ---- start -------------------------------------------------------------------------

document.getElementById("sign-out").addEventListener("click", () => signOut());
// The skip link moves focus without touching the hash (the hash is the route).
document.querySelector("a.skip").addEventListener("click", (e) => {
  e.preventDefault();
  const m = main();
  m.tabIndex = -1;
  m.focus();
});
window.addEventListener("hashchange", () => route());
route();
