// `npm run build`'s last step: the shipped PGlite data dir (src/store/pglite-seed.ts), built from dist/.
import { fileURLToPath } from "node:url";
import { ORCHESTRATOR_DEFAULTS } from "../dist/defaults.js";
import { buildPgliteSeed } from "../dist/store/pglite-seed-build.js";

const outDir = fileURLToPath(new URL("../dist/store/pglite-seed/", import.meta.url));
const manifest = await buildPgliteSeed(outDir, ORCHESTRATOR_DEFAULTS.schema);
console.log(`pglite seed: ${manifest.migrations.length} migrations, schema ${manifest.schema}, in ${outDir}`);
