// Bundle the widget's front end into ../ohnb/static/widget.js (+ widget.css) as one ES module.
// Usage: node build.mjs [--watch] [--minify]
import * as esbuild from "esbuild";
import { fileURLToPath } from "node:url";

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const watch = process.argv.includes("--watch");

/** @type {import("esbuild").BuildOptions} */
const options = {
  entryPoints: [here("./src/widget.ts")],
  outfile: here("../ohnb/static/widget.js"),
  bundle: true,
  format: "esm",
  target: "es2022",
  minify: process.argv.includes("--minify"),
  sourcemap: false,
  legalComments: "none",
  logLevel: "info",
};

if (watch) {
  const ctx = await esbuild.context(options);
  await ctx.watch();
} else {
  await esbuild.build(options);
}
