import { render } from "preact";
import { App } from "./app";
import "./styles.css";

const root = document.getElementById("app")!;
// The "Loading" text is for the seconds before this script runs.
root.textContent = "";
render(<App />, root);

if ("serviceWorker" in navigator) {
  // Not awaited: the app never waits for its offline copy.
  navigator.serviceWorker.register("/sw.js").catch(() => {});
}
