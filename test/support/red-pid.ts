/**
 * The process id of a Node-RED that startRedProcess started (which hands back no child), for the
 * tests that kill it hard (SIGKILL, a power cut) or wait for it to kill itself: the child of this
 * test process that runs in `userDir` (its working directory). Linux only (/proc).
 */
import * as fs from 'fs';
import { waitFor } from './red';

/** The pid of this process's child Node-RED running in `userDir`; throws unless exactly one. */
export function redPid(userDir: string): number {
  const found: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      // field 4 of stat is the parent's pid (after the command in parentheses, which may hold spaces)
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== process.pid) continue;
      // not by its command line: Node-RED sets process.title, which overwrites it; startRedProcess runs it in the user directory
      if (fs.realpathSync(`/proc/${name}/cwd`) === fs.realpathSync(userDir)) found.push(Number(name));
    } catch {
      // the process ended meanwhile
    }
  }
  if (found.length !== 1) throw new Error(`expected one Node-RED child in ${userDir}, found ${found.length} (${found.join(', ')})`);
  return found[0];
}

/** Whether the process still exists (a zombie not yet reaped counts as gone). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Resolves once the process has ended. */
export function waitGone(pid: number, timeoutMs = 15000): Promise<true> {
  return waitFor(`process ${pid} to end`, () => (alive(pid) ? undefined : true), timeoutMs, 10);
}
