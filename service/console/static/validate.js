import { renderNav, requireSignIn } from "./console.js";

renderNav("validate");
requireSignIn();
