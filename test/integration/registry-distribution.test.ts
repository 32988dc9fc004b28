/**
 * The OCI distribution client (nodes/lib/registry/distribution.ts) against a real Debian
 * `docker-registry` 2.8 started here on 127.0.0.1: push and pull of a ModelPack artifact
 * (anonymous, basic, bearer through a token server, TLS with a private CA), tags, a manifest
 * altered by a proxy, a stalled body, and the registry killed mid-download of a 20 MB blob
 * (nothing in the store, a retry after a restart succeeds).
 */
import { expect } from 'chai';
import { createHash, randomBytes } from 'crypto';
import * as fs from 'fs';
import * as http from 'http';
import * as os from 'os';
import * as path from 'path';
import { DistributionClient, RegistryError, checkReference, checkRepository, parseChallenge } from '../../nodes/lib/registry/distribution';
import { Descriptor, EMPTY_CONFIG, MEDIA } from '../../nodes/lib/registry/source';
import { ModelStore } from '../../nodes/lib/registry/store';
import { OciRegistry, TokenServer } from '../support/oci-registry';
import { freePort } from '../support/red-process';

const sha = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const desc = (b: Uint8Array, mediaType: string, annotations?: Record<string, string>): Descriptor => ({ mediaType, digest: sha(b), size: b.length, ...(annotations ? { annotations } : {}) });

/** A ModelPack-style artifact: the empty config, one raw weight layer. */
function artifact(weights: Uint8Array, version: string) {
  const layer = desc(weights, MEDIA.modelWeightRaw, { 'org.opencontainers.image.title': 'model.onnx' });
  const manifest = {
    schemaVersion: 2,
    mediaType: MEDIA.manifest,
    artifactType: MEDIA.modelManifest,
    config: EMPTY_CONFIG,
    layers: [layer],
    annotations: { 'org.opencontainers.image.version': version },
  };
  return { layer, bytes: Buffer.from(JSON.stringify(manifest)) };
}

async function push(c: DistributionClient, repo: string, weights: Uint8Array, tag: string): Promise<{ digest: string; layer: Descriptor; bytes: Buffer }> {
  const a = artifact(weights, tag);
  await c.pushBlob(repo, EMPTY_CONFIG, Buffer.from('{}'));
  await c.pushBlob(repo, a.layer, weights);
  const digest = await c.pushManifest(repo, a.bytes, MEDIA.manifest, tag);
  return { digest, ...a };
}

async function rejects(p: Promise<unknown>): Promise<RegistryError> {
  try {
    await p;
  } catch (e) {
    return e as RegistryError;
  }
  throw new Error('expected a rejection');
}

async function collect(it: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const c of it) parts.push(c);
  return Buffer.concat(parts);
}

describe('registry: OCI distribution client against Debian docker-registry', function () {
  this.timeout(60000);
  let tmp: string;

  before(() => {
    if (!fs.existsSync('/usr/bin/docker-registry')) throw new Error('docker-registry is not installed: run bash scripts/test-setup.sh');
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mlops-dist-'));
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  describe('names, references, challenges and URLs (no server)', () => {
    it('checks names and references against the distribution-spec grammar', () => {
      for (const ok of ['models/bearing-fault', 'a', 'a.b_c__d---e/f0']) expect(checkRepository(ok)).to.equal(ok);
      for (const bad of ['Models/x', '../x', 'a//b', '/a', 'a/', 'a..b', 'a/b?c', 'x%2f..', '']) expect(() => checkRepository(bad), bad).to.throw(RegistryError, /expected a repository name/);
      expect(checkReference('1.2.0')).to.deep.equal({ tag: '1.2.0' });
      expect(() => checkReference('-1')).to.throw(/expected a tag/);
      expect(() => checkReference('../../x')).to.throw(/expected a tag/);
      expect(() => checkReference('a'.repeat(129))).to.throw(/expected a tag/);
      expect(() => checkReference('sha256:1234')).to.throw(/64 lowercase hex/);
    });

    it('parses Bearer and Basic challenges', () => {
      expect(parseChallenge('Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"')).to.deep.equal({
        scheme: 'bearer',
        params: { realm: 'https://auth.example/token', service: 'registry.example', scope: 'repository:a/b:pull,push' },
      });
      expect(parseChallenge('Basic realm="x"')).to.deep.equal({ scheme: 'basic', params: { realm: 'x' } });
    });

    it('refuses plain http to another host unless allowed, and credentials in the URL', () => {
      expect(() => new DistributionClient({ url: 'http://registry.example.com' })).to.throw(/refusing plain http/);
      expect(new DistributionClient({ url: 'http://registry.example.com', allowHttp: true }).base.protocol).to.equal('http:');
      expect(new DistributionClient({ url: 'registry.example.com:5000' }).base.href).to.equal('https://registry.example.com:5000/');
      const e = (() => {
        try {
          new DistributionClient({ url: 'https://bob:s3cret@registry.example.com' });
        } catch (x) {
          return x as Error;
        }
      })();
      expect(e?.message).to.match(/carries credentials/);
      expect(e?.message).to.not.include('s3cret');
    });
  });

  describe('anonymous', () => {
    let reg: OciRegistry;
    let c: DistributionClient;
    before(async () => {
      reg = await OciRegistry.start();
      c = new DistributionClient({ url: reg.url });
    });
    after(async () => {
      c?.close();
      await reg?.stop();
    });

    it('pushes a ModelPack artifact, lists tags, pulls it by tag and by digest and streams its blob into the store', async () => {
      const weights = randomBytes(100_000);
      const p = await push(c, 'models/bearing-fault', weights, '1.2.0');
      expect(p.digest).to.equal(sha(p.bytes));
      await push(c, 'models/bearing-fault', randomBytes(1000), '1.3.0');
      expect((await c.tags('models/bearing-fault')).sort()).to.deep.equal(['1.2.0', '1.3.0']);

      const byTag = await c.manifest('models/bearing-fault', '1.2.0');
      expect(byTag.digest).to.equal(p.digest);
      expect(Buffer.from(byTag.bytes).equals(p.bytes)).to.equal(true);
      expect(byTag.mediaType).to.equal(MEDIA.manifest);
      const m = JSON.parse(Buffer.from(byTag.bytes).toString()) as { artifactType: string; layers: Descriptor[] };
      expect(m.artifactType).to.equal(MEDIA.modelManifest);
      const byDigest = await c.manifest('models/bearing-fault', p.digest);
      expect(byDigest.digest).to.equal(p.digest);

      const store = await ModelStore.open(path.join(tmp, 'store-anon'));
      const stored = await store.putBlob(await c.blob('models/bearing-fault', m.layers[0]), m.layers[0]);
      expect(fs.readFileSync(stored.path).equals(weights)).to.equal(true);
    });

    it('skips a blob the registry has (HEAD) and refuses content that is not the descriptor\'s size', async () => {
      const b = randomBytes(5000);
      await c.pushBlob('models/skip', desc(b, MEDIA.modelWeightRaw), b);
      // the second push never reads the content: a factory that throws proves it
      await c.pushBlob('models/skip', desc(b, MEDIA.modelWeightRaw), () => {
        throw new Error('content read although the registry has the blob');
      });
      const e = await rejects(c.pushBlob('models/skip', { ...desc(randomBytes(10), MEDIA.modelWeightRaw), size: 11 }, randomBytes(10)));
      expect(e.message).to.match(/descriptor says 11 bytes, the content has 10/);
    });

    it('pushes a streamed blob (a factory of chunks)', async () => {
      const parts = [randomBytes(70_000), randomBytes(70_000), randomBytes(1)];
      const all = Buffer.concat(parts);
      const d = desc(all, MEDIA.modelWeightRaw);
      await c.pushBlob('models/streamed', d, async function* () {
        yield* parts;
      });
      expect((await collect(await c.blob('models/streamed', d))).equals(all)).to.equal(true);
    });

    it('says what is missing: no tag, no repository, no blob', async () => {
      await push(c, 'models/x', randomBytes(10), '1.0');
      const noTag = await rejects(c.manifest('models/x', '1.2'));
      expect(noTag.message).to.match(/^no tag 1\.2 in models\/x: the registry answered 404 MANIFEST_UNKNOWN/);
      expect(noTag.code).to.equal('notFound');
      const noRepo = await rejects(c.tags('models/nothing-here'));
      expect(noRepo.message).to.match(/no repository models\/nothing-here: the registry answered 404 NAME_UNKNOWN/);
      const d = desc(randomBytes(3), MEDIA.modelWeightRaw);
      expect((await rejects(c.blob('models/x', d))).message).to.match(/no blob sha256:[0-9a-f]{64} of models\/x: the registry answered 404 BLOB_UNKNOWN/);
    });

    it('refuses an unreachable registry with a clear error', async () => {
      const gone = new DistributionClient({ url: `http://127.0.0.1:${await freePort()}` });
      const e = await rejects(gone.tags('models/x'));
      gone.close();
      expect(e.message).to.match(/the tags of models\/x: 127\.0\.0\.1:\d+ refused the connection \(is the registry running at http:\/\/127\.0\.0\.1:\d+\/\?\)/);
    });

    it('follows the Link rel="next" pages of the tags list (pages cut by a proxy: registry 2.8 ignores ?n= for tags)', async () => {
      const want = ['a1', 'b2', 'c3', 'd4', 'e5'];
      for (const t of want) await push(c, 'models/paged', randomBytes(8), t);
      const asked: string[] = [];
      // the distribution-spec's paging (?n=&last=, Link: <...>; rel="next") over the registry's full list
      const pager = http.createServer((req, res) => {
        const u = new URL(req.url ?? '/', 'http://x');
        asked.push(u.search);
        http.get({ host: '127.0.0.1', port: reg.port, path: u.pathname }, (r) => {
          let body = '';
          r.on('data', (d) => (body += d));
          r.on('end', () => {
            const all = (JSON.parse(body) as { tags: string[] }).tags.sort();
            const n = Number(u.searchParams.get('n'));
            const from = u.searchParams.has('last') ? all.indexOf(u.searchParams.get('last')!) + 1 : 0;
            const page = all.slice(from, from + n);
            const more = from + n < all.length;
            res.writeHead(200, { 'Content-Type': 'application/json', ...(more ? { Link: `<${u.pathname}?n=${n}&last=${page[page.length - 1]}>; rel="next"` } : {}) });
            res.end(JSON.stringify({ name: 'models/paged', tags: page }));
          });
        });
      });
      await new Promise<void>((r) => pager.listen(0, '127.0.0.1', r));
      const paged = new DistributionClient({ url: `http://127.0.0.1:${(pager.address() as { port: number }).port}`, tagPageSize: 2 });
      try {
        expect(await paged.tags('models/paged')).to.deep.equal(want);
        expect(asked).to.deep.equal(['?n=2', '?n=2&last=b2', '?n=2&last=d4']);
      } finally {
        paged.close();
        pager.closeAllConnections();
        await new Promise((r) => pager.close(r));
      }
    });

    it('refuses a manifest larger than the bound', async () => {
      const p = await push(c, 'models/bound', randomBytes(8), '1');
      const small = new DistributionClient({ url: reg.url, maxManifestBytes: p.bytes.length - 1 });
      try {
        const e = await rejects(small.manifest('models/bound', '1'));
        expect(e.code).to.equal('manifestTooLarge');
        expect(e.message).to.equal(`manifest 1 of models/bound is ${p.bytes.length} bytes: expected at most ${p.bytes.length - 1}`);
      } finally {
        small.close();
      }
    });

    it('refuses a manifest whose bytes were altered on the way (proxy), by tag and by digest', async () => {
      const p = await push(c, 'models/tampered', randomBytes(100), '2.0.0');
      const proxy = await alteringProxy(reg.port, (body) => Buffer.from(body.toString().replace('"2.0.0"', '"6.6.6"')));
      const via = new DistributionClient({ url: `http://127.0.0.1:${proxy.port}` });
      try {
        const byTag = await rejects(via.manifest('models/tampered', '2.0.0'));
        expect(byTag.code).to.equal('manifestDigest');
        expect(byTag.message).to.include(`expected ${p.digest}`);
        const byDigest = await rejects(via.manifest('models/tampered', p.digest));
        expect(byDigest.message).to.match(/failed its digest check: expected sha256:[0-9a-f]{64}, its bytes hash to sha256:/);
        expect(proxy.altered()).to.equal(2);
      } finally {
        via.close();
        await proxy.close();
      }
    });

    it('fails a body that stalls (idle timeout) with nothing written to the store', async () => {
      const weights = randomBytes(300_000);
      const p = await push(c, 'models/stall', weights, '1');
      const proxy = await alteringProxy(reg.port, undefined, 100_000);
      const via = new DistributionClient({ url: `http://127.0.0.1:${proxy.port}`, idleTimeoutMs: 500 });
      const store = await ModelStore.open(path.join(tmp, 'store-stall'));
      try {
        const e = await rejects(store.putBlob(await via.blob('models/stall', p.layer), p.layer));
        expect(e.message).to.match(/sent nothing for 500 ms/);
        expect(fs.readdirSync(path.join(store.dir, 'blobs', 'sha256'))).to.deep.equal([]);
      } finally {
        via.close();
        await proxy.close();
      }
    });

    it('a registry killed mid-download of a 20 MB blob fails cleanly, nothing stored; a retry after a restart succeeds', async function () {
      const weights = randomBytes(20 * 1024 * 1024);
      const p = await push(c, 'models/big', weights, '1');
      const store = await ModelStore.open(path.join(tmp, 'store-kill'));
      let seen = 0;
      const killing = async function* (it: AsyncIterable<Uint8Array>) {
        for await (const chunk of it) {
          if (seen === 0) await reg.kill();
          seen += chunk.length;
          yield chunk;
        }
      };
      const e = await rejects(store.putBlob(killing(await c.blob('models/big', p.layer)), p.layer));
      expect(e.message).to.match(/connection ended after \d+ of 20971520 bytes/);
      expect(seen).to.be.greaterThan(0).and.lessThan(weights.length);
      expect(fs.readdirSync(path.join(store.dir, 'blobs', 'sha256'))).to.deep.equal([]);
      expect(await store.has(p.layer.digest)).to.equal(false);

      await reg.start();
      const stored = await store.putBlob(await c.blob('models/big', p.layer), p.layer);
      expect(stored.size).to.equal(weights.length);
      expect(sha(fs.readFileSync(stored.path))).to.equal(p.layer.digest);
    });
  });

  describe('basic auth (htpasswd -B)', () => {
    let reg: OciRegistry;
    before(async () => {
      reg = await OciRegistry.start({ basic: { username: 'gateway', password: 'right-horse-battery' } });
    });
    after(async () => reg?.stop());

    it('pushes and pulls with the right password', async () => {
      const c = new DistributionClient({ url: reg.url, username: 'gateway', password: 'right-horse-battery' });
      try {
        const weights = randomBytes(4000);
        const p = await push(c, 'models/basic', weights, 'v1');
        expect((await c.manifest('models/basic', 'v1')).digest).to.equal(p.digest);
        expect((await collect(await c.blob('models/basic', p.layer))).equals(weights)).to.equal(true);
        expect(await c.tags('models/basic')).to.deep.equal(['v1']);
      } finally {
        c.close();
      }
    });

    it('a wrong password or none: a clear 401 that names the realm and carries no password', async () => {
      const wrong = new DistributionClient({ url: reg.url, username: 'gateway', password: 'wrong-password-123' });
      const e = await rejects(wrong.tags('models/basic'));
      expect(e.code).to.equal('unauthorized');
      expect(e.message).to.match(/answered 401 UNAUTHORIZED.*the username and password given were refused.*basic auth \(realm "mlops-test"\)/);
      expect(e.message).to.not.include('wrong-password-123');
      expect(JSON.stringify(e)).to.not.include('wrong-password-123');
      wrong.close();
      const anonymous = new DistributionClient({ url: reg.url });
      const none = await rejects(anonymous.manifest('models/basic', 'v1'));
      anonymous.close();
      expect(none.message).to.match(/401 UNAUTHORIZED.*no credentials are configured/);
    });
  });

  describe('a blob redirected to storage on another origin', () => {
    let reg: OciRegistry;
    before(async () => {
      reg = await OciRegistry.start({ basic: { username: 'gateway', password: 'pw-redirect-1' } });
    });
    after(async () => reg?.stop());

    it('follows the redirect and does not send the registry\'s Authorization there', async () => {
      const c = new DistributionClient({ url: reg.url, username: 'gateway', password: 'pw-redirect-1' });
      const weights = randomBytes(200_000);
      const p = await push(c, 'models/redirected', weights, '1');
      c.close();
      const seen: http.IncomingHttpHeaders[] = [];
      // the "object storage": another origin (localhost, not 127.0.0.1) serving the bytes
      const storage = http.createServer((req, res) => {
        seen.push(req.headers);
        res.writeHead(200, { 'Content-Length': String(weights.length) }).end(weights);
      });
      await new Promise<void>((r) => storage.listen(0, '127.0.0.1', r));
      const storagePort = (storage.address() as { port: number }).port;
      // the registry's front: blob GETs answered with a 307 to the storage, the rest passed on
      const front = http.createServer((req, res) => {
        if (req.method === 'GET' && /\/blobs\/sha256:/.test(req.url ?? '')) {
          res.writeHead(307, { Location: `http://localhost:${storagePort}/bucket/blob?X-Signature=abc` }).end();
          return;
        }
        const up = http.request({ host: '127.0.0.1', port: reg.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
          res.writeHead(r.statusCode!, r.headers);
          r.pipe(res);
        });
        req.pipe(up);
      });
      await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
      const via = new DistributionClient({ url: `http://127.0.0.1:${(front.address() as { port: number }).port}`, username: 'gateway', password: 'pw-redirect-1' });
      try {
        await via.manifest('models/redirected', '1'); // the client learns the registry wants basic auth
        expect((await collect(await via.blob('models/redirected', p.layer))).equals(weights)).to.equal(true);
        expect(seen).to.have.length(1);
        expect(seen[0].authorization).to.equal(undefined);
      } finally {
        via.close();
        storage.closeAllConnections();
        front.closeAllConnections();
        await new Promise((r) => storage.close(r));
        await new Promise((r) => front.close(r));
      }
    });
  });

  describe('bearer tokens through the WWW-Authenticate challenge', () => {
    let tokens: TokenServer;
    let reg: OciRegistry;
    before(async () => {
      tokens = await TokenServer.start({ username: 'ci', password: 'token-pass-42' });
      reg = await OciRegistry.start({ token: tokens });
    });
    after(async () => {
      await reg?.stop();
      await tokens?.stop();
    });

    it('gets a token per scope from the realm with basic credentials, caches it, and pushes and pulls', async () => {
      const c = new DistributionClient({ url: reg.url, username: 'ci', password: 'token-pass-42' });
      try {
        const weights = randomBytes(50_000);
        const p = await push(c, 'team/models/pump', weights, '3.1.4');
        expect((await c.manifest('team/models/pump', '3.1.4')).digest).to.equal(p.digest);
        expect((await c.manifest('team/models/pump', p.digest)).digest).to.equal(p.digest);
        expect(await c.tags('team/models/pump')).to.deep.equal(['3.1.4']);
        expect((await collect(await c.blob('team/models/pump', p.layer))).equals(weights)).to.equal(true);
        const asked = tokens.requests.map((r) => r.scope);
        expect(asked).to.include('repository:team/models/pump:pull,push');
        expect(asked).to.include('repository:team/models/pump:pull');
        expect(tokens.requests.every((r) => r.service === tokens.service && r.user === 'ci')).to.equal(true);
        // one token per scope, reused for every later request
        expect(asked.length).to.equal(2);
      } finally {
        c.close();
      }
    });

    it('a token server refusing the credentials: a clear 401, no password in the text', async () => {
      const c = new DistributionClient({ url: reg.url, username: 'ci', password: 'not-the-pass' });
      const e = await rejects(c.tags('team/models/pump'));
      c.close();
      expect(e.message).to.match(/getting a token for repository:team\/models\/pump:pull from http:\/\/127\.0\.0\.1:\d+\/token: the registry answered 401 UNAUTHORIZED/);
      expect(e.message).to.not.include('not-the-pass');
    });
  });

  describe('TLS with a private CA', () => {
    let reg: OciRegistry;
    before(async () => {
      reg = await OciRegistry.start({ tls: true });
    });
    after(async () => reg?.stop());

    it('refuses the certificate without the CA file, naming the option; works with it', async () => {
      const without = new DistributionClient({ url: reg.url });
      const e = await rejects(without.tags('models/tls'));
      expect(e.code).to.equal('tls');
      expect(e.message).to.match(/TLS certificate of 127\.0\.0\.1:\d+ was refused .*set the CA file option/);
      without.close();
      const c = new DistributionClient({ url: reg.url, caFile: reg.caFile });
      try {
        const p = await push(c, 'models/tls', randomBytes(1000), '1');
        expect((await c.manifest('models/tls', '1')).digest).to.equal(p.digest);
      } finally {
        c.close();
      }
    });
  });
});

/**
 * A proxy on 127.0.0.1 in front of the registry: `alter` rewrites manifest bodies (headers kept,
 * Content-Length fixed); `stallAfter` sends that many bytes of a blob body, then nothing.
 */
async function alteringProxy(target: number, alter?: (b: Buffer) => Buffer, stallAfter?: number) {
  let altered = 0;
  const open = new Set<http.ServerResponse>();
  const server = http.createServer((req, res) => {
    open.add(res);
    res.on('close', () => open.delete(res));
    const up = http.request({ host: '127.0.0.1', port: target, method: req.method, path: req.url, headers: req.headers }, (r) => {
      const isManifest = /\/manifests\//.test(req.url ?? '') && req.method === 'GET' && r.statusCode === 200;
      if (alter && isManifest) {
        const parts: Buffer[] = [];
        r.on('data', (d: Buffer) => parts.push(d));
        r.on('end', () => {
          const body = alter(Buffer.concat(parts));
          altered++;
          res.writeHead(r.statusCode!, { ...r.headers, 'content-length': String(body.length) });
          res.end(body);
        });
        return;
      }
      res.writeHead(r.statusCode!, r.headers);
      if (stallAfter !== undefined && /\/blobs\/sha256:/.test(req.url ?? '') && req.method === 'GET') {
        let sent = 0;
        r.on('data', (d: Buffer) => {
          if (sent >= stallAfter) return;
          res.write(d.subarray(0, stallAfter - sent));
          sent += Math.min(d.length, stallAfter - sent);
        });
        return;
      }
      r.pipe(res);
    });
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as { port: number }).port,
    altered: () => altered,
    close: async () => {
      for (const r of open) r.destroy();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}
