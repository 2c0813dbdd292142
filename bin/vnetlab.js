#!/usr/bin/env node
// The CLI is TypeScript run through tsx (Node 20 has no type stripping).
import { register } from "tsx/esm/api";

register();
await import("../src/cli/main.ts");
