/**
 * The few things every node does the same way: refuse input when its configuration is bad, and
 * end an input, sync or async, in done() or done(err) with the error's text.
 */
import { COMMON, commonError } from './errors';
import type { Texts } from './i18n';
import type { StatusTarget } from './status';

type Done = (err?: Error) => void;

export interface NodeLike extends StatusTarget {
  error(msg: unknown): void;
  on(event: 'input', handler: (msg: unknown, send: unknown, done: Done) => void): unknown;
}

/**
 * A node whose configuration cannot work: says why (log, red status), and every input message
 * fails with the same reason, so a Catch node sees it. Returns the reason.
 */
export function refuseInput(node: NodeLike, tx: Texts, e: unknown): string {
  const reason = tx.errorText(e);
  const text = tx.tr(`${COMMON}.errors.config`, { reason });
  node.error(text);
  node.status({ fill: 'red', shape: 'ring', text: tx.tr(`${COMMON}.status.badConfig`) });
  node.on('input', (_msg, _send, done) => done(new Error(text)));
  return reason;
}

/**
 * Runs `work`; a throw or a rejection (also one thrown while sending, e.g. by Node-RED's message
 * cloning) ends the message with done(err), success with done(). Async work: the promise that
 * settles after done, for a queue to wait on.
 *
 * done() and done(err) themselves throw when Node-RED cannot copy the message for a Complete or
 * Catch node (a getter that throws, a proxy, nesting thousands deep): `report` (node.error with a
 * fresh message) then says so, and nothing escapes into Node-RED's delivery.
 */
export function settle(tx: Texts, done: Done, work: () => void | Promise<unknown>, report?: (text: string) => void): Promise<void> | undefined {
  const finish = (e?: unknown) => {
    const err = e === undefined ? undefined : tx.toError(e);
    try {
      done(err);
    } catch (copy) {
      const reason = (copy as Error)?.message ?? String(copy);
      const uncopyable = tx.errorText(commonError('uncopyable', { reason }, `Node-RED cannot copy this message (${reason}): expected a message without getters that throw, proxies or nesting thousands of levels deep`));
      report?.(err ? `${err.message}; ${uncopyable}` : uncopyable);
    }
  };
  let r: void | Promise<unknown>;
  try {
    r = work();
  } catch (e) {
    finish(e);
    return undefined;
  }
  if (r && typeof (r as Promise<unknown>).then === 'function') return (r as Promise<unknown>).then(() => finish(), finish);
  finish();
  return undefined;
}
