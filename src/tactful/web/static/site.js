// After htmx swaps the page body in, move focus to the message that says what changed,
// so keyboard and screen-reader users hear it and continue from there.
document.addEventListener("htmx:afterSettle", function () {
  var flash = document.getElementById("flash");
  if (flash) { flash.focus(); }
});
