// The main menu is a <details> element, open in the HTML so it works without JavaScript. Loaded right after
// it (not deferred), so on a phone it is folded into the "Menu" button before the page is first drawn.
(() => {
  const menu = document.querySelector("[data-menu]");
  if (!menu) return;
  const phone = window.matchMedia("(max-width: 47.99rem)");
  const fit = () => { menu.open = !phone.matches; };
  fit();
  phone.addEventListener("change", fit);
  // Escape closes the open menu on a phone and gives focus back to its button.
  menu.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && phone.matches && menu.open) {
      menu.open = false;
      menu.querySelector("summary").focus();
    }
  });
})();
