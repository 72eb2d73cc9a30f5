// labelbot's console: fetches the page's part with the visitor's proof, and drives the
// review. Plain JavaScript, no build step. Inside Telegram the proof is the Mini App's
// initData (sent with every request); in a browser it is the session cookie.
"use strict";

(() => {
  const INIT_DATA_KEY = "labelbot.initData";
  const initData = readInitData();
  const part = document.getElementById("part");
  const toast = document.getElementById("toast");

  // Telegram opens a Mini App with its launch data in the URL's fragment (the same data its
  // telegram-web-app.js reads); a page reached from the menu finds it in sessionStorage.
  function readInitData() {
    const webApp = window.Telegram && window.Telegram.WebApp;
    if (webApp && webApp.initData) {
      applyTheme(webApp.themeParams);
      return webApp.initData;
    }
    const launch = new URLSearchParams(location.hash.slice(1));
    const data = launch.get("tgWebAppData");
    if (data) {
      sessionStorage.setItem(INIT_DATA_KEY, data);
      const theme = launch.get("tgWebAppThemeParams");
      if (theme) sessionStorage.setItem(INIT_DATA_KEY + ".theme", theme);
      history.replaceState(null, "", location.pathname + location.search);
    }
    const theme = sessionStorage.getItem(INIT_DATA_KEY + ".theme");
    if (theme) applyTheme(JSON.parse(theme));
    return sessionStorage.getItem(INIT_DATA_KEY) || "";
  }

  function applyTheme(params) {
    for (const [key, value] of Object.entries(params || {})) {
      document.documentElement.style.setProperty(`--tg-theme-${key.replaceAll("_", "-")}`, value);
    }
  }

  async function call(path, body) {
    const headers = initData ? { "X-Telegram-Init-Data": initData } : {};
    const options = { headers, credentials: "same-origin" };
    if (body !== undefined) {
      options.method = "POST";
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    const response = await fetch(path, options);
    if (!response.ok) {
      let said = `${response.status} ${response.statusText}`;
      try { said = (await response.json()).error || said; } catch (_) { /* not JSON */ }
      const error = new Error(said);
      error.status = response.status;
      throw error;
    }
    return response;
  }

  function say(text, bad = false) {
    toast.textContent = text;
    toast.className = bad ? "bad" : "";
    toast.hidden = false;
    clearTimeout(say.timer);
    say.timer = setTimeout(() => { toast.hidden = true; }, 3500);
  }

  function refusal(error) {
    part.innerHTML = "";
    const box = document.createElement("p");
    box.className = "refusal";
    box.dataset.status = error.status || "";
    box.textContent = error.message;
    part.appendChild(box);
  }

  async function loadPart() {
    const page = document.body.dataset.page;
    try {
      part.innerHTML = await (await call(`/console/part/${page}`)).text();
    } catch (error) {
      refusal(error);
      return;
    }
    const start = { review: startReview, model: startModel, people: startPeople }[page];
    if (start) start();
  }

  // ---- review ------------------------------------------------------------------------------

  function startReview() {
    const photo = document.getElementById("photo");
    const labels = document.getElementById("labels");
    const filter = document.getElementById("filter");
    const undoButton = document.getElementById("undo");
    let current = null; // the photo on screen
    let upcoming = null; // the next one, fetched (and its image loaded) ahead
    let last = null; // the last answered photo, for Undo
    let busy = false;

    async function handOut(showing) {
      const query = showing.length ? `?showing=${showing.join(",")}` : "";
      const next = await (await call(`/console/api/next${query}`)).json();
      if (!next.done) new Image().src = next.photo; // in the browser's cache before it shows
      return next;
    }

    function show(next) {
      current = next;
      if (next.done) {
        document.querySelector(".review").hidden = true;
        const done = document.getElementById("done");
        done.textContent = next.message;
        done.hidden = false;
        return;
      }
      photo.src = next.photo;
      photo.dataset.sample = next.sample;
      const top = next.guesses[0];
      document.getElementById("guess").textContent = top
        ? `${next.sure ? "" : "Not sure. "}Best guess: ${top.name} (${top.percent}%)`
        : "The model has no guess yet.";
      document.getElementById("caption").textContent = next.note || "";
      document.getElementById("tally").textContent = "";
      filter.value = "";
      drawLabels();
      upcoming = null;
      handOut([next.sample]).then((n) => { upcoming = n; }).catch(() => { upcoming = null; });
    }

    function choices() {
      const wanted = filter.value.trim().toLowerCase();
      const all = [
        ...current.guesses.map((g) => ({ id: g.id, text: `${g.name} · ${g.percent}%`, name: g.name })),
        ...current.labels.map((l) => ({ id: l.id, text: l.name, name: l.name })),
      ];
      return all.filter((c) => c.name.toLowerCase().includes(wanted));
    }

    function drawLabels() {
      labels.innerHTML = "";
      choices().forEach((choice, n) => {
        const button = document.createElement("button");
        button.type = "button";
        button.className = "label";
        button.dataset.label = choice.id;
        if (n < 9) {
          const key = document.createElement("kbd");
          key.textContent = String(n + 1);
          button.appendChild(key);
        }
        button.appendChild(document.createTextNode(` ${choice.text}`));
        button.addEventListener("click", () => answer("vote", choice.id));
        labels.appendChild(button);
      });
    }

    async function answer(action, label) {
      if (busy || !current || current.done) return;
      busy = true;
      const answered = current;
      const body = { sample: answered.sample, token: answered.token };
      if (label !== undefined) body.label = label;
      try {
        const after = await (await call(`/console/api/${action}`, body)).json();
        last = answered;
        undoButton.disabled = false;
        say(after.tally ? `${after.outcome} · ${after.tally}` : after.outcome);
        show(upcoming || (await handOut([])));
      } catch (error) {
        say(error.message, true);
      } finally {
        busy = false;
      }
    }

    async function undo() {
      if (busy || !last) return;
      busy = true;
      try {
        const after = await (await call("/console/api/undo", { sample: last.sample, token: last.token })).json();
        say(after.outcome);
        last = null;
        undoButton.disabled = true;
      } catch (error) {
        say(error.message, true);
      } finally {
        busy = false;
      }
    }

    document.getElementById("skip").addEventListener("click", () => answer("skip"));
    undoButton.addEventListener("click", undo);
    filter.addEventListener("input", drawLabels);
    filter.addEventListener("keydown", (event) => {
      if (event.key === "Escape") { filter.value = ""; drawLabels(); filter.blur(); }
      if (event.key === "Enter") {
        const first = labels.querySelector("button.label");
        if (first) first.click();
      }
    });
    document.addEventListener("keydown", (event) => {
      if (event.target === filter || event.ctrlKey || event.metaKey || event.altKey) return;
      if (event.key >= "1" && event.key <= "9") {
        const button = labels.querySelectorAll("button.label")[Number(event.key) - 1];
        if (button) button.click();
      } else if (event.key === "s" || event.key === "S") {
        answer("skip");
      } else if (event.key === "u" || event.key === "U") {
        undo();
      } else if (event.key === "/") {
        event.preventDefault();
        filter.focus();
      }
    });
    handOut([]).then(show).catch(refusal);
  }

  // ---- admin pages ---------------------------------------------------------------------------

  function startModel() {
    const confirm = document.getElementById("confirm");
    let version = null;
    for (const button of document.querySelectorAll("button.rollback")) {
      button.addEventListener("click", () => {
        version = Number(button.dataset.version);
        document.getElementById("confirm-text").textContent =
          `Roll the model back to version ${version}? Its answers replace the current ones ` +
          "as a new version; the votes stay, and later versions stay for another rollback.";
        confirm.hidden = false;
        document.getElementById("confirm-yes").focus();
      });
    }
    document.getElementById("confirm-no").addEventListener("click", () => { confirm.hidden = true; });
    document.getElementById("confirm-yes").addEventListener("click", async () => {
      confirm.hidden = true;
      try {
        say((await (await call("/console/api/rollback", { version })).json()).outcome);
        await loadPart();
      } catch (error) {
        say(error.message, true);
      }
    });
  }

  function startPeople() {
    for (const button of document.querySelectorAll("button.ban, button.unban")) {
      button.addEventListener("click", async () => {
        const action = button.classList.contains("ban") ? "ban" : "unban";
        try {
          const after = await (await call(`/console/api/${action}`, { user: Number(button.dataset.user) })).json();
          say(after.outcome);
          await loadPart();
        } catch (error) {
          say(error.message, true);
        }
      });
    }
  }

  loadPart();
})();
