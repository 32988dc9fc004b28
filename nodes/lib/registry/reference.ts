/**
 * Repository names, tags and references as the OCI distribution spec defines them (spec.md,
 * "Pulling manifests": `<name>` and `<reference>`), checked before they reach a URL, an index
 * annotation or a file: `models/bearing-fault`, `models/bearing-fault:1.2.0`,
 * `models/bearing-fault@sha256:<64 hex>`.
 */
import { CodedError } from '../node-red/errors';
import { digestHex } from './store';

export class RefError extends CodedError {}

/** distribution-spec `<name>`: path components of lowercase alphanumerics joined by `.`, `_`, `__` or `-`s. */
const REPOSITORY = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
/** distribution-spec tag: at most 128 characters. */
const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;

/** The repository name, or a RefError saying what was expected. */
export function checkRepository(name: unknown): string {
  if (typeof name !== 'string' || name.length > 255 || !REPOSITORY.test(name)) {
    throw new RefError('badRepository', { got: String(name).slice(0, 80) }, `expected a repository name of lowercase letters, digits and . _ - separated by / (e.g. "models/bearing-fault"), got ${JSON.stringify(String(name).slice(0, 80))}`);
  }
  return name;
}

/** The tag, or a RefError saying what was expected. */
export function checkTag(tag: unknown): string {
  if (typeof tag !== 'string' || !TAG.test(tag)) {
    throw new RefError('badTag', { got: String(tag).slice(0, 80) }, `expected a tag of at most 128 letters, digits, _ . - (not starting with . or -), got ${JSON.stringify(String(tag).slice(0, 80))}`);
  }
  return tag;
}

/** Whether a reference is a digest (`sha256:...`, checked) rather than a tag (checked). */
export function isDigestReference(reference: string): boolean {
  if (reference.includes(':')) {
    digestHex(reference);
    return true;
  }
  checkTag(reference);
  return false;
}

/** `repo:tag` or `repo@sha256:<hex>` split and checked; a bare `repo` is `repo:latest`. */
export function parseReference(ref: string): { repository: string; reference: string } {
  const at = ref.indexOf('@');
  if (at >= 0) {
    const reference = ref.slice(at + 1);
    digestHex(reference);
    return { repository: checkRepository(ref.slice(0, at)), reference };
  }
  const colon = ref.lastIndexOf(':');
  if (colon > ref.lastIndexOf('/')) return { repository: checkRepository(ref.slice(0, colon)), reference: checkTag(ref.slice(colon + 1)) };
  return { repository: checkRepository(ref), reference: 'latest' };
}
