"use strict";
document.documentElement.dataset.js = "on";
addEventListener("DOMContentLoaded", () => {
  const $ = (id) => document.getElementById(id);
  const two = (n) => String(n).padStart(2, "0");

  // Times: the server writes UTC (`2026-11-21 14:22:46Z`); show the reader's
  // local time to the minute, the exact time and zone on hover.
  const zone = (d) => {
    const m = -d.getTimezoneOffset(), a = Math.abs(m);
    return "UTC" + (m < 0 ? "-" : "+") + two((a / 60) | 0) + ":" + two(a % 60);
  };
  for (const t of document.querySelectorAll("#entries time")) {
    const d = new Date((t.dateTime || t.textContent).replace(" ", "T"));
    if (isNaN(d)) continue;
    const day = d.getFullYear() + "-" + two(d.getMonth() + 1) + "-" + two(d.getDate());
    const hm = two(d.getHours()) + ":" + two(d.getMinutes());
    if (!t.dateTime) t.dateTime = d.toISOString().replace(".000Z", "Z");
    t.textContent = day + " " + hm;
    t.title = day + " " + hm + ":" + two(d.getSeconds()) + " " + zone(d);
  }

  // The filter: instant, case-insensitive, on the raw names.
  // Each entry's raw name, from its link's text (a folder's without its
  // slash), kept as data-name for the filter, the delete button and scripts.
  const filter = $("filter"), body = $("entries"), none = $("none");
  const rows = body ? Array.from(body.rows).filter((r) => !r.classList.contains("ku")) : [];
  for (const r of rows) {
    const link = r.querySelector("a");
    if (link) r.dataset.name = link.textContent.replace(/\/$/, "");
  }
  if (filter && body) {
    const names = rows.map((r) => (r.dataset.name || "").toLowerCase());
    const links = () => Array.from(body.querySelectorAll("tr:not([hidden]) td:first-child a"));
    const run = () => {
      const q = filter.value.trim().toLowerCase();
      let shown = 0;
      for (let i = 0; i < rows.length; i++) {
        const hide = q !== "" && !names[i].includes(q);
        if (rows[i].hidden !== hide) rows[i].hidden = hide;
        if (!hide) shown++;
      }
      if (none) none.hidden = shown !== 0 || rows.length === 0;
    };
    filter.hidden = false;
    filter.addEventListener("input", run);
    if (filter.value) run();
    filter.addEventListener("keydown", (e) => {
      if (e.key === "Escape") {
        filter.value = "";
        run();
        filter.blur();
      } else if (e.key === "ArrowDown" || e.key === "Enter") {
        const first = links()[0];
        if (first) {
          e.preventDefault();
          if (e.key === "Enter") first.click(); else first.focus();
        }
      }
    });
    // Arrow keys walk the visible rows; "/" goes to the filter.
    body.addEventListener("keydown", (e) => {
      if (e.key !== "ArrowDown" && e.key !== "ArrowUp") return;
      const all = links(), at = all.indexOf(document.activeElement);
      if (at < 0) return;
      e.preventDefault();
      const next = all[at + (e.key === "ArrowDown" ? 1 : -1)];
      if (next) next.focus(); else if (e.key === "ArrowUp") filter.focus();
    });
    document.addEventListener("keydown", (e) => {
      const typing = e.target.closest && e.target.closest("input,textarea,select");
      if (e.key === "/" && !typing && !e.ctrlKey && !e.metaKey && !e.altKey) {
        e.preventDefault();
        filter.focus();
      }
    });
  }

  const status = $("status");
  const say = (text) => { if (status) { status.hidden = false; status.textContent = text; } };
  const failed = (what, x) => say(what + " failed: " + (x.status ? x.status + " " + (x.statusText || "") : "the connection was lost"));

  // Uploads: one multipart POST for every file, with a progress bar; files
  // dropped anywhere on the page go the same way.
  const form = $("upload"), input = $("upload-files"), bar = $("upload-progress");
  if (form && input) {
    const send = (files) => {
      if (!files || !files.length) return;
      const data = new FormData();
      for (const f of files) data.append("file", f, f.name);
      const x = new XMLHttpRequest();
      x.open("POST", location.pathname);
      x.setRequestHeader("Accept", "application/json");
      if (bar) { bar.hidden = false; bar.value = 0; }
      x.upload.onprogress = (e) => { if (bar && e.lengthComputable) bar.value = e.loaded / e.total; };
      x.onload = () => {
        if (x.status >= 200 && x.status < 300) location.reload();
        else { if (bar) bar.hidden = true; failed("Upload", x); }
      };
      x.onerror = () => { if (bar) bar.hidden = true; failed("Upload", x); };
      say("Uploading " + files.length + (files.length === 1 ? " file…" : " files…"));
      x.send(data);
    };
    form.addEventListener("submit", (e) => { e.preventDefault(); send(input.files); });
    let depth = 0;
    document.addEventListener("dragenter", (e) => { e.preventDefault(); depth++; document.body.classList.add("drop"); });
    document.addEventListener("dragleave", () => { if (--depth <= 0) { depth = 0; document.body.classList.remove("drop"); } });
    document.addEventListener("dragover", (e) => e.preventDefault());
    document.addEventListener("drop", (e) => {
      e.preventDefault();
      depth = 0;
      document.body.classList.remove("drop");
      send(e.dataTransfer && e.dataTransfer.files);
    });
  }

  // New folders (MKCOL) and deletes (DELETE): scripts' methods, so these
  // controls exist only with JavaScript.
  const call = (method, url, what) => {
    const x = new XMLHttpRequest();
    x.open(method, url);
    x.onload = () => { if (x.status >= 200 && x.status < 300) location.reload(); else failed(what, x); };
    x.onerror = () => failed(what, x);
    x.send();
  };
  const mkdir = $("mkdir"), mkdirName = $("mkdir-name");
  if (mkdir && mkdirName) {
    mkdir.hidden = false;
    mkdir.addEventListener("submit", (e) => {
      e.preventDefault();
      const name = mkdirName.value.trim();
      if (name) call("MKCOL", location.pathname + encodeURIComponent(name) + "/", "New folder");
    });
  }
  if (body) {
    body.addEventListener("click", (e) => {
      const button = e.target.closest && e.target.closest("button.del");
      if (!button) return;
      const row = button.closest("tr"), link = row && row.querySelector("a");
      if (link && confirm("Delete " + row.dataset.name + "?")) call("DELETE", link.href, "Delete");
    });
  }
});
