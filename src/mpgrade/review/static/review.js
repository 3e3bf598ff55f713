// Keyboard-first review: j/k move, a accepts, s/c focus score/comment, Enter saves, f filters.
"use strict";
(function () {
  const meta = document.querySelector('meta[name="review-token"]');
  const token = meta.content, header = meta.dataset.header;
  const todo = document.getElementById("todo");
  let current = null;

  const items = () => Array.from(document.querySelectorAll("article.item"));
  const visible = () => items().filter((el) => !el.hidden);

  function select(el) {
    if (current) current.classList.remove("current");
    current = el || null;
    if (current) {
      current.classList.add("current");
      current.focus({ preventScroll: true });
      current.scrollIntoView({ block: "nearest" });
    }
  }

  function move(step) {
    const list = visible();
    if (!list.length) return select(null);
    const i = list.indexOf(current);
    select(list[Math.max(0, Math.min(list.length - 1, i < 0 ? 0 : i + step))]);
  }

  function applyFilter() {
    // a stale review (the automatic score moved since) stays in view: it needs a second look
    for (const el of items()) {
      el.hidden = todo.checked && el.classList.contains("reviewed") && !el.classList.contains("stale");
    }
    document.getElementById("all-done").hidden = !(todo.checked && items().length && !visible().length);
    const url = new URL(window.location.href);
    if (todo.checked) url.searchParams.set("filter", "todo"); else url.searchParams.delete("filter");
    window.history.replaceState(null, "", url);
    for (const a of document.querySelectorAll("nav a.tab")) {
      const link = new URL(a.href);
      if (todo.checked) link.searchParams.set("filter", "todo"); else link.searchParams.delete("filter");
      a.href = link.toString();
    }
    if (!current || current.hidden) move(0);
  }

  async function decide(el, accept) {
    const form = el.querySelector("form");
    const message = el.querySelector(".message");
    const body = {
      student: el.dataset.student,
      question: el.dataset.question,
      score: accept ? null : form.score.value,
      comment: form.comment.value,
    };
    message.textContent = "saving…";
    let reply;
    try {
      const response = await fetch("/api/decide", {
        method: "POST",
        headers: { "Content-Type": "application/json", [header]: token },
        body: JSON.stringify(body),
      });
      // this server answers errors in JSON with a sentence; a proxy or another program may not
      reply = await response.json().catch(() => null);
      if (!response.ok || !reply) {
        throw new Error((reply && reply.error) || ("HTTP " + response.status + " " + response.statusText).trim());
      }
    } catch (err) {
      message.textContent = "not saved: " + err.message;
      el.classList.add("error");
      return;
    }
    const item = reply.item;
    el.classList.remove("error", "stale");
    el.classList.add("reviewed");
    el.querySelector(".state").textContent = "reviewed";
    el.querySelector(".final").textContent = String(item.score);
    el.querySelector(".stale-note").hidden = true;
    el.querySelector(".who").textContent = "by " + item.by + " at " + item.at;
    form.score.value = String(item.score);
    message.textContent = reply.note ? reply.note : "saved";
    document.getElementById("done").textContent = String(reply.reviewed);
    document.getElementById("total").textContent = String(reply.total);
    const tab = document.querySelector("nav a.current small");
    if (tab) tab.textContent = reply.reviewed + "/" + reply.total;
    document.activeElement.blur();
    const next = visible()[visible().indexOf(el) + 1];
    if (todo.checked) { el.hidden = true; applyFilter(); }
    select(next || visible()[0] || null);
  }

  document.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const el = ev.target.closest("article.item");
    if (el) decide(el, false);
  });
  document.addEventListener("click", (ev) => {
    const el = ev.target.closest("article.item");
    if (!el) return;
    if (ev.target.closest("button.accept")) decide(el, true);
    else if (el !== current) select(el);
  });
  document.addEventListener("keydown", (ev) => {
    const field = ev.target.closest && ev.target.closest("input, textarea");
    if (field) {
      if (ev.key === "Escape") { field.blur(); if (current) current.focus(); }
      return; // Enter in a field submits its form
    }
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const keys = {
      j: () => move(1), ArrowDown: () => move(1), k: () => move(-1), ArrowUp: () => move(-1),
      a: () => current && decide(current, true),
      s: () => current && current.querySelector(".score-input").select(),
      c: () => current && current.querySelector(".comment-input").focus(),
      f: () => { todo.checked = !todo.checked; applyFilter(); },
    };
    if (keys[ev.key]) { ev.preventDefault(); keys[ev.key](); }
  });
  todo.addEventListener("change", applyFilter);
  applyFilter();
  move(0);
})();
