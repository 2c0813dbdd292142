/** bench scale's child process: measures the configuration in argv[2] (JSON) and prints its row. */
import { loadavg } from "node:os";
import { measureHere, type ScalePoint } from "./scale.ts";

const point = JSON.parse(process.argv[2]!) as ScalePoint;
process.stdout.write(JSON.stringify(measureHere(point, loadavg()[0]!)));
