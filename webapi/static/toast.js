// Toasts: short notices that fade by themselves, shared by the puppet and create pages.

/** Show `text` in the page's toast host (`#toasts`) for about four seconds; `kind` is a
 * style class ("error" for a red one). */
export function toast(text, kind = "") {
  const el = document.createElement("div");
  el.className = `toast ${kind}`;
  el.textContent = text;
  document.getElementById("toasts").append(el);
  setTimeout(() => el.classList.add("fade"), 3500);
  setTimeout(() => el.remove(), 4000);
}
