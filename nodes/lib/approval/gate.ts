/**
 * What an approval gate does, without Node-RED: holds each message as a pending request on disk,
 * applies the policies (timeout, at most N pending, four eyes, auto-approve rules, superseded
 * versions), takes decisions from every channel through one method, and writes each step to the
 * audit log.
 *
 * A decision is committed when its audit record is written (fsync); then its message leaves. The
 * request file stays for DELIVERY_GRACE_MS more (or until the gate closes): Node-RED passes a
 * message on asynchronously, so a crash right after the send could otherwise lose a message
 * whose decision is committed. After a crash the gate replays its audit records: a request whose
 * decision is committed and whose file is still there leaves again (marked `recovered`), once; a
 * request without a committed decision is pending again. So a committed decision is never lost;
 * a crash within the grace period may pass it on a second time, marked `recovered`. A second
 * decision for a decided id is an error, never a second output.
 */
import { createHash, randomBytes } from 'crypto';
import type { ApprovalChannel, ApprovalDecision, ApprovalInfo } from '../messages';
import type { AuditLog, AuditRecord } from './audit';
import { ApprovalError, decodeMessage, encodeMessage, isRequestId, RequestFiles, type PendingRequest, type Vote } from './requests';
import { featureMismatch, nameList } from '../model-metadata';
import { atLeastAsGood, modelFeatures, summarize, type DeployedModel } from './summary';

export interface GateConfig {
  /** Approvals needed: 1, or 2 (four eyes: two different people). */
  approvals: 1 | 2;
  /** 0: no timeout. */
  timeoutMs: number;
  timeoutOutcome: 'reject' | 'approve';
  maxPending: number;
  whenFull: 'refuse' | 'expire-oldest';
  /** A newer version of the same model expires the older requests (reason 'superseded'). */
  supersede: boolean;
  /** A model whose digest this gate approved before passes at once (reason 'approved before'). */
  passApproved: boolean;
  /** Auto-approve when every comparable metric is at least as good as the deployed model's by `autoMargin` (a fraction). */
  autoApprove: boolean;
  autoMargin: number;
  /** ... and only with a verified signature. */
  autoRequireSignature: boolean;
}

/** What a person (or a flow, or a signed message) decides. */
export interface DecisionInput {
  decision: 'approve' | 'reject';
  by: string;
  /** Who, for four eyes: "user:anna", "flow:anna", "key:sha256:…". */
  identity: string;
  channel: Exclude<ApprovalChannel, 'auto'>;
  comment?: string;
  /** The key that signed it (mqtt). */
  key?: string;
}

export interface GateIo {
  /** Output 0: approved; 1: rejected or expired. */
  send(output: 0 | 1, msg: Record<string, unknown>): void;
  warn(text: string): void;
  /** Something changed: requests came or went (status, the editor's sidebar). */
  changed(): void;
}

/** A decision as the sidebar lists it. */
export type RecentDecision = ApprovalInfo & { title: string; gate: string; gateName: string };

const RECENT = 20;
const MAX_TIMER = 2 ** 31 - 1;
/** How long a decided request's file stays after its message left: a crash within it passes the message on again. */
export const DELIVERY_GRACE_MS = 10_000;

/** Accepts 'approve', 'approved', 'reject', 'rejected' in any case; undefined otherwise. */
export function normalizeDecision(d: unknown): 'approve' | 'reject' | undefined {
  if (typeof d !== 'string') return undefined;
  const s = d.trim().toLowerCase();
  return s === 'approve' || s === 'approved' ? 'approve' : s === 'reject' || s === 'rejected' ? 'reject' : undefined;
}

/**
 * Failpoints for the crash test (test/integration/approval-crash.test.ts): with the environment
 * variable MLOPS_APPROVAL_CRASH set to a point's name, the process kills itself there (SIGKILL),
 * as a power cut would. Unset (always, outside that test), it does nothing.
 */
function crashPoint(name: string): void {
  if (process.env.MLOPS_APPROVAL_CRASH === name) process.kill(process.pid, 'SIGKILL');
}

const sha256 = (s: string) => `sha256:${createHash('sha256').update(s).digest('hex')}`;
const newId = () => `${Date.now().toString(36)}-${randomBytes(5).toString('hex')}`;

export class GateController {
  private readonly pending = new Map<string, PendingRequest>();
  private readonly votes = new Map<string, Vote[]>();
  /** Decided ids of this gate (from the audit log), for "already decided". */
  private readonly decided = new Map<string, ApprovalInfo>();
  private readonly deployed = new Map<string, DeployedModel>();
  private readonly approvedDigests = new Set<string>();
  private readonly recentList: RecentDecision[] = [];
  private readonly timers = new Map<string, NodeJS.Timeout>();
  /** Files of delivered requests, removed after the grace period. */
  private readonly delivered = new Map<string, NodeJS.Timeout>();
  private chain: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(
    readonly id: string,
    readonly name: string,
    private readonly config: GateConfig,
    private readonly files: RequestFiles,
    private readonly audit: AuditLog,
    private readonly io: GateIo,
  ) {}

  /** One change at a time, in call order; the result (or error) of `fn`. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const r = this.chain.then(fn);
    this.chain = r.catch(() => undefined);
    return r;
  }

  /**
   * Replays this gate's audit records, then takes up the request files: committed decisions whose
   * message had not left leave now; the others are pending (their timers run on from `expires`).
   */
  start(): Promise<void> {
    return this.exclusive(async () => {
      for (const r of await this.audit.read()) if (r.gate === this.id) this.replay(r);
      const { requests, unreadable } = await this.files.list();
      for (const u of unreadable) this.io.warn(`unreadable request file ${u.file} (kept as it is): ${u.reason}`);
      for (const r of requests) {
        const done = this.decided.get(r.id);
        if (done) await this.deliver(r, { ...done, recovered: true });
        else {
          this.pending.set(r.id, r);
          this.arm(r);
        }
      }
      this.io.changed();
    });
  }

  private replay(r: AuditRecord): void {
    const id = String(r.id ?? '');
    if (r.type === 'vote') {
      const list = this.votes.get(id) ?? [];
      list.push({ by: String(r.by), identity: String(r.identity), channel: String(r.channel), at: r.at, comment: r.comment as string | undefined });
      this.votes.set(id, list);
    } else if (r.type === 'decision') {
      const a = r.approval as ApprovalInfo;
      this.remember(a, String(r.title ?? ''), r.model as DeployedModel | undefined);
    }
  }

  private remember(a: ApprovalInfo, title: string, model: DeployedModel | undefined): void {
    this.decided.set(a.id, a);
    this.votes.delete(a.id);
    if (a.decision === 'approved' && model?.digest) {
      this.deployed.set(model.name, model);
      this.approvedDigests.add(model.digest);
    }
    this.recentList.unshift({ ...a, title, gate: this.id, gateName: this.name });
    this.recentList.length = Math.min(this.recentList.length, RECENT);
  }

  /** Pending requests, oldest first, without their messages; with the approvals cast so far. */
  list(): Array<Omit<PendingRequest, 'msg'> & { gateName: string; approvalsNeeded: number }> {
    return [...this.pending.values()].map(({ msg: _msg, ...r }) => ({ ...r, votes: this.votes.get(r.id) ?? [], gateName: this.name, approvalsNeeded: this.config.approvals }));
  }

  recent(): RecentDecision[] {
    return [...this.recentList];
  }

  has(id: string): boolean {
    return this.pending.has(id) || this.decided.has(id);
  }

  /** The id of the pending request for a model digest. */
  findDigest(digest: string): string | undefined {
    for (const r of this.pending.values()) if (r.digest === digest) return r.id;
    return undefined;
  }

  /** The pending request, for a signed decision's digest. */
  get(id: string): PendingRequest | undefined {
    return this.pending.get(id);
  }

  /**
   * Holds `msg` as a request. Resolves once it is on disk (accepted), with its id, or with the id
   * of the pending request it repeats (the same digest). Auto-approve rules apply at once.
   */
  request(msg: Record<string, unknown>): Promise<{ id: string; repeated?: boolean; decision?: ApprovalInfo }> {
    return this.exclusive(async () => {
      if (this.closed) throw new ApprovalError('closed', {}, 'the gate is closing: the message was not accepted');
      const { approval: _old, ...held } = msg;
      const encoded = encodeMessage(held);
      const summary = summarize(held, (n) => this.deployed.get(n));
      const digest = summary.model?.digest || sha256(encoded);
      const same = [...this.pending.values()].find((r) => r.digest === digest);
      if (same) return { id: same.id, repeated: true };
      const older = summary.model && this.config.supersede ? [...this.pending.values()].filter((r) => r.summary.model?.name === summary.model!.name) : [];
      const requester = typeof msg.requester === 'string' && msg.requester.trim() ? msg.requester.trim().slice(0, 200) : undefined;
      const features = modelFeatures(held);
      await this.checkFeatures(summary.title, digest, requester, features, summary.model ? this.deployed.get(summary.model.name) : undefined);
      if (this.pending.size - older.length >= this.config.maxPending) {
        if (this.config.whenFull === 'refuse') {
          const reason = `${this.config.maxPending} requests are pending already`;
          await this.audit.append({ type: 'refused', gate: this.id, by: requester ?? 'flow', channel: 'flow', action: 'request', title: summary.title, digest, reason });
          throw new ApprovalError('full', { max: this.config.maxPending, title: summary.title }, `${this.config.maxPending} requests are pending already (at most ${this.config.maxPending}): "${summary.title}" was refused; decide or let one expire first`);
        }
      }
      const now = Date.now();
      const r: PendingRequest = {
        id: newId(),
        gate: this.id,
        created: new Date(now).toISOString(),
        expires: this.config.timeoutMs ? new Date(now + this.config.timeoutMs).toISOString() : undefined,
        requester,
        digest,
        summary,
        features,
        votes: [],
        msg: encoded,
      };
      await this.files.write(r);
      await this.audit.append({ type: 'request', gate: this.id, id: r.id, title: summary.title, digest, model: summary.model, requester, expires: r.expires });
      this.pending.set(r.id, r);
      this.arm(r);
      for (const o of older) await this.expire(o, 'superseded');
      if (this.pending.size > this.config.maxPending) await this.expire([...this.pending.values()][0], 'capacity');
      const auto = this.autoReason(r);
      if (auto) return { id: r.id, decision: await this.commit(r, 'approved', { by: 'approval gate', channel: 'auto', reason: auto }) };
      this.io.changed();
      return { id: r.id };
    });
  }

  /**
   * A model that takes other input features than the model deployed now (the one this gate
   * approved last, for the same name) cannot be fed by the flow: refused, naming the missing and
   * extra features, and audited.
   */
  private async checkFeatures(title: string, digest: string, requester: string | undefined, features: string[] | undefined, dep: DeployedModel | undefined): Promise<void> {
    // what the candidate needs against what the flow sends (the deployed model's features)
    const d = features && dep?.features ? featureMismatch(features, dep.features) : undefined;
    if (!d) return;
    const params = { title, deployed: `${dep!.name} ${dep!.version}`, missing: nameList(d.missing), extra: nameList(d.extra) };
    const err = d.order
      ? new ApprovalError('featureOrder', params, `"${title}" takes the features of ${params.deployed} in another order: the flow feeds them in the deployed model's order`)
      : new ApprovalError('featureMismatch', params, `"${title}" takes other input features than ${params.deployed}, which the flow feeds: missing ${params.missing}; extra ${params.extra}`);
    await this.audit.append({ type: 'refused', gate: this.id, by: requester ?? 'flow', channel: 'flow', action: 'request', title, digest, code: err.code, reason: err.message });
    throw err;
  }

  private autoReason(r: PendingRequest): string | undefined {
    if (this.config.passApproved && r.summary.model && this.approvedDigests.has(r.digest)) return 'approved before';
    const c = this.config;
    if (c.autoApprove && (!c.autoRequireSignature || r.summary.model?.signature?.verified) && atLeastAsGood(r.summary.metrics, c.autoMargin)) return 'metrics';
    return undefined;
  }

  /**
   * A decision from a person, a flow or a signed message. Resolves with the approval once it is
   * committed, or with 'waiting' when four eyes need one more approver. Refusals (unknown or
   * decided id, the requester approving, the same person twice) are audited and thrown.
   */
  decide(id: unknown, d: DecisionInput): Promise<{ state: 'approved' | 'rejected' | 'waiting'; approval?: ApprovalInfo; votes: number }> {
    return this.exclusive(async () => {
      const r = isRequestId(id) ? this.pending.get(id) : undefined;
      if (!r) {
        const done = isRequestId(id) ? this.decided.get(id) : undefined;
        const err = done
          ? new ApprovalError('decided', { id: String(id), decision: done.decision, by: done.by, at: done.at }, `request ${String(id)} was decided already (${done.decision} by ${done.by} at ${done.at}): a decision is applied once`)
          : new ApprovalError('unknownId', { id: String(id).slice(0, 80) }, `no pending request has the id "${String(id).slice(0, 80)}"`);
        await this.refuse(String(id).slice(0, 80), d, err);
        throw err;
      }
      if (d.decision === 'approve') {
        if (r.requester && (d.by === r.requester || d.identity.endsWith(`:${r.requester}`))) {
          const err = new ApprovalError('ownRequest', { by: d.by }, `${d.by} asked for this update and cannot approve it: another person must`);
          await this.refuse(r.id, d, err);
          throw err;
        }
        const votes = this.votes.get(r.id) ?? [];
        if (votes.some((v) => v.identity === d.identity)) {
          const err = new ApprovalError('twice', { by: d.by }, `${d.by} approved this request already: four eyes need a second, different approver`);
          await this.refuse(r.id, d, err);
          throw err;
        }
        if (votes.length + 1 < this.config.approvals) {
          const vote: Vote = { by: d.by, identity: d.identity, channel: d.channel, at: new Date().toISOString(), comment: d.comment };
          const { at: _at, ...fields } = vote; // the record's own time is the vote's
          await this.audit.append({ type: 'vote', gate: this.id, id: r.id, ...fields, key: d.key });
          this.votes.set(r.id, [...votes, vote]);
          this.io.changed();
          return { state: 'waiting' as const, votes: votes.length + 1 };
        }
        const approvers = this.config.approvals > 1 ? [...votes.map((v) => v.by), d.by] : undefined;
        const approval = await this.commit(r, 'approved', { by: d.by, channel: d.channel, comment: d.comment, approvers, key: d.key });
        return { state: 'approved' as const, approval, votes: votes.length + 1 };
      }
      const approval = await this.commit(r, 'rejected', { by: d.by, channel: d.channel, comment: d.comment, key: d.key });
      return { state: 'rejected' as const, approval, votes: (this.votes.get(r.id) ?? []).length };
    });
  }

  /** Writes a refused attempt to the audit log (who tried, what, why). */
  async refuse(id: string, d: Pick<DecisionInput, 'by' | 'channel'> & Partial<DecisionInput>, err: ApprovalError): Promise<void> {
    await this.audit.append({ type: 'refused', gate: this.id, id, by: d.by, identity: d.identity, channel: d.channel, action: d.decision, code: err.code, reason: err.message, key: d.key }).catch(() => undefined);
  }

  /** Writes the decision to the audit log (the commit), then lets the message leave. */
  private async commit(r: PendingRequest, decision: ApprovalDecision, o: { by: string; channel: ApprovalChannel; comment?: string; reason?: string; approvers?: string[]; key?: string }): Promise<ApprovalInfo> {
    const approval: ApprovalInfo = { id: r.id, decision, by: o.by, at: new Date().toISOString(), channel: o.channel };
    if (o.comment) approval.comment = o.comment;
    if (o.reason) approval.reason = o.reason;
    if (o.approvers) approval.approvers = o.approvers;
    const m = r.summary.model;
    const model: DeployedModel | undefined = m ? { name: m.name, version: m.version, digest: m.digest, metrics: candidateMetrics(r), features: r.features } : undefined;
    crashPoint('before-commit');
    await this.audit.append({ type: 'decision', gate: this.id, id: r.id, title: r.summary.title, digest: r.digest, approval, model, key: o.key });
    this.remember(approval, r.summary.title, model);
    await this.deliver(r, approval);
    return approval;
  }

  private async deliver(r: PendingRequest, approval: ApprovalInfo): Promise<void> {
    this.disarm(r.id);
    this.pending.delete(r.id);
    crashPoint('after-commit');
    const msg = decodeMessage(r.msg as string);
    msg.approval = approval;
    this.io.send(approval.decision === 'approved' ? 0 : 1, msg);
    crashPoint('after-send');
    const t = setTimeout(() => {
      this.delivered.delete(r.id);
      void this.files.remove(r.id).catch((e: Error) => this.io.warn(`request file ${r.id} could not be removed: ${e.message}`));
    }, DELIVERY_GRACE_MS);
    this.delivered.set(r.id, t);
    this.io.changed();
  }

  private expire(r: PendingRequest, reason: 'timeout' | 'superseded' | 'capacity'): Promise<ApprovalInfo> {
    const approve = reason === 'timeout' && this.config.timeoutOutcome === 'approve';
    return this.commit(r, approve ? 'approved' : 'expired', { by: 'approval gate', channel: 'auto', reason });
  }

  private arm(r: PendingRequest): void {
    if (!r.expires) return;
    const wait = Date.parse(r.expires) - Date.now();
    const t = setTimeout(() => {
      this.timers.delete(r.id);
      if (wait > MAX_TIMER) return this.arm(r);
      void this.exclusive(async () => {
        if (!this.closed && this.pending.get(r.id) === r) await this.expire(r, 'timeout');
      }).catch((e: Error) => this.io.warn(`request ${r.id} could not expire: ${e.message}`));
    }, Math.max(0, Math.min(wait, MAX_TIMER)));
    this.timers.set(r.id, t);
  }

  private disarm(id: string): void {
    clearTimeout(this.timers.get(id));
    this.timers.delete(id);
  }

  /** Stops the timers; waits for the change in progress; removes delivered requests' files. Pending requests stay on disk. */
  async close(): Promise<void> {
    this.closed = true;
    for (const id of [...this.timers.keys()]) this.disarm(id);
    await this.chain;
    for (const [id, t] of this.delivered) {
      clearTimeout(t);
      await this.files.remove(id).catch(() => undefined);
    }
    this.delivered.clear();
  }

  get size(): number {
    return this.pending.size;
  }
}

/** The candidate's metrics as the deployed model's for the next comparison: its own metadata's. */
function candidateMetrics(r: PendingRequest): Record<string, number> | undefined {
  const rows = r.summary.metrics.filter((m) => m.candidate !== undefined);
  return rows.length ? Object.fromEntries(rows.map((m) => [m.name, m.candidate!])) : undefined;
}
