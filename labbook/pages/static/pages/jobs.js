/* Live analysis jobs on the pages (issue 15 item 7), without reloading.
 *
 * A run's page: <table id="jobs" data-poll-url="…/runs/<id>/jobs.json" data-active="1"> with one
 * <tr data-job-id data-status> per job (templates/characterization/job_row.html). While a job is
 * queued or running, the JSON is fetched every second and each row's status, progress bar, percent
 * and message follow it; a finished job shows the links to its results, a failed one its error
 * (naming the file). Polling stops when no job is active.
 *
 * The dashboard: <section id="job-overview" data-poll-url="…/jobs/status.json">: whether a job
 * worker is alive, the counts of queued, running and failed jobs, and the active jobs' progress,
 * every 2 s while jobs are active and every 10 s otherwise.
 *
 * The worker banner (#no-worker, templates/pages/worker_banner.html; empty and hidden when the page
 * was drawn with a worker alive) is shown or hidden with the answer's workers_alive. A request that fails waits longer before the next (up to 15 s); an
 * answer that is not JSON (logged out, gone) stops the polling quietly. No inline script: the
 * pages' Content-Security-Policy runs only scripts from 'self' (and nonce'd Bokeh embeds).
 */
(function () {
  "use strict";

  const ACTIVE = new Set(["queued", "running"]);
  const MAX_DELAY_MS = 15000;

  function node(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text != null) e.textContent = text;
    return e;
  }

  function progressBar(percent, message) {
    const frag = document.createDocumentFragment();
    const bar = node("span", {
      class: "progress", role: "progressbar", "aria-valuemin": "0", "aria-valuemax": "100",
      "aria-valuenow": String(percent),
    });
    const fill = node("span");
    fill.style.width = percent + "%";
    bar.appendChild(fill);
    frag.append(bar, " ", node("span", { class: "job-percent" }, percent + " %"), " ",
                node("span", { class: "job-message" }, message || ""));
    return frag;
  }

  function truncate(text, n) {
    return text.length > n ? text.slice(0, n - 1) + "…" : text;
  }

  /** Poll ``url`` and hand each JSON answer to ``update``, which says whether to go on quickly. */
  function poll(url, update, { fast, slow, start }) {
    let delay = fast;
    let timer = null;

    async function tick() {
      timer = null;
      let data;
      try {
        const r = await fetch(url, {
          credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" },
        });
        const type = r.headers.get("content-type") || "";
        if (!r.ok || !type.includes("application/json")) return; // logged out or gone: stop
        data = await r.json();
      } catch (err) {
        delay = Math.min(delay * 2, MAX_DELAY_MS); // the server is restarting, the network is down
        timer = setTimeout(tick, delay);
        return;
      }
      const busy = update(data);
      delay = busy ? fast : slow;
      if (delay) timer = setTimeout(tick, document.hidden ? Math.max(delay, 5000) : delay);
    }

    function kick() {
      if (timer === null) timer = setTimeout(tick, fast);
    }
    if (start) kick();
    return kick;
  }

  function workerBanner(alive) {
    const banner = document.getElementById("no-worker");
    if (!banner) return;
    if (!alive && !banner.textContent) { // drawn while a worker was alive: the words come from here
      banner.append("No analysis worker is running; queued analyses will wait. Start one with ",
                    node("code", {}, "manage.py jobs_worker"), ".");
    }
    banner.hidden = alive > 0;
  }

  // --- a run's page ----------------------------------------------------------------------------
  function jobDetail(cell, job) {
    cell.replaceChildren();
    if (ACTIVE.has(job.status)) {
      cell.appendChild(progressBar(job.percent, job.message));
    } else if (job.status === "failed") {
      cell.appendChild(node("span", { class: "status-failed wrap job-error" }, truncate(job.error || "failed", 400)));
    } else {
      cell.append(job.finished_at || "");
      if (job.results && job.results.length) {
        const links = node("span", { class: "job-results" });
        job.results.forEach((link, i) => {
          links.append(i ? " · " : " ", node("a", { href: link.url }, link.label));
        });
        cell.appendChild(links);
      }
    }
  }

  function jobRow(tr, job) {
    const key = job.status + "|" + job.percent + "|" + job.message;
    if (tr.dataset.key === key) return;
    tr.dataset.key = key;
    tr.dataset.status = job.status;
    if (tr.cells.length !== 3) {
      tr.replaceChildren(node("td", {}, "#" + job.id + " " + job.kind_display),
                         node("td"), node("td", { class: "job-detail" }));
    }
    const status = tr.cells[1];
    status.className = "job-status status-" + job.status;
    status.textContent = job.status;
    jobDetail(tr.cells[2], job);
  }

  function runJobs(table) {
    const body = table.tBodies[0];

    function update(data) {
      workerBanner(data.workers_alive);
      const empty = body.querySelector("tr.no-jobs");
      if (empty && data.jobs.length) empty.remove();
      let previous = null;
      for (const job of data.jobs) {
        let tr = body.querySelector(`tr[data-job-id="${job.id}"]`);
        if (!tr) {
          tr = node("tr", { "data-job-id": String(job.id) });
          body.insertBefore(tr, previous ? previous.nextSibling : body.firstChild);
        }
        jobRow(tr, job);
        previous = tr;
      }
      table.dataset.active = data.active ? "1" : "0";
      return data.active;
    }

    const kick = poll(table.dataset.pollUrl, update, {
      fast: 1000, slow: 0, start: table.dataset.active === "1",
    });
    table.addEventListener("labbook:poll", kick);
  }

  // --- the dashboard ---------------------------------------------------------------------------
  function overview(section) {
    const activeBody = document.querySelector("#active-jobs tbody");

    function update(data) {
      workerBanner(data.workers_alive);
      const worker = section.querySelector("#worker-status");
      if (worker) {
        worker.className = data.workers_alive ? "worker-alive" : "worker-missing";
        worker.textContent = data.worker_text;
      }
      for (const [name, n] of Object.entries(data.counts)) {
        const cell = section.querySelector(`[data-count="${name}"]`);
        if (cell) cell.textContent = String(n);
      }
      if (activeBody) {
        const ids = new Set(data.active_jobs.map((j) => String(j.id)));
        for (const tr of [...activeBody.querySelectorAll("tr[data-job-id]")]) {
          if (!ids.has(tr.dataset.jobId)) tr.remove(); // finished: listed under "recently finished" on reload
        }
        for (const job of data.active_jobs) {
          let tr = activeBody.querySelector(`tr[data-job-id="${job.id}"]`);
          if (!tr) {
            tr = node("tr", { "data-job-id": String(job.id) });
            const target = job.url ? node("a", { href: job.url }, job.target) : document.createTextNode(job.target);
            const where = node("td");
            where.appendChild(target);
            tr.append(node("td", {}, "#" + job.id + " " + job.kind_display), where,
                      node("td", { class: "job-status" }), node("td", { class: "job-detail" }));
            activeBody.appendChild(tr);
          }
          tr.cells[2].className = "job-status status-" + job.status;
          tr.cells[2].textContent = job.status;
          tr.cells[3].replaceChildren(progressBar(job.percent, job.message));
        }
        const empty = activeBody.querySelector("tr.no-jobs");
        if (empty) empty.hidden = data.active_jobs.length > 0;
      }
      return data.active_jobs.length > 0;
    }

    poll(section.dataset.pollUrl, update, { fast: 2000, slow: 10000, start: true });
  }

  function start() {
    const table = document.getElementById("jobs");
    if (table && table.dataset.pollUrl) runJobs(table);
    const section = document.getElementById("job-overview");
    if (section && section.dataset.pollUrl) overview(section);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
