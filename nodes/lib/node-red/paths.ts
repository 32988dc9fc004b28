/**
 * One path resolver: a path in a node's configuration or a message is relative to the Node-RED
 * user directory (where flows.json lives), as Node-RED's own file nodes document; absolute
 * paths are kept.
 */
import * as os from 'os';
import * as path from 'path';

export interface HasSettings {
  settings: unknown;
}

/** The user directory Node-RED runs with; Node-RED's own default (~/.node-red) when it has none set (the test helper). */
export function userDir(RED: HasSettings): string {
  const dir = (RED.settings as { userDir?: unknown } | undefined)?.userDir;
  return typeof dir === 'string' && dir ? dir : path.join(os.homedir(), '.node-red');
}

export function resolveUserPath(RED: HasSettings, p: string): string {
  return path.isAbsolute(p) ? p : path.resolve(userDir(RED), p);
}

/** A resolver bound to one runtime. */
export const pathResolver = (RED: HasSettings) => (p: string) => resolveUserPath(RED, p);
