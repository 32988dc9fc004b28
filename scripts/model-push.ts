/**
 * Pushes an ONNX model as a CNCF ModelPack artifact (issue 11) to an OCI image-layout folder or a
 * registry:
 *
 *   npx tsx scripts/model-push.ts model.onnx --layout dir models/bearing-fault:1.2.0
 *   REGISTRY_USERNAME=u REGISTRY_PASSWORD=p npx tsx scripts/model-push.ts model.onnx \
 *     --registry https://registry.example.com [--ca-file ca.pem] [--allow-http] models/bearing-fault:1.2.0
 *   ... --key signing-key.pem    also signs it in cosign's key-based format (sha256-<hex>.sig)
 *
 * Name and version default to the model's own metadata (this package's models carry them), else
 * the file's base name and the tag; its metrics become manifest annotations `mlops.metric.<name>`.
 * `--name`, `--version`, `--description` and `--annotation key=value` (repeatable) override or add.
 * Credentials come from the environment only (never the command line, where `ps` shows them).
 * Prints the manifest digest. Any ArtifactSink works: pushModelFile is what the CLI calls.
 */
import * as fs from 'fs';
import * as path from 'path';
import { decodeModelFile } from '../nodes/lib/onnx/model-file';
import { pushModelPack } from '../nodes/lib/registry/artifact';
import { DistributionClient } from '../nodes/lib/registry/distribution';
import { LayoutFolder } from '../nodes/lib/registry/layout';
import { parseReference } from '../nodes/lib/registry/reference';
import { signManifest } from '../nodes/lib/registry/cosign';
import type { ArtifactSink, ArtifactSource } from '../nodes/lib/registry/source';

export interface PushFileOptions {
  name?: string;
  version?: string;
  description?: string;
  annotations?: Record<string, string>;
}

/** Pushes an .onnx file to any sink under `repo:tag`; returns the manifest digest and what was written. */
export async function pushModelFile(sink: ArtifactSink, file: string, ref: string, o: PushFileOptions = {}): Promise<{ digest: string; repository: string; tag: string; name: string; version: string }> {
  const { repository, reference: tag } = parseReference(ref);
  if (tag.includes(':')) throw new Error(`expected a reference repo:tag to push under, got a digest (${ref})`);
  const bytes = fs.readFileSync(file);
  const meta = decodeModelFile(bytes, file).metadata;
  const name = o.name ?? meta?.name ?? path.basename(file).replace(/\.onnx$/i, '');
  const version = o.version ?? meta?.version ?? tag;
  const metrics = Object.fromEntries(Object.entries(meta?.metrics ?? {}).map(([k, v]) => [`mlops.metric.${k}`, String(v)]));
  const { digest } = await pushModelPack(sink, repository, tag, bytes, { name, version, fileName: `${name}.onnx`.replace(/[^A-Za-z0-9._-]/g, '_'), description: o.description, annotations: { ...metrics, ...o.annotations } });
  return { digest, repository, tag, name, version };
}

const USAGE = 'usage: model-push.ts <model.onnx> (--layout <dir> | --registry <url> [--ca-file <pem>] [--allow-http]) <repo:tag> [--key <private key PEM>] [--name n] [--version v] [--description d] [--annotation key=value ...]';

export async function main(argv: string[]): Promise<string> {
  const positional: string[] = [];
  const opt: Record<string, string> = {};
  const annotations: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--allow-http') opt['allow-http'] = 'true';
    else if (a.startsWith('--')) {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} expects a value\n${USAGE}`);
      if (a === '--annotation') {
        const eq = v.indexOf('=');
        if (eq <= 0) throw new Error(`--annotation expects key=value, got ${JSON.stringify(v)}`);
        annotations[v.slice(0, eq)] = v.slice(eq + 1);
      } else if (['--layout', '--registry', '--ca-file', '--key', '--name', '--version', '--description'].includes(a)) opt[a.slice(2)] = v;
      else throw new Error(`unknown option ${a}\n${USAGE}`);
    } else positional.push(a);
  }
  if (positional.length !== 2 || !!opt.layout === !!opt.registry) throw new Error(USAGE);
  const [file, ref] = positional;
  const target: ArtifactSink & ArtifactSource & { close?: () => void } = opt.layout
    ? await LayoutFolder.create(opt.layout)
    : new DistributionClient({ url: opt.registry, username: process.env.REGISTRY_USERNAME, password: process.env.REGISTRY_PASSWORD, caFile: opt['ca-file'], allowHttp: opt['allow-http'] === 'true' });
  try {
    const r = await pushModelFile(target, file, ref, { name: opt.name, version: opt.version, description: opt.description, annotations });
    // --key: signed in cosign's key-based format (a PKCS#8 or SEC1 PEM key, ECDSA P-256; the passphrase of an encrypted one in REGISTRY_KEY_PASSPHRASE)
    const signed = opt.key
      ? await signManifest(target, r.repository, r.digest, fs.readFileSync(opt.key, 'utf8'), { source: target, passphrase: process.env.REGISTRY_KEY_PASSPHRASE })
      : undefined;
    return `${r.repository}:${r.tag} ${r.digest} (${r.name} ${r.version})${signed ? `, signed (${signed.tag}, key ${signed.key})` : ''}`;
  } finally {
    target.close?.();
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (line) => console.log(line),
    (e: Error) => {
      console.error(e.message);
      process.exitCode = 1;
    },
  );
}
