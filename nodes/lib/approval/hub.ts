/**
 * Every approval gate of the runtime in one place, for the admin HTTP API and the editor's
 * sidebar: which gate holds a request, all pending requests, the recent decisions.
 */
import type { GateController } from './gate';

const gates = new Map<string, GateController>();
const listeners = new Set<() => void>();

export const hub = {
  add(g: GateController): void {
    gates.set(g.id, g);
    hub.notify();
  },
  remove(g: GateController): void {
    if (gates.get(g.id) === g) gates.delete(g.id);
    hub.notify();
  },
  /** The gate holding (or having decided) request `id`. */
  find(id: string): GateController | undefined {
    for (const g of gates.values()) if (g.has(id)) return g;
    return undefined;
  },
  any(): GateController | undefined {
    return gates.values().next().value;
  },
  list() {
    const pending = [...gates.values()].flatMap((g) => g.list()).sort((a, b) => a.created.localeCompare(b.created));
    const recent = [...gates.values()].flatMap((g) => g.recent()).sort((a, b) => b.at.localeCompare(a.at)).slice(0, 20);
    return { pending, recent };
  },
  /** Called on every change; the admin routes publish it to the editors. */
  onChange(fn: () => void): () => void {
    listeners.add(fn);
    return () => listeners.delete(fn);
  },
  notify(): void {
    for (const fn of listeners) fn();
  },
};
