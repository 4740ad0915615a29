// The status page's live part (topology/ui.go): every second it reads /ui/data and updates each node of the
// server-rendered graph in place. A node's rate is the growth of its total between two answers divided by
// the time between them, so the first answer shows no rate yet.
(function () {
  "use strict";
  var REFRESH_MS = 1000;
  var TIMEOUT_MS = 4000; // a request not answered by then counts as a lost connection
  var previous = null; // the last answer

  function $(sel, root) { return (root || document).querySelector(sel); }

  function number(n) {
    if (n >= 1e9) return (n / 1e9).toFixed(1) + "G";
    if (n >= 1e6) return (n / 1e6).toFixed(1) + "M";
    if (n >= 1e4) return (n / 1e3).toFixed(1) + "k";
    return String(Math.round(n));
  }

  function rate(r) {
    if (r >= 100) return number(r);
    if (r >= 10) return r.toFixed(0);
    return r.toFixed(1);
  }

  function bytes(n) {
    if (n >= 1 << 30) return (n / (1 << 30)).toFixed(1) + " GiB";
    if (n >= 1 << 20) return (n / (1 << 20)).toFixed(1) + " MiB";
    if (n >= 1 << 10) return (n / (1 << 10)).toFixed(1) + " KiB";
    return Math.round(n) + " B";
  }

  // sourceLag says how far a source is behind its input, in the unit its reader gave.
  function sourceLag(v, unit) {
    if (unit === "bytes") return bytes(v);
    if (unit === "seconds") return duration(v);
    return number(v) + " " + unit;
  }

  function duration(seconds) {
    if (seconds < 1) return Math.round(seconds * 1000) + " ms";
    if (seconds < 120) return seconds.toFixed(1) + " s";
    return Math.round(seconds / 60) + " min";
  }

  function setText(el, text) {
    if (el && el.textContent !== text) el.textContent = text;
  }

  function errorsText(n) {
    var parts = [];
    if (n.dead_letters) parts.push(number(n.dead_letters) + " dead letter" + (n.dead_letters === 1 ? "" : "s"));
    if (n.retries) parts.push(number(n.retries) + " retr" + (n.retries === 1 ? "y" : "ies"));
    if (n.commit_errors) parts.push(number(n.commit_errors) + " commit error" + (n.commit_errors === 1 ? "" : "s"));
    if (n.stalled && n.waits_for && n.waits_for.length) parts.push("waits for " + n.waits_for.join("; "));
    return parts.join(" · ");
  }

  function renderNode(el, id, n, prev, seconds) {
    var rateEl = $('[data-field="rate"]', el);
    if (rateEl && n.total !== undefined) {
      rateEl.dataset.total = String(n.total);
      if (prev && prev.total !== undefined && seconds > 0) {
        var r = Math.max(0, (n.total - prev.total) / seconds);
        rateEl.dataset.rate = String(r);
        setText(rateEl, rate(r) + " rec/s");
        el.classList.toggle("idle", r === 0);
      }
      rateEl.title = number(n.total) + " records in total";
    }
    var lagEl = $('[data-field="lag"]', el);
    if (lagEl) {
      var lag = "";
      if (n.lag !== undefined) lag = "lag " + number(n.lag);
      if (n.source_lag !== undefined) lag = "lag " + sourceLag(n.source_lag, n.source_lag_unit);
      setText(lagEl, lag);
      lagEl.classList.toggle("behind", (n.lag || n.source_lag || 0) > 0);
    }
    // The detail line says what the node is, then the source's tasks on this replica or the mean end-to-end
    // latency of the records the sink acknowledged since the last answer.
    var detailEl = $(".detail", el);
    var base = detailEl.dataset.base || (detailEl.dataset.base = detailEl.textContent);
    var extra = [];
    if (n.tasks !== undefined) extra.push(number(n.tasks) + (n.tasks === 1 ? " task" : " tasks"));
    if (prev && n.latency_count !== undefined && prev.latency_count !== undefined && n.latency_count > prev.latency_count) {
      extra.push("e2e " + duration((n.latency_sum - prev.latency_sum) / (n.latency_count - prev.latency_count)));
    }
    setText(detailEl, [base].concat(extra).join(" · "));
    detailEl.title = detailEl.textContent;
    var errEl = $('[data-field="errors"]', el);
    var text = errorsText(n);
    setText(errEl, text);
    if (errEl) errEl.title = text;
    el.classList.toggle("stalled", !!n.stalled);
    $('[data-field="stalled"]', el).hidden = !n.stalled;
  }

  // work lists what a replica runs: its tasks per source and its partitions per flow (and stateful step).
  function work(r) {
    var tasks = {}, parts = {}, out = [];
    (r.tasks || []).forEach(function (t) { tasks[t.source] = (tasks[t.source] || 0) + 1; });
    (r.partitions || []).forEach(function (p) {
      var key = p.step ? p.flow + "/" + p.step : p.flow;
      (parts[key] = parts[key] || []).push(p.partition);
    });
    Object.keys(tasks).sort().forEach(function (s) {
      out.push(s + ": " + tasks[s] + (tasks[s] === 1 ? " task" : " tasks"));
    });
    Object.keys(parts).sort().forEach(function (f) {
      out.push(f + ": p" + parts[f].sort(function (a, b) { return a - b; }).join(", p"));
    });
    return out.join("; ") || "nothing";
  }

  function renderReplicas(d) {
    var section = $("#replicas");
    var list = d.replicas || [];
    section.hidden = list.length === 0;
    var body = $("tbody", section);
    body.textContent = "";
    list.forEach(function (r) {
      var tr = document.createElement("tr");
      if (r.id === d.replica) tr.className = "self";
      var age = r.updated ? Math.max(0, Math.round((d.at - Date.parse(r.updated)) / 1000)) + " s ago" : "";
      [r.id, (r.state || "").toLowerCase(), r.http_addr || "", work(r), age, r.error || ""]
        .forEach(function (v, i) {
          var td = document.createElement("td");
          if (i === 2 && v && v.charAt(0) !== ":" && r.id !== d.replica) {
            // Another replica's own page (its numbers are its own).
            var a = document.createElement("a");
            a.href = "http://" + v + "/ui";
            a.textContent = v;
            td.appendChild(a);
          } else {
            td.textContent = v;
          }
          tr.appendChild(td);
        });
      body.appendChild(tr);
    });
  }

  function render(d) {
    var seconds = previous ? (d.at - previous.at) / 1000 : 0;
    var read = 0, written = 0;
    document.querySelectorAll("[data-node]").forEach(function (el) {
      var id = el.dataset.node;
      var n = d.nodes[id];
      if (!n) return;
      if (id.indexOf("source:") === 0) read += n.total || 0;
      if (id.indexOf("sink:") === 0) written += n.total || 0;
      renderNode(el, id, n, previous && previous.nodes[id], seconds);
    });
    var state = $("#state");
    state.className = "state state-" + d.state;
    setText(state, d.state);
    setText($("#replica"), d.replica);
    setText($("#summary"), number(read) + " read · " + number(written) + " written");
    setText($("#updated"), "updated " + new Date(d.at).toLocaleTimeString());
    var banner = $("#error");
    banner.hidden = !d.error;
    setText(banner, d.error || "");
    renderReplicas(d);
    previous = d;
  }

  function offline(why) {
    var state = $("#state");
    state.className = "state state-offline";
    setText(state, "offline");
    setText($("#updated"), why);
  }

  function refresh() {
    var ctl = new AbortController();
    var timer = setTimeout(function () { ctl.abort(); }, TIMEOUT_MS);
    fetch("ui/data", { cache: "no-store", signal: ctl.signal })
      .then(function (res) {
        if (!res.ok) throw new Error("HTTP " + res.status);
        return res.json();
      })
      .then(render)
      .catch(function (err) { offline("no answer from the pipeline (" + err.message + ")"); })
      .finally(function () {
        clearTimeout(timer);
        setTimeout(refresh, REFRESH_MS);
      });
  }

  refresh();
})();
