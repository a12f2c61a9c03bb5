// Shows the export's progress as it happens: each request waits on the server until something changes, so the
// page follows the export without a fixed poll, and opens the run's page the moment it ends.
"use strict";
(function () {
  const box = document.getElementById("progress");
  if (!box) return;
  const show = (id, text) => { const element = document.getElementById(id); if (element) element.textContent = text; };
  let seen = box.dataset.version;
  async function follow() {
    let job;
    try {
      const answer = await fetch(box.dataset.url + "?seen=" + encodeURIComponent(seen),
        { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!answer.ok) { show("status", box.dataset.gone || ("HTTP " + answer.status)); return; }
      job = await answer.json();
    } catch (error) {
      setTimeout(follow, 2000);  // the connection broke: try again shortly
      return;
    }
    if (job.version === Number(seen)) { setTimeout(follow, 1000); return; }  // the server had no room to wait
    seen = String(job.version);
    const bar = document.getElementById("bar");
    bar.max = Math.max(job.total, 1);
    bar.value = job.done;
    show("done", job.done);
    show("total", job.total);
    show("remaining", job.remainingText);
    show("status", job.statusText);
    show("ledger", job.ledger);
    show("retries", job.retries);
    show("message", job.details);
    const failure = document.getElementById("failure");
    failure.textContent = job.failure;
    failure.hidden = !job.failure;
    if ((job.status === "finished" || job.status === "failed") && job.runUrl) {
      window.location.assign(job.runUrl);
    } else if (job.status !== "failed") {
      follow();
    }
    const stop = document.getElementById("stop-form");
    if (stop && !["queued", "waiting", "running"].includes(job.status)) stop.hidden = true;
  }
  follow();
})();
