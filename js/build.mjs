// Bundle the widget's front end into ../ohnb/static/widget.js (+ widget.css) as one ES module.
// Usage: node build.mjs [--watch] [--dev]   (--dev: not minified)
// Third-party license comments (marked: MIT, DOMPurify: Apache-2.0 / MPL-2.0) stay at the end of the
// bundle (legalComments: "eof").
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
  minify: !process.argv.includes("--dev"),
  sourcemap: false,
  legalComments: "eof",
  banner: {
    js:
      "/*! ohnb ConversationWidget front end (MIT). Bundles marked (MIT License, Copyright (c) 2018+ MarkedJS, " +
      "(c) 2011-2018 Christopher Jeffrey, https://github.com/markedjs/marked) and DOMPurify (Apache-2.0 or " +
      "MPL-2.0, (c) Cure53, https://github.com/cure53/DOMPurify). */",
  },
  logLevel: "info",
};

if (watch) {
  const ctx = await esbuild.context(options);
  await ctx.watch();
} else {
  await esbuild.build(options);
}
