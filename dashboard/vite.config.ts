// Builds the single-page app into the Python package, which the API server serves at
// /dashboard/ (see src/kybernetes/dashboard).
import { defineConfig } from "vite";

export default defineConfig({
  base: "/dashboard/",
  esbuild: { jsx: "automatic", jsxImportSource: "preact" },
  build: {
    outDir: "../src/kybernetes/dashboard/static",
    emptyOutDir: true,
    chunkSizeWarningLimit: 1024,
  },
});
