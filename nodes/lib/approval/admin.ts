/**
 * The admin HTTP API of the approval gates, used by the editor's sidebar and headless (curl with
 * an admin token): reading needs the permission `mlops-approval.read`, deciding
 * `mlops-approval.write` (Node-RED answers 401 without it). Decisions never travel over RED.comms,
 * which checks no permission: the runtime only tells the editors that something changed, and
 * the sidebar reads the requests through this API.
 *
 *   GET  <httpAdminRoot>/mlops-approval/requests        pending requests of every gate, recent decisions
 *   POST <httpAdminRoot>/mlops-approval/requests/:id    { "decision": "approve"|"reject", "comment": "..." }
 */
import { isCoded } from '../node-red/errors';
import type { Texts } from '../node-red/i18n';
import { normalizeDecision } from './gate';
import { hub } from './hub';
import { ApprovalError } from './requests';

interface Req {
  params: Record<string, string>;
  body?: unknown;
  user?: { username?: string };
}
interface Res {
  status(code: number): Res;
  json(body: unknown): void;
}
type Handler = (req: Req, res: Res, next?: () => void) => void;

export interface AdminRED {
  httpAdmin: { get(path: string, ...h: Handler[]): void; post(path: string, ...h: Handler[]): void };
  auth: { needsPermission(permission: string): Handler };
  comms: { publish(topic: string, data: unknown, retain?: boolean): void };
}

export const BASE = '/mlops-approval/requests';
export const CHANGED_TOPIC = 'mlops-approval/changed';
/** HTTP status by error code: the caller's mistakes 4xx; anything else (the audit log failing) 500. */
const STATUS: Record<string, number> = { badDecision: 400, badComment: 400, badId: 400, unknownId: 404, decided: 409, ownRequest: 409, twice: 409, closed: 503 };
const done = new WeakSet<object>();

/** Registers the routes and the change notice once per runtime. */
export function registerAdminApi(RED: AdminRED, tx: Texts): void {
  if (done.has(RED.httpAdmin)) return;
  done.add(RED.httpAdmin);
  hub.onChange(() => RED.comms.publish(CHANGED_TOPIC, { pending: hub.list().pending.length, at: Date.now() }, false));

  RED.httpAdmin.get(BASE, RED.auth.needsPermission('mlops-approval.read'), (_req, res) => res.json(hub.list()));

  RED.httpAdmin.post(`${BASE}/:id`, RED.auth.needsPermission('mlops-approval.write'), (req, res) => {
    const fail = (e: unknown) => {
      const code = isCoded(e) ? e.code : '';
      // the text in the runtime's language; code and params let the sidebar say it in the editor's
      res.status(STATUS[code] ?? 500).json({ error: tx.errorText(e), code, params: isCoded(e) ? e.params : undefined });
    };
    try {
      const body = req.body as { decision?: unknown; comment?: unknown; channel?: unknown } | undefined;
      const decision = normalizeDecision(body?.decision);
      if (!body || typeof body !== 'object' || !decision) {
        throw new ApprovalError('badDecision', { got: JSON.stringify(body?.decision ?? null).slice(0, 40) }, `expected a JSON body with "decision": "approve" or "reject" (and an optional "comment"), got decision ${JSON.stringify(body?.decision ?? null).slice(0, 40)}`);
      }
      if (body.comment !== undefined && (typeof body.comment !== 'string' || body.comment.length > 2000)) {
        throw new ApprovalError('badComment', {}, 'expected "comment" to be a text of at most 2000 characters');
      }
      const id = req.params.id;
      // an unknown id goes to any gate, which writes the refused attempt to the audit log
      const gate = hub.find(id) ?? hub.any();
      if (!gate) throw new ApprovalError('unknownId', { id: id.slice(0, 80) }, `no pending request has the id "${id.slice(0, 80)}"`);
      const by = req.user?.username ?? 'anonymous';
      gate
        .decide(id, {
          decision,
          by,
          identity: `user:${by}`,
          channel: body.channel === 'editor' ? 'editor' : 'api',
          comment: typeof body.comment === 'string' && body.comment.trim() ? body.comment.trim() : undefined,
        })
        .then((r) => res.json(r), fail);
    } catch (e) {
      fail(e);
    }
  });
}
