// Accord dashboard: draws the Vega-Lite charts and sends the buttons' writes to the JSON API.
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="csrf-token"]');
  var csrf = meta ? meta.getAttribute("content") : "";
  var status = document.getElementById("status");

  function say(text) { if (status) { status.textContent = text; } }

  function api(method, url, body) {
    var init = { method: method, credentials: "same-origin", headers: { "X-CSRF-Token": csrf, "Accept": "application/json" } };
    if (body !== undefined) { init.headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
    return fetch(url, init).then(function (r) {
      return r.text().then(function (t) {
        var data = null;
        try { data = t ? JSON.parse(t) : null; } catch (e) { data = null; }
        if (!r.ok) { throw new Error((data && (data.detail || data.title)) || ("HTTP " + r.status)); }
        return data;
      });
    });
  }

  function drawCharts() {
    if (!window.vega || !window.vegaLite) { return; }
    document.querySelectorAll(".chart[data-spec]").forEach(function (el) {
      var node = document.getElementById(el.getAttribute("data-spec"));
      if (!node) { return; }
      var spec = JSON.parse(node.textContent);
      var compiled = window.vegaLite.compile(spec).spec;
      // Vega labels its own container; the figure's role=img and aria-label stay on the outer one.
      var inner = document.createElement("div");
      inner.setAttribute("aria-hidden", "true");
      el.appendChild(inner);
      var view = new window.vega.View(window.vega.parse(compiled), { renderer: "svg", container: inner, hover: true });
      view.runAsync().then(function () {
        el.setAttribute("data-drawn", "true");
      }).catch(function (err) { el.textContent = "This chart could not be drawn: " + err.message; });
    });
  }

  function poll(jobId, where, then) {
    api("GET", "/v1/jobs/" + encodeURIComponent(jobId)).then(function (job) {
      var msg = where ? where.querySelector(".job-msg") : null;
      var bar = where ? where.querySelector("progress") : null;
      if (msg) { msg.textContent = job.message || job.state; }
      if (bar && job.progress !== null) { bar.value = job.progress; }
      if (job.state === "done") { then(job); return; }
      if (job.state === "failed") { say("The job failed: " + (job.message || "no reason given")); return; }
      window.setTimeout(function () { poll(jobId, where, then); }, 800);
    }).catch(function (err) { say(err.message); });
  }

  function verdict(button) {
    var box = button.closest("[data-lead]");
    var lead = box.getAttribute("data-lead");
    var action = button.getAttribute("data-action");
    var reasonEl = box.querySelector(".reason");
    var reason = reasonEl && reasonEl.value ? reasonEl.value : null;
    var done = box.querySelector(".done");
    if (action !== "accept" && !reason && reasonEl) {
      done.textContent = "Choose a reason to " + action + ".";
      done.classList.add("error");
      reasonEl.focus();
      return;
    }
    box.querySelectorAll("button[data-action]").forEach(function (b) { b.disabled = true; });
    api("POST", "/v1/leads/" + encodeURIComponent(lead) + "/feedback", { action: action, reason: reason })
      .then(function (r) {
        var past = { accept: "Accepted", reject: "Rejected", recycle: "Recycled" }[action] || action;
        done.classList.remove("error");
        done.textContent = past + (r.to_stage ? ": now " + r.to_stage.toUpperCase() : "") + (reason ? " (" + reason + ")" : "");
        var row = document.getElementById("row-" + lead);
        if (row) { row.classList.add("done-row"); }
        say(past + " " + lead + ".");
      })
      .catch(function (err) {
        done.textContent = err.message;
        done.classList.add("error");
        box.querySelectorAll("button[data-action]").forEach(function (b) { b.disabled = false; });
      });
  }

  function pact(button) {
    var section = button.closest("[data-version]");
    var version = section.getAttribute("data-version");
    var done = section.querySelector(".done");
    var what = button.getAttribute("data-pact");
    if (button.getAttribute("aria-disabled") === "true") {
      done.textContent = "Not activated: " + button.getAttribute("data-why") + ".";
      done.classList.add("error");
      return;
    }
    var url = "/v1/pacts/" + encodeURIComponent(version) + "/" + what;
    var team = button.getAttribute("data-team");
    if (team) { url += "?team=" + encodeURIComponent(team); }
    button.disabled = true;
    api("POST", url, {}).then(function (r) {
      if (what === "approve") { say("Approved. Reloading."); window.location.reload(); return; }
      done.classList.remove("error");
      done.textContent = "Activated; rescoring every lead.";
      poll(r.id, null, function () { say("Rescored. Reloading."); window.location.reload(); });
    }).catch(function (err) {
      done.textContent = err.message;
      done.classList.add("error");
      button.disabled = false;
    });
  }

  function refresh(button) {
    var what = button.getAttribute("data-refresh");
    var box = button.closest(".fresh");
    button.disabled = true;
    api("POST", "/v1/insights/" + what).then(function (job) {
      button.insertAdjacentHTML("afterend", '<span class="job">Recomputing: <span class="job-msg"></span> <progress max="1" value="0" aria-label="progress"></progress></span>');
      button.remove();
      poll(job.id, box, function () { window.location.reload(); });
    }).catch(function (err) { say(err.message); button.disabled = false; });
  }

  document.addEventListener("click", function (e) {
    var t = e.target.closest("button");
    if (!t) { return; }
    if (t.hasAttribute("data-action")) { verdict(t); }
    else if (t.hasAttribute("data-pact")) { pact(t); }
    else if (t.hasAttribute("data-refresh")) { refresh(t); }
  });

  document.addEventListener("DOMContentLoaded", function () {
    drawCharts();
    document.querySelectorAll(".fresh[data-job]").forEach(function (box) {
      var id = box.getAttribute("data-job");
      if (id) { poll(id, box, function () { window.location.reload(); }); }
    });
  });
}());
