import { defineConfig } from "vite";
import { fileURLToPath } from "node:url";

// Served by the gateway under /console/ (MAITRE_CONSOLE_DIR points at dist/).
export default defineConfig({
  base: "/console/",
  resolve: {
    alias: { "@maitre/client": fileURLToPath(new URL("../typescript/src/index.ts", import.meta.url)) },
  },
  build: { outDir: "dist", emptyOutDir: true, sourcemap: true, target: "es2022" },
});
