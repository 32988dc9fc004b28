/**
 * The demo's approval watcher: logs in to the demo's Node-RED as the approver (the admin API's
 * password grant), asks GET /mlops-approval/requests every 2 s, and prints each new pending request
 * once, with the metrics the gate shows (a retrained candidate's and the deployed model's on the
 * same held-out windows) and a ready-to-paste curl command that approves it, and each new decision.
 * Every line but the curl command starts with `stamp()` (the demo's simulated time).
 */

export interface ApprovalWatcherOptions {
  /** The editor's address, without a trailing slash: http://127.0.0.1:1880 */
  url: string;
  username: string;
  password: string;
  /** Where the lines go (default console.log). */
  print?: (line: string) => void;
  intervalMs?: number;
  /** What each line starts with after "[demo]", e.g. the simulated time "@2730 s" (default none). */
  stamp?: () => string;
}

interface MetricRow {
  name: string;
  candidate?: number;
  deployed?: number;
}
interface Pending {
  id: string;
  digest?: string;
  summary: { title: string; model?: { name: string; version: string; digest: string }; deployed?: { version: string }; metrics?: MetricRow[]; metricsFrom?: 'evaluation' | 'metadata' };
}
interface Decision {
  id: string;
  decision: string;
  by: string;
  at: string;
  channel: string;
  comment?: string;
  reason?: string;
  title: string;
}

/** Single quotes for bash: 'it'\''s'. */
const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** The curl command that approves request `id` with `token`, on one line. */
export function approveCommand(url: string, token: string, id: string, comment = 'approved from the demo console'): string {
  const body = JSON.stringify({ decision: 'approve', comment });
  return `curl -sS -X POST -H ${quote(`Authorization: Bearer ${token}`)} -H 'Content-Type: application/json' -d ${quote(body)} ${url}/mlops-approval/requests/${encodeURIComponent(id)}`;
}

const short = (digest: string | undefined) => (digest ? `${digest.slice(0, 15)}…` : '?');
const num = (v: number | undefined) => (v === undefined ? '-' : Number.isInteger(v) && Math.abs(v) > 1 ? String(v) : v.toFixed(2));

/**
 * The metrics of a pending request in one line: a candidate's beside the deployed model's, both on
 * the same held-out windows ("accuracy 1.00 (1.0.0: 0.06)"), or the model's own; '' without any.
 */
export function metricsLine(s: Pending['summary']): string {
  const rows = (s.metrics ?? []).filter((r) => r.candidate !== undefined || r.deployed !== undefined).slice(0, 4);
  if (!rows.length) return '';
  const dep = s.deployed?.version ?? 'deployed';
  const both = s.metricsFrom === 'evaluation';
  const text = rows.map((r) => (both && r.deployed !== undefined ? `${r.name} ${num(r.candidate)} (${dep}: ${num(r.deployed)})` : `${r.name} ${num(r.candidate)}`)).join(', ');
  return both ? `on the held-out windows: ${text}` : `its own metrics: ${text}`;
}

/** Starts watching; the function it returns stops it. */
export function watchApprovals(o: ApprovalWatcherOptions): () => void {
  const print = o.print ?? ((line: string) => console.log(line));
  const demo = () => {
    const at = o.stamp?.();
    return at ? `[demo] ${at}` : '[demo]';
  };
  const since = Date.now() - 5000; // decisions of earlier runs (kept in the audit log) are not news
  const shown = new Set<string>();
  const decided = new Set<string>();
  let token: string | undefined;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let failing = false;
  /** Node-RED answered once: from then on a failure is worth a line. */
  let answered = false;

  async function login(): Promise<string> {
    const r = await fetch(`${o.url}/auth/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ client_id: 'node-red-admin', grant_type: 'password', scope: '*', username: o.username, password: o.password }),
      signal: AbortSignal.timeout(10000),
    });
    answered = true;
    if (r.status !== 200) throw new Error(`login as ${o.username}: HTTP ${r.status}`);
    return ((await r.json()) as { access_token: string }).access_token;
  }

  async function poll(): Promise<void> {
    token ??= await login();
    const r = await fetch(`${o.url}/mlops-approval/requests`, { headers: { Authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(10000) });
    if (r.status === 401) {
      token = undefined; // expired or revoked: log in again next time
      throw new Error('the token was refused');
    }
    if (r.status !== 200) throw new Error(`GET /mlops-approval/requests: HTTP ${r.status}`);
    const { pending, recent } = (await r.json()) as { pending: Pending[]; recent: Decision[] };
    for (const p of pending) {
      if (shown.has(p.id)) continue;
      shown.add(p.id);
      const m = p.summary.model;
      const what = m ? `${m.name} ${m.version} (${short(m.digest)})` : `${p.summary.title} (${short(p.digest)})`;
      const metrics = metricsLine(p.summary);
      print(`${demo()} the approval gate holds ${what}${metrics ? `, ${metrics}` : ''}`);
      print(`${demo()} approve it in the editor (Approvals tab in the sidebar) at ${o.url}/ or paste:`);
      print(approveCommand(o.url, token, p.id));
    }
    for (const d of [...recent].reverse()) {
      const key = `${d.id} ${d.decision} ${d.at}`;
      if (decided.has(key) || Date.parse(d.at) < since) continue;
      decided.add(key);
      const why = d.reason ? ` (${d.reason})` : '';
      const comment = d.comment ? ` ("${d.comment}")` : '';
      print(`${demo()} ${d.decision} by ${d.by} via ${d.channel}${why}: ${d.title}${comment}`);
    }
  }

  const tick = () => {
    poll()
      .then(() => (failing = false))
      .catch((e: Error) => {
        // Node-RED still starting: not worth a line; once it answered, say what went wrong (once)
        if (!failing && answered) print(`${demo()} approvals: ${e.message}`);
        failing = true;
      })
      .finally(() => {
        if (!stopped) timer = setTimeout(tick, o.intervalMs ?? 2000);
      });
  };
  tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
