// Notebook pages: drop files on a form with class "dropzone" (the entry page's attach box, the
// new-entry form) to put them in its file input, several at once; the entry page's box submits at
// once (data-autosubmit). Without JavaScript the file input does the same.
(function () {
  "use strict";
  function names(input) {
    return Array.prototype.map.call(input.files, function (f) { return f.name; }).join(", ");
  }
  function setup(form) {
    var input = form.querySelector("input[type=file]");
    if (!input) { return; }
    var list = document.createElement("p");
    list.className = "chosen muted";
    input.insertAdjacentElement("afterend", list);
    input.addEventListener("change", function () { list.textContent = names(input); });
    ["dragenter", "dragover"].forEach(function (type) {
      form.addEventListener(type, function (event) {
        event.preventDefault();
        form.classList.add("dragging");
      });
    });
    ["dragleave", "drop"].forEach(function (type) {
      form.addEventListener(type, function () { form.classList.remove("dragging"); });
    });
    form.addEventListener("drop", function (event) {
      event.preventDefault();
      if (!event.dataTransfer || !event.dataTransfer.files.length) { return; }
      var all = new DataTransfer();
      if (!form.dataset.autosubmit) {  // the new-entry form: add to the files already chosen
        Array.prototype.forEach.call(input.files, function (f) { all.items.add(f); });
      }
      Array.prototype.forEach.call(event.dataTransfer.files, function (f) { all.items.add(f); });
      input.files = all.files;
      list.textContent = names(input);
      if (form.dataset.autosubmit) { form.requestSubmit(); }
    });
  }
  document.querySelectorAll("form.dropzone").forEach(setup);
})();
