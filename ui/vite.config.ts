import { defineConfig } from "vite";
import preact from "@preact/preset-vite";

// The server embeds dist/ and serves /assets/* as immutable, so every file
// there must carry a content hash (Vite's default naming does).
export default defineConfig({
  plugins: [preact()],
  build: {
    outDir: "dist",
    assetsDir: "assets",
    target: "es2020",
    // The CSP allows only same-origin scripts: no inline polyfill.
    modulePreload: { polyfill: false },
    sourcemap: false,
    // scripts/size.mjs reads it to measure the student path.
    manifest: true,
    emptyOutDir: true,
  },
  server: {
    // `npm run dev` against a local `uphill serve`.
    proxy: { "/api": "http://127.0.0.1:8080", "/docs": "http://127.0.0.1:8080" },
  },
});
