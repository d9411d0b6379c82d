import { render } from "preact";
import { App } from "./app";
import "./styles.css";

render(<App />, document.getElementById("app")!);

if ("serviceWorker" in navigator) {
  // Not awaited: the app never waits for its offline copy.
  navigator.serviceWorker.register("/sw.js").catch(() => {});
}
