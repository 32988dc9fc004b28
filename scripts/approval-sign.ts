/**
 * Signs an approval decision for the approval gate's MQTT channel (nodes/lib/approval/signed.ts),
 * as a central console would, or makes an approver key pair:
 *
 *   npx tsx scripts/approval-sign.ts --keygen ed25519|p256 --out anna
 *       writes anna.pem (the private key, mode 0600, never overwritten) and anna.pub.pem (its public
 *       half, for the gate's approver keys; put "# name: Anna" above it there); prints the fingerprint
 *   npx tsx scripts/approval-sign.ts --key anna.pem --id <request id> --decision approve|reject \
 *       --digest sha256:... [--by name] [--comment text]
 *       prints the signed decision as JSON on one line
 *
 * For example:
 *
 *   npx tsx scripts/approval-sign.ts --key anna.pem --id req-17 --decision approve \
 *     --digest sha256:4f1c... --comment "checked on line 2" | mosquitto_pub -t mlops/approval/decisions -s
 *
 * (or `-m "$(npx tsx scripts/approval-sign.ts ...)"`). The private key is an unencrypted PKCS#8 or
 * SEC1 PEM, Ed25519 or ECDSA P-256 (e.g. `openssl genpkey -algorithm ed25519 -out anna.pem`).
 * Bad arguments print the usage and exit with 2; a key or decision that is refused exits with 1.
 */
import { generateKeyPairSync } from 'crypto';
import * as fs from 'fs';
import { keyFingerprint } from '../nodes/lib/registry/cosign';
import { signDecision } from '../nodes/lib/approval/signed';

const USAGE = [
  'usage: approval-sign.ts --key <private key PEM> --id <request id> --decision approve|reject --digest <model digest> [--by <name>] [--comment <text>]',
  '       approval-sign.ts --keygen ed25519|p256 --out <name>   (writes <name>.pem, mode 0600, and <name>.pub.pem)',
].join('\n');

/** Bad arguments: the usage is shown and the exit code is 2. */
export class UsageError extends Error {}

const OPTIONS = ['--key', '--id', '--decision', '--digest', '--by', '--comment', '--keygen', '--out'];

/** Runs the CLI on `argv` (without node and the script); returns what it prints. */
export function main(argv: string[]): string {
  const opt: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!OPTIONS.includes(a)) throw new UsageError(`unknown argument ${JSON.stringify(a)}`);
    const v = argv[++i];
    if (v === undefined) throw new UsageError(`${a} expects a value`);
    if (opt[a.slice(2)] !== undefined) throw new UsageError(`${a} is given twice`);
    opt[a.slice(2)] = v;
  }

  if (opt.keygen !== undefined) {
    const others = Object.keys(opt).filter((k) => k !== 'keygen' && k !== 'out');
    if (others.length) throw new UsageError(`--keygen takes only --out, not --${others.join(', --')}`);
    if (opt.keygen !== 'ed25519' && opt.keygen !== 'p256') throw new UsageError(`--keygen expects ed25519 or p256, got ${JSON.stringify(opt.keygen)}`);
    if (!opt.out) throw new UsageError('--keygen needs --out <name>');
    const pair = opt.keygen === 'ed25519' ? generateKeyPairSync('ed25519') : generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const privateFile = `${opt.out}.pem`;
    const publicFile = `${opt.out}.pub.pem`;
    // 'wx': an existing key is never overwritten
    fs.writeFileSync(privateFile, pair.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
    fs.writeFileSync(publicFile, pair.publicKey.export({ type: 'spki', format: 'pem' }), { flag: 'wx' });
    return `wrote ${privateFile} (private, keep it with the approver) and ${publicFile} (for the gate's approver keys), key ${keyFingerprint(pair.publicKey)}`;
  }

  for (const k of ['key', 'id', 'decision', 'digest']) if (opt[k] === undefined) throw new UsageError(`--${k} is missing`);
  if (opt.out !== undefined) throw new UsageError('--out goes with --keygen');
  if (opt.decision !== 'approve' && opt.decision !== 'reject') throw new UsageError(`--decision expects approve or reject, got ${JSON.stringify(opt.decision)}`);
  const pem = fs.readFileSync(opt.key, 'utf8');
  return JSON.stringify(signDecision(pem, { id: opt.id, decision: opt.decision, digest: opt.digest, by: opt.by, comment: opt.comment }));
}

if (require.main === module) {
  try {
    console.log(main(process.argv.slice(2)));
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`${e.message}\n${USAGE}`);
      process.exitCode = 2;
    } else {
      console.error((e as Error).message);
      process.exitCode = 1;
    }
  }
}
