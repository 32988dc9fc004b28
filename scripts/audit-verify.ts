/**
 * Checks an approval gate's audit log: every line a record, seq counting up from 1, each chained
 * to the one before by its sha256, and the head file (<file>.head) naming the last line.
 *
 *   npx tsx scripts/audit-verify.ts <audit.jsonl>
 *
 * Exit 0: the chain is intact; 1: each problem printed, then TAMPERED; 2: no file given.
 */
import { verifyAuditLog } from '../nodes/lib/approval/audit';

const USAGE = 'usage: tsx scripts/audit-verify.ts <audit.jsonl>\nChecks the hash chain of an approval audit log and its head file (<audit.jsonl>.head).';

/** The exit code; prints what it found. */
export async function main(argv: string[]): Promise<number> {
  const file = argv[0];
  if (!file || file === '-h' || file === '--help') {
    console.error(USAGE);
    return 2;
  }
  const v = await verifyAuditLog(file);
  if (v.ok) {
    console.log(`audit log ${file}: ${v.records} records, chain intact`);
    return 0;
  }
  for (const p of v.problems) console.log(p.reason);
  console.log(`audit log ${file}: TAMPERED (${v.problems.length} problem${v.problems.length === 1 ? '' : 's'})`);
  return 1;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (e: Error) => {
      console.error(e.message);
      process.exitCode = 1;
    },
  );
}
