/**
 * Built-in scenarios. Each is a commented YAML file in ./presets/ that says why it is set up the way
 * it is; they are read relative to this module (import.meta.url), so they load from an installed
 * package and from any working directory.
 */
import { readFileSync } from "node:fs";
import YAML from "yaml";

export const PRESET_NAMES = [
  "seed-torrent",
  "seed-torrent-mergeable",
  "seed-torrent-big",
  "iperf-lowmem",
  "probe-under-pressure",
  "outage",
  "fault-atomic",
  "fault-window",
  "fault-partial",
  "swap-churn",
] as const;
export type PresetName = (typeof PRESET_NAMES)[number];

export function isPresetName(name: string): name is PresetName {
  return (PRESET_NAMES as readonly string[]).includes(name);
}

export function presetUrl(name: PresetName): URL {
  return new URL(`./presets/${name}.yaml`, import.meta.url);
}

/** The preset's YAML text, comments included. */
export function presetText(name: PresetName): string {
  return readFileSync(presetUrl(name), "utf8");
}

/** Name and one-line description of every preset, in a fixed order. */
export function listPresets(): { name: PresetName; description: string }[] {
  return PRESET_NAMES.map((name) => {
    const raw: unknown = YAML.parse(presetText(name));
    const description = (raw as { description?: unknown } | null)?.description;
    return { name, description: typeof description === "string" ? description.trim() : "" };
  });
}
