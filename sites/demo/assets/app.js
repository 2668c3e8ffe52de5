document.addEventListener("DOMContentLoaded", () => {
  const list = document.getElementById("pages");
  if (list) list.dataset.loaded = "yes";
});
