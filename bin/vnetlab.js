#!/usr/bin/env node
// The CLI is TypeScript (Node 20 has no type stripping), run from one bundle of its modules.
import { fileURLToPath } from "node:url";
import { runBundled } from "./bundled.js";

await runBundled(fileURLToPath(new URL("../src/cli/main.ts", import.meta.url)));
