// The agent desktop: live screen pop (SSE), agent state, and the case form. The form's
// draft lives in localStorage, so a reload or a lost connection keeps what was typed, and
// its idempotency key makes a double save one case.
(function () {
  "use strict";
  const H = window.HOTLINE, t = H.t, form = document.getElementById("case-form");
  const draftKey = "hotline-draft-" + H.user;
  const $ = (id) => document.getElementById(id);
  const post = (url, body) => fetch(url, {method: "POST", credentials: "same-origin",
    headers: {"Content-Type": "application/json", "X-CSRF-Token": H.csrf},
    body: JSON.stringify(body)});
  const esc = (s) => String(s == null ? "" : s).replace(/[&<>"]/g,
    (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c]));

  // --- agent state ------------------------------------------------------------------
  function showState(state, reason) {
    $("state").textContent = (t["agent_" + state] || state) + (reason ? " · " + (t["reason_" + reason] || reason) : "");
    $("state").dataset.state = state;
    $("since").dataset.since = Date.now() / 1000;
  }
  async function setState(state, reason) {
    const r = await post("/agent/state", {state: state, reason: reason || ""});
    if (r.ok) { showState(state, reason); $("state-error").textContent = ""; }
    else { $("state-error").textContent = (await r.json()).detail || r.statusText; }
  }
  $("ready").onclick = () => setState("ready");
  $("pause").onclick = () => setState("paused", $("reason").value);
  $("leave").onclick = () => setState("logged_out");
  setInterval(() => {
    const s = Math.max(0, Math.round(Date.now() / 1000 - parseFloat($("since").dataset.since)));
    $("since").textContent = Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
  }, 1000);

  // --- screen pop -------------------------------------------------------------------
  async function pop(callId) {
    const r = await fetch("/calls/" + callId + "/pop", {credentials: "same-origin"});
    if (!r.ok) return;
    const p = await r.json();
    const cases = p.earlier_cases.map((c) => "<li>" + esc(c.number) + " · " + esc(c.state) + "</li>").join("") +
      (p.earlier_elsewhere ? "<li class='muted' id='pop-elsewhere'>" + esc(t.elsewhere.replace("{n}", p.earlier_elsewhere)) + "</li>" : "");
    const near = p.nearby_open_cases.map((c) => "<li>" + esc(c.number) + " · " + esc(c.address) + "</li>").join("");
    $("pop-body").innerHTML =
      "<p><strong id='pop-caller'>" + esc(p.caller) + "</strong> · " + t.waited + " " + esc(p.waited_seconds) + "s</p>" +
      "<p>" + t.district + ": " + esc(p.district || "—") + " · " + t.grid + ": " + esc(p.grid || "—") +
      " · " + t.intent + ": " + esc(p.intent || "—") + "</p>" +
      "<p class='muted'>" + esc(p.reason || "") + "</p>" +
      "<p>" + t.earlier + "</p><ul>" + (cases || "<li>—</li>") + "</ul>" +
      "<p>" + t.nearby + "</p><ul>" + (near || "<li>—</li>") + "</ul>";
    $("pop").hidden = false;
    $("pop").dataset.callId = p.call_id;
    form.elements.call_id.value = p.call_id;
    if (!form.elements.citizen_phone.value) form.elements.citizen_phone.value = p.caller || "";
    if (!form.elements.district_code.value && p.district) form.elements.district_code.value = p.district;
    if (!form.elements.grid_code.value && p.grid) form.elements.grid_code.value = p.grid;
    saveDraft();
  }
  const events = new EventSource("/events");
  events.addEventListener("pop", (e) => pop(JSON.parse(e.data).call_id));
  events.addEventListener("state", (e) => { const d = JSON.parse(e.data); showState(d.state, d.reason); });
  window.hotlineEvents = events;

  // --- call controls ----------------------------------------------------------------
  document.querySelectorAll("button[data-control]").forEach((b) => {
    b.onclick = async () => {
      const id = $("pop").dataset.callId, what = b.dataset.control;
      if (!id) return;
      const r = what === "hangup" ? await post("/calls/" + id + "/hangup", {})
        : await post("/calls/" + id + "/transfer", {target: what === "district"
            ? "district:" + $("to-district").value.trim() : what});
      $("control-error").textContent = r.ok ? "" : ((await r.json()).detail || r.statusText);
    };
  });

  document.querySelectorAll("button[data-attended]").forEach((b) => {
    b.onclick = async () => {
      const id = $("pop").dataset.callId;
      if (!id) return;
      const r = await post("/calls/" + id + "/attended", {action: b.dataset.attended});
      $("control-error").textContent = r.ok ? "" : ((await r.json()).detail || r.statusText);
    };
  });

  // --- searches ---------------------------------------------------------------------
  function searcher(input, list, url, label, pick) {
    let timer = null;
    $(input).addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(async () => {
        const q = $(input).value.trim();
        if (!q) { $(list).innerHTML = ""; return; }
        const r = await fetch(url + "?q=" + encodeURIComponent(q), {credentials: "same-origin"});
        const hits = r.ok ? await r.json() : [];
        $(list).innerHTML = "";
        hits.slice(0, 12).forEach((h) => {
          const li = document.createElement("li");
          li.textContent = label(h);
          li.onclick = () => { pick(h); $(list).innerHTML = ""; saveDraft(); };
          $(list).appendChild(li);
        });
      }, 150);
    });
  }
  searcher("class-search", "class-hits", "/desk/catalogue",
    (h) => h.code + " " + h.name + (h.aliases ? " (" + h.aliases.replace(/\|/g, ", ") + ")" : ""),
    (h) => { form.elements.kind.value = h.kind; form.elements.class_code.value = h.code; $("class-search").value = h.name; });
  searcher("place-search", "place-hits", "/desk/places", (h) => h.name + " · " + h.area,
    (h) => { form.elements.district_code.value = h.area.slice(0, 6);
             if (!form.elements.address.value) form.elements.address.value = h.name; });

  // --- draft and saving ---------------------------------------------------------------
  function values() {
    const v = {};
    for (const el of form.elements) if (el.name) v[el.name] = el.type === "checkbox" ? el.checked : el.value;
    return v;
  }
  function saveDraft() {
    const d = JSON.parse(localStorage.getItem(draftKey) || "{}");
    localStorage.setItem(draftKey, JSON.stringify({key: d.key || crypto.randomUUID(), values: values()}));
  }
  function loadDraft() {
    const d = JSON.parse(localStorage.getItem(draftKey) || "null");
    if (!d) return;
    for (const [k, v] of Object.entries(d.values || {})) {
      const el = form.elements[k];
      if (!el) continue;
      if (el.type === "checkbox") el.checked = !!v; else el.value = v;
    }
  }
  form.addEventListener("input", saveDraft);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    saveDraft();
    const d = JSON.parse(localStorage.getItem(draftKey));
    const v = values(), body = {idempotency_key: d.key};
    for (const k of ["kind", "class_code", "district_code", "grid_code", "address", "description",
                     "urgency", "citizen_name", "citizen_phone"]) body[k] = v[k] || null;
    body.address = v.address || ""; body.description = v.description || "";
    body.citizen_name = v.citizen_name || ""; body.citizen_phone = v.citizen_phone || "";
    body.urgency = v.urgency || "normal"; body.callback_consent = !!v.callback_consent;
    body.call_id = v.call_id ? parseInt(v.call_id, 10) : null;
    if (v.dispatch_now) body.dispatch_to = "auto";
    const r = await post("/desk/cases", body);
    const data = await r.json();
    if (!r.ok) {
      $("case-error").textContent = data.detail ? (typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail)) : r.statusText;
      return;
    }
    $("case-error").textContent = "";
    $("case-number").textContent = data.number + (data.unit_code ? " → " + data.unit_code : "");
    $("saved").hidden = false;
    form.hidden = true;
  });
  $("next-case").onclick = () => {
    localStorage.removeItem(draftKey);
    form.reset(); form.hidden = false; $("saved").hidden = true; $("pop").hidden = true;
  };
  loadDraft();
})();
