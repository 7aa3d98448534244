import { renderNav, requireSignIn } from "./console.js";

renderNav("guide");
requireSignIn();
