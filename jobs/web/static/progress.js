// Polls the export's progress and shows it; when the run ends, opens its result page.
"use strict";
(function () {
  const box = document.getElementById("progress");
  if (!box) return;
  const show = (id, text) => { document.getElementById(id).textContent = text; };
  async function poll() {
    let job;
    try {
      const answer = await fetch(box.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!answer.ok) { show("message", "Progress is not available (" + answer.status + "); reload the page."); return; }
      job = await answer.json();
    } catch (error) {
      setTimeout(poll, 2000);
      return;
    }
    const bar = document.getElementById("bar");
    bar.max = Math.max(job.total, 1);
    bar.value = job.done;
    show("done", job.done);
    show("total", job.total);
    show("ledger", job.ledger || "–");
    show("retries", job.retries);
    show("status", job.status === "waiting"
      ? "Waiting behind another run (" + job.holder + "); it starts when that one ends."
      : job.status.charAt(0).toUpperCase() + job.status.slice(1) + ".");
    show("message", job.message);
    if ((job.status === "finished" || job.status === "failed") && job.runUrl) {
      window.location.assign(job.runUrl);
    } else if (job.status !== "failed") {
      setTimeout(poll, 500);
    }
  }
  poll();
})();
