// Live Cl:I and ethanol fraction on the post-treatment form: asks the server, which computes them
// with the same chemistry functions that store them (labbook/synthesis/chemistry.py), and says what
// saving would refuse (stock used up, Cl:I or ethanol out of range) with the same rules and words.
(function () {
  "use strict";
  const form = document.querySelector("form[data-derive-url]");
  if (!form) return;
  const out = document.getElementById("derived");
  const names = ["batch", "stock", "volume_added", "suspension_volume", "date"];
  let timer = null;
  let seq = 0;
  let lastQuery = null;
  let submitted = false;
  form.addEventListener("submit", () => { submitted = true; clearTimeout(timer); });
  function show(data) {
    if (data.error) {
      out.innerHTML = "";
      const span = document.createElement("span");
      span.className = "error";
      span.textContent = data.error;
      out.appendChild(span);
      return;
    }
    out.innerHTML =
      '<span>Cl:I <span class="value" id="derived-cl">' + data.cl_to_i + "</span></span>" +
      '<span>ethanol/toluene <span class="value" id="derived-ethanol">' + data.solvent_fraction + "</span></span>" +
      '<div class="help">Cl added ' + data.chloride + " into " + data.iodide + " iodide" +
      (data.plan_uL && data.plan_uL["3"] ? " · for 3 / 9 / 17 % add " + data.plan_uL["3"] + " / " + data.plan_uL["9"] + " / " + data.plan_uL["17"] : "") +
      "</div>";
    if (data.refused) {  // what saving would refuse, in the same words
      const div = document.createElement("div");
      div.className = "error";
      div.id = "derived-refused";
      div.textContent = "Saving would be refused: " + data.refused;
      out.appendChild(div);
    }
  }
  function update() {
    if (submitted) return;  // the page is leaving: no request to be aborted
    const params = new URLSearchParams();
    for (const n of names) {
      const el = form.elements[n];
      if (el) params.set(n, el.value);
    }
    if (form.dataset.treatment) params.set("treatment", form.dataset.treatment);
    // the same values as the last request: nothing to ask (the "change" a click on Save fires when
    // it takes the focus would otherwise start a request that the page's navigation then aborts)
    const query = params.toString();
    if (query === lastQuery) return;
    lastQuery = query;
    const mine = ++seq;
    fetch(form.dataset.deriveUrl + "?" + params.toString(), { credentials: "same-origin" })
      .then((r) => r.json())
      .then((data) => { if (mine === seq) show(data); })
      .catch(() => {});
  }
  for (const n of names) {
    const el = form.elements[n];
    if (el) {
      el.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(update, 200); });
      el.addEventListener("change", update);
    }
  }
  update();
})();
