/**
 * Which version `registry pull` takes from a repository's tags (issue 11): a fixed tag, a digest,
 * `latest` (the highest semantic version among the tags; the tag "latest" only when no tag is a
 * version), or a semver range (`^1.2`, `~1.4.0`, `>=1.0.0 <2.0.0`, `1.x`: the highest tag that
 * satisfies it, pre-releases only when the range names one). A tag that exists as written always
 * wins over reading it as a range ("1.2" is a tag if there is one).
 */
import * as semver from 'semver';
import { CodedError } from '../node-red/errors';

export class SelectError extends CodedError {}

export type Selection = { reference: string; how: 'digest' | 'tag' | 'latest' | 'range' };

const DIGEST = /^sha256:[0-9a-f]{64}$/;

/** The version of a tag ("1.2.3", "v1.2.3"), or null when it is not one. */
const versionOf = (tag: string) => semver.valid(tag, { loose: false }) ?? (tag.startsWith('v') ? semver.valid(tag.slice(1)) : null);

/** The reference to pull for `selector` among `tags` (not needed for a digest). */
export function selectVersion(selector: string, tags: readonly string[], repository = 'the repository'): Selection {
  const sel = selector.trim();
  if (sel === '') throw new SelectError('emptySelector', {}, 'expected a version to pull: a tag, a digest sha256:<64 hex>, "latest" or a semver range such as ^1.2');
  if (DIGEST.test(sel)) return { reference: sel, how: 'digest' };
  if (sel !== 'latest' && tags.includes(sel)) return { reference: sel, how: 'tag' };
  const versions = tags.map((t) => ({ t, v: versionOf(t) })).filter((x): x is { t: string; v: string } => x.v !== null);
  const listed = () => (tags.length ? tags.slice(0, 20).join(', ') + (tags.length > 20 ? `, ... (${tags.length})` : '') : 'none');
  if (sel === 'latest') {
    const best = versions.filter((x) => semver.prerelease(x.v) === null).sort((a, b) => semver.rcompare(a.v, b.v))[0];
    if (best) return { reference: best.t, how: 'latest' };
    if (tags.includes('latest')) return { reference: 'latest', how: 'tag' };
    throw new SelectError('noLatest', { repository, tags: listed() }, `expected a tag that is a version (1.2.3) or a tag "latest" in ${repository}, got tags: ${listed()}`);
  }
  const range = semver.validRange(sel);
  if (!range) throw new SelectError('noTag', { repository, selector: sel, tags: listed() }, `no tag "${sel}" in ${repository} (tags: ${listed()}), and "${sel}" is no semver range`);
  const best = versions.filter((x) => semver.satisfies(x.v, range)).sort((a, b) => semver.rcompare(a.v, b.v))[0];
  if (!best) throw new SelectError('noMatch', { repository, selector: sel, tags: listed() }, `no tag of ${repository} satisfies ${sel} (tags: ${listed()})`);
  return { reference: best.t, how: 'range' };
}
