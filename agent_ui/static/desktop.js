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
  const refusal = (status, data) => t["error_" + (data && data.error_id)] || t["error_" + status] || t.error_500;
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
    else { $("state-error").textContent = refusal(r.status, await r.json()); }
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
    const state = (s) => t["state_" + s] || s;
    const cases = p.earlier_cases.map((c) => "<li>" + esc(c.number) + " · " + esc(c.created) + " · " +
      esc(c.class_name || "") + " · " + esc(state(c.state)) + "</li>").join("") +
      (p.earlier_elsewhere ? "<li class='muted' id='pop-elsewhere'>" + esc(t.elsewhere.replace("{n}", p.earlier_elsewhere)) + "</li>" : "");
    const near = p.nearby_open_cases.map((c) => "<li>" + esc(c.number) + " · " + esc(c.class_name || "") +
      " · " + esc(c.address) + " · " + esc(state(c.state)) +
      " <button type='button' class='small' data-link='" + esc(c.number) + "'>" + esc(t.map_link_duplicate) + "</button></li>").join("");
    $("pop-body").innerHTML =
      "<p><strong id='pop-caller'>" + esc(p.caller) + "</strong> · " + t.waited + " " + esc(p.waited_seconds) + "s</p>" +
      "<p>" + t.district + "：" + esc(p.district_name || "—") + " · " + t.grid + "：" + esc(p.grid || "—") +
      " · " + t.intent + "：" + esc(t["intent_" + p.intent] || "—") + "</p>" +
      "<p class='muted'>" + esc(t["route_" + p.reason] || "") + "</p>" +
      "<p>" + t.earlier + "</p><ul>" + (cases || "<li>—</li>") + "</ul>" +
      "<p>" + t.nearby + "</p><ul>" + (near || "<li>—</li>") + "</ul>";
    // A repeat of an open case nearby: the report is linked to it (desk-map.js keeps the link).
    $("pop-body").querySelectorAll("button[data-link]").forEach((b) => {
      b.onclick = () => form.dispatchEvent(new CustomEvent("link-duplicate", {detail: b.dataset.link}));
    });
    $("pop").hidden = false;
    $("pop").dataset.callId = p.call_id;
    const over = endedCalls.get(String(p.call_id));  // a pop shown again after its call ended
    callControls(!over);
    $("call-status").textContent = over || "";
    form.elements.call_id.value = p.call_id;
    if (!form.elements.citizen_phone.value) form.elements.citizen_phone.value = p.caller || "";
    if (!form.elements.district_code.value && p.district) form.elements.district_code.value = p.district;
    if (!form.elements.grid_code.value && p.grid) form.elements.grid_code.value = p.grid;
    saveDraft();
  }
  // The call ended (or its telephony node was lost): the details stay for the form, the
  // controls that act on the call go grey.
  function callControls(on) {
    $("pop").querySelectorAll("button[data-control], button[data-attended], #to-district").forEach((b) => { b.disabled = !on; });
  }
  const endedCalls = new Map();  // call id -> what the desk says of its end
  function ended(d) {
    const said = d.lost ? t.call_lost_live : t.call_ended_live;
    endedCalls.set(String(d.call_id), said);
    if (String(d.call_id) !== $("pop").dataset.callId) return;
    $("call-status").textContent = said;
    callControls(false);
  }
  const events = new EventSource("/events");
  events.addEventListener("pop", (e) => pop(JSON.parse(e.data).call_id));
  events.addEventListener("ended", (e) => ended(JSON.parse(e.data)));
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
      $("control-error").textContent = r.ok ? "" : refusal(r.status, await r.json());
    };
  });

  document.querySelectorAll("button[data-attended]").forEach((b) => {
    b.onclick = async () => {
      const id = $("pop").dataset.callId;
      if (!id) return;
      const r = await post("/calls/" + id + "/attended", {action: b.dataset.attended});
      $("control-error").textContent = r.ok ? "" : refusal(r.status, await r.json());
    };
  });

  // --- searches ---------------------------------------------------------------------
  // Typing searches; arrow keys move, Enter picks the highlighted (or first) hit and never
  // submits the form (it once registered an empty case).
  function searcher(input, list, url, label, pick) {
    let timer = null, hits = [], active = 0;
    const box = $(input), ul = $(list);
    function show() {
      ul.innerHTML = "";
      hits.slice(0, 12).forEach((h, i) => {
        const li = document.createElement("li");
        li.textContent = label(h);
        li.setAttribute("role", "option");
        if (i === active) li.className = "active";
        li.onclick = () => choose(i);
        ul.appendChild(li);
      });
    }
    function choose(i) {
      if (!hits[i]) return;
      pick(hits[i]); hits = []; ul.innerHTML = ""; saveDraft();
    }
    box.addEventListener("keydown", (e) => {
      if (e.key === "Enter") { e.preventDefault(); choose(active); }
      else if (e.key === "ArrowDown") { e.preventDefault(); active = Math.min(active + 1, hits.length - 1); show(); }
      else if (e.key === "ArrowUp") { e.preventDefault(); active = Math.max(active - 1, 0); show(); }
      else if (e.key === "Escape") { hits = []; ul.innerHTML = ""; }
    });
    box.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(async () => {
        const q = box.value.trim();
        if (!q) { hits = []; ul.innerHTML = ""; return; }
        const r = await fetch(url + "?q=" + encodeURIComponent(q), {credentials: "same-origin"});
        hits = r.ok ? await r.json() : [];
        active = 0;
        show();
      }, 150);
    });
  }
  const kindName = (k) => t["kind_" + k] || k;
  // A component's 16-digit id typed (or read off its plate): the case is about it, and its
  // class is digits 7–10 of the id (the code rules); the server checks the rest on saving.
  $("f-component").addEventListener("input", (e) => {
    const id = e.target.value.trim();
    if (!/^[0-9]{16}$/.test(id)) return;
    form.elements.kind.value = "component"; form.elements.class_code.value = id.slice(6, 10);
    showClass("component", id.slice(6, 10), "");
  });
  function showClass(kind, code, name) {
    $("class-chosen").textContent = code ? kindName(kind) + " · " + code + " " + (name || "") : t.no_class_yet;
    $("class-chosen").classList.toggle("muted", !code);
  }
  searcher("class-search", "class-hits", "/desk/catalogue",
    (h) => kindName(h.kind) + " " + h.code + " " + h.name + (h.aliases ? "（" + h.aliases.replace(/\|/g, "、") + "）" : ""),
    (h) => { form.elements.kind.value = h.kind; form.elements.class_code.value = h.code;
             $("class-search").value = h.name; showClass(h.kind, h.code, h.name);
             form.dispatchEvent(new CustomEvent("class-picked", {detail: h})); });
  searcher("place-search", "place-hits", "/desk/places",
    (h) => h.name + " · " + (h.area_name || h.area),
    (h) => { form.elements.district_code.value = h.district || "";
             form.elements.grid_code.value = h.grid || "";
             form.elements.lon.value = h.lon == null ? "" : h.lon;
             form.elements.lat.value = h.lat == null ? "" : h.lat;
             $("place-search").value = h.name;
             if (!form.elements.address.value) form.elements.address.value = h.name;
             form.dispatchEvent(new CustomEvent("place-picked", {detail: h})); });

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
    showClass(form.elements.kind.value, form.elements.class_code.value, $("class-search").value);
  }
  function clearErrors() {
    $("case-error").textContent = "";
    form.querySelectorAll("[data-error]").forEach((p) => { p.textContent = ""; });
    form.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
  }
  function fieldError(name, text) {
    const slot = form.querySelector("[data-error='" + name + "']") || $("case-error");
    slot.textContent = text;
    if (form.elements[name]) form.elements[name].setAttribute("aria-invalid", "true");
  }
  function showRefusal(status, data) {
    // Errors in the reader's language: the catalogue's text for the error id, the field
    // beside its box; never the server's English.
    if (Array.isArray(data.detail)) {
      data.detail.forEach((d) => {
        const name = d.loc ? d.loc[d.loc.length - 1] : "";
        fieldError(name === "body" ? "description" : name,
          name === "body" ? t.empty_case : (t["field_" + name] || name) + "：" + (t.error_422 || ""));
      });
      return;
    }
    const text = t["error_" + data.error_id] || t["error_" + status] || t.error_500;
    const field = {"case-bad-phone": "citizen_phone", "case-bad-grid": "grid_code",
                   "case-bad-district": "district_code", "case-bad-class": "class_code",
                   "case-bad-component": "component_id", "case-bad-duplicate": "duplicate_of",
                   "case-duplicate-closed": "duplicate_of"}[data.error_id];
    if (field) fieldError(field, text); else $("case-error").textContent = text;
  }
  form.addEventListener("input", saveDraft);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearErrors();
    saveDraft();
    const d = JSON.parse(localStorage.getItem(draftKey));
    const v = values(), body = {idempotency_key: d.key};
    if (!v.class_code && !v.description.trim()) { fieldError("description", t.empty_case); return; }
    if (v.dispatch_now && !v.district_code) { $("case-error").textContent = t.dispatch_needs_district; return; }
    for (const k of ["kind", "class_code", "district_code", "grid_code", "component_id"]) body[k] = v[k] || null;
    body.lon = v.lon === "" ? null : parseFloat(v.lon);
    body.lat = v.lat === "" ? null : parseFloat(v.lat);
    body.address = v.address || ""; body.description = v.description || "";
    body.citizen_name = v.citizen_name || ""; body.citizen_phone = (v.citizen_phone || "").trim();
    body.urgency = v.urgency || "normal"; body.callback_consent = !!v.callback_consent;
    body.source = v.source || "phone";
    body.call_id = v.call_id ? parseInt(v.call_id, 10) : null;
    body.duplicate_of = v.duplicate_of || null;  // a repeat is not dispatched
    if (v.dispatch_now && !body.duplicate_of) body.dispatch_to = "auto";
    const r = await post("/desk/cases", body);
    const data = await r.json();
    if (!r.ok) { showRefusal(r.status, data); return; }
    // Saved: the draft and its key are spent. A reload or the next report must not send
    // this key again (the server would answer with this case and the next would be lost).
    localStorage.removeItem(draftKey);
    $("case-number").textContent = data.number;
    $("case-outcome").textContent = data.duplicate_of
      ? t.saved_duplicate.replace(/\{original\}/g, data.duplicate_of).replace("{state}", data.original_state)
      : data.state === "dispatched"
      ? t.saved_dispatched.replace("{unit}", data.unit).replace("{due}", data.due || "—")
      : (data.state === "received" ? t.saved_received : t.saved_registered);
    $("case-link").href = "/cases/" + data.number;
    $("saved").hidden = false;
    form.hidden = true;
  });
  $("next-case").onclick = () => {
    localStorage.removeItem(draftKey);
    form.reset(); showClass("", "", ""); clearErrors();
    form.hidden = false; $("saved").hidden = true; $("pop").hidden = true;
  };
  loadDraft();
})();
