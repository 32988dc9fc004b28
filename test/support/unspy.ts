/**
 * node-red-node-test-helper wraps Node.prototype.send/status/log ... in sinon spies that record
 * every call (about 100 µs per send here, and their arguments grow with every message): the test
 * harness's cost and memory, not Node-RED's. Benchmarks and the fuzz test put the originals back, on the prototype
 * and on the node instances that hold copies.
 */
export function unspy(helper: unknown, nodes: unknown[]): void {
  const h = helper as { _sandbox: { restore(): void }; _logSpy?: { restore(): void } };
  h._logSpy?.restore();
  h._sandbox.restore();
  for (const node of nodes as Array<Record<string, { callCount?: number }>>) {
    for (const m of ['log', 'status', 'warn', 'error', 'debug', 'trace', 'send']) {
      if (Object.prototype.hasOwnProperty.call(node, m) && node[m]?.callCount !== undefined) delete node[m];
    }
    if ((node.send as { callCount?: number } | undefined)?.callCount !== undefined) throw new Error('send is still a spy');
  }
}
