/**
 * A model reference as a user writes it: `models/bearing-fault:1.2.0`,
 * `models/bearing-fault@sha256:<64 hex>`, or `models/bearing-fault` (the tag `latest`), split and
 * checked with distribution.ts's distribution-spec grammar (the one check of names and references).
 */
import { checkReference, checkRepository } from './distribution';
import { digestHex } from './store';

/** `repo:tag` or `repo@sha256:<hex>` split and checked; a bare `repo` is `repo:latest`. */
export function parseReference(ref: string): { repository: string; reference: string } {
  const at = ref.indexOf('@');
  if (at >= 0) {
    const reference = ref.slice(at + 1);
    digestHex(reference);
    return { repository: checkRepository(ref.slice(0, at)), reference };
  }
  const colon = ref.lastIndexOf(':');
  if (colon > ref.lastIndexOf('/')) {
    const reference = ref.slice(colon + 1);
    checkReference(reference);
    return { repository: checkRepository(ref.slice(0, colon)), reference };
  }
  return { repository: checkRepository(ref), reference: 'latest' };
}
