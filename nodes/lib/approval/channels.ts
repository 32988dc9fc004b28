/**
 * Decisions that arrive as messages: from the flow (`msg.approval`, e.g. a dashboard button) and
 * signed from a central console over MQTT. Both end in GateController.decide; a refused one is
 * written to the audit log and thrown.
 */
import { isCoded } from '../node-red/errors';
import type { GateController } from './gate';
import { normalizeDecision } from './gate';
import { ApprovalError } from './requests';
import { verifySignedDecision, type ApproverKey } from './signed';

/** Whether a message carries a decision (msg.approval with an id) rather than something to hold. */
export function isDecisionMessage(msg: Record<string, unknown>): boolean {
  const a = msg.approval as { id?: unknown; decision?: unknown } | undefined;
  return !!a && typeof a === 'object' && !Array.isArray(a) && 'decision' in a && !('channel' in a);
}

/**
 * `msg.approval = { id, decision, by, comment }` from the flow. Instead of the id, `digest` may
 * name the pending model (a dashboard that showed the model message before the gate knows it).
 */
export function flowDecision(gate: GateController, msg: Record<string, unknown>) {
  const a = { ...(msg.approval as { id?: unknown; digest?: unknown; decision?: unknown; by?: unknown; comment?: unknown }) };
  if (a.id === undefined && typeof a.digest === 'string') a.id = gate.findDigest(a.digest) ?? a.digest;
  const by = typeof a.by === 'string' && a.by.trim() ? a.by.trim().slice(0, 200) : 'flow';
  const decision = normalizeDecision(a.decision);
  if (!decision || typeof a.id !== 'string' || (a.comment !== undefined && typeof a.comment !== 'string')) {
    const err = new ApprovalError('badFlowDecision', { got: JSON.stringify(a).slice(0, 80) }, `expected msg.approval = { id: "<request id>", decision: "approve" or "reject", by: "<name>", comment: "<text>" }, got ${JSON.stringify(a).slice(0, 80)}`);
    return gate.refuse(String(a.id ?? '').slice(0, 80), { by, channel: 'flow' }, err).then(() => Promise.reject(err));
  }
  return gate.decide(a.id, { decision, by, identity: `flow:${by}`, channel: 'flow', comment: a.comment ? (a.comment as string).slice(0, 2000) : undefined });
}

/** A signed decision from MQTT: accepted only when an approver key signed its id, decision and the request's digest. */
export async function mqttDecision(gate: GateController, keys: ApproverKey[], payload: Buffer) {
  let id = '';
  try {
    const parsed = JSON.parse(payload.toString('utf8')) as { id?: unknown; by?: unknown };
    id = typeof parsed?.id === 'string' ? parsed.id.slice(0, 80) : '';
  } catch {
    /* verifySignedDecision says what is wrong */
  }
  const r = gate.get(id);
  let d: ReturnType<typeof verifySignedDecision>;
  try {
    if (!r) {
      throw gate.has(id)
        ? new ApprovalError('decidedMqtt', { id }, `request ${id} was decided already: a decision is applied once`)
        : new ApprovalError('unknownId', { id }, `no pending request has the id "${id}"`);
    }
    d = verifySignedDecision(payload, keys, { digest: r.digest });
  } catch (e) {
    const err = isCoded(e) ? (e as ApprovalError) : new ApprovalError('badMqtt', { reason: String((e as Error).message) }, `a decision from MQTT was refused: ${(e as Error).message}`);
    await gate.refuse(id, { by: 'mqtt', channel: 'mqtt' }, err);
    throw err;
  }
  return gate.decide(d.id, { decision: d.decision, by: d.by, identity: `key:${d.key.fingerprint}`, channel: 'mqtt', comment: d.comment, key: d.key.fingerprint });
}
