// signin.js — the sign-in view: a token is exchanged for an HttpOnly session cookie
// (POST /api/session). The token is never stored by the page.

import { post } from "./api.js";
import { h, fill, field, heading, alertBox } from "./ui.js";

export function mount(main, ctx) {
  ctx.setTitle("Sign in");
  const token = h("input", { type: "password", autocomplete: "off", name: "token", required: true, spellcheck: "false" });
  const alert = alertBox();
  const button = h("button.primary", { type: "submit", text: "Sign in" });
  const form = h("form.card.signin", { novalidate: true },
    field("Token", token, "An API token created with `intervene token create`."),
    alert,
    h("div.actions", null, button));

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    alert.hidden = true;
    if (!token.value.trim()) {
      alert.textContent = "Enter your token.";
      alert.hidden = false;
      token.focus();
      return;
    }
    button.disabled = true;
    try {
      const s = await post("/api/session", { token: token.value.trim() }, { quiet401: true });
      token.value = "";
      const next = new URLSearchParams(location.search).get("next");
      ctx.onSignedIn(s, next);
    } catch (e) {
      alert.textContent = e.message;
      alert.hidden = false;
      button.disabled = false;
      token.select();
    }
  });

  fill(main, h("section.view.narrow", null, heading("Sign in to intervene"), form));
  return { unmount() {} };
}
