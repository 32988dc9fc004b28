/** Shared helpers for tests that run nodes in Node-RED through node-red-node-test-helper. */
import helper from 'node-red-node-test-helper';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

helper.init(require.resolve('node-red'));

export { helper };

/** After a test: unloads its flow and stops the helper's server. */
export async function stopHelper(): Promise<void> {
  await helper.unload();
  await new Promise<void>((r) => helper.stopServer(() => r()));
}

/** Resolves with the first value `pick` returns that is not undefined, polling node events. */
export function waitFor<T>(what: string, pick: () => T | undefined, timeoutMs = 15000, everyMs = 20): Promise<T> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const poll = () => {
      let v: T | undefined;
      try {
        v = pick();
      } catch (e) {
        reject(e);
        return;
      }
      if (v !== undefined) resolve(v);
      else if (Date.now() - t0 > timeoutMs) reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      else setTimeout(poll, everyMs);
    };
    poll();
  });
}

export function tmpDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `mlops-${prefix}-`));
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
