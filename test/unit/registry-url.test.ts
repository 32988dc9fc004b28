/**
 * A model from a plain URL (nodes/lib/registry/url.ts over http.ts), against real HTTP(S) servers
 * on 127.0.0.1 started here: the sha256 required, the right file stored, a wrong one refused with
 * nothing written, a redirect loop, a server that stalls mid-body, an https -> http redirect, TLS
 * verified unless the CA file is given, a size bound.
 */
import { expect } from 'chai';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as http from 'http';
import * as https from 'https';
import { AddressInfo } from 'net';
import * as path from 'path';
import { httpGet } from '../../nodes/lib/registry/http';
import { ModelStore } from '../../nodes/lib/registry/store';
import { selfSigned } from '../support/oci-registry';
import { expectedDigest, pullUrl } from '../../nodes/lib/registry/url';
import { tmpDir } from '../support/red';

const sha = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const files = (dir: string): string[] => fs.readdirSync(dir, { recursive: true, withFileTypes: true }).filter((d) => d.isFile()).map((d) => path.relative(dir, path.join(d.parentPath ?? d.path, d.name))).sort();
const model = Buffer.alloc(200_000, 7);

async function rejection(p: Promise<unknown>): Promise<Error & { code: string }> {
  try {
    await p;
  } catch (e) {
    return e as Error & { code: string };
  }
  throw new Error('expected a rejection');
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;
async function listen(server: http.Server | https.Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

describe('registry: a model from a plain URL', () => {
  let dir: string;
  let store: ModelStore;
  const servers: (http.Server | https.Server)[] = [];
  const hits: string[] = [];
  async function serve(h: Handler, tls?: { key: Buffer; cert: Buffer }): Promise<string> {
    const s = tls ? https.createServer(tls, h) : http.createServer(h);
    servers.push(s);
    const port = await listen(s);
    return `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  }
  const routes: Handler = (req, res) => {
    hits.push(req.url ?? '');
    if (req.url === '/model.onnx') {
      res.writeHead(200, { 'content-length': model.length });
      res.write(model.subarray(0, 1000));
      setTimeout(() => res.end(model.subarray(1000)), 5);
    } else if (req.url === '/moved') {
      res.writeHead(302, { location: '/model.onnx' }).end();
    } else if (req.url?.startsWith('/loop')) {
      res.writeHead(301, { location: `/loop${Number(req.url.slice(5) || 0) + 1}` }).end();
    } else if (req.url === '/stall') {
      res.writeHead(200, { 'content-length': model.length });
      res.write(model.subarray(0, 5000)); // and then nothing
    } else {
      res.writeHead(404).end('not here');
    }
  };

  before(() => {
    dir = tmpDir('url');
  });
  beforeEach(async () => {
    fs.rmSync(dir, { recursive: true, force: true });
    store = await ModelStore.open(dir, { maxBytes: 1_000_000 });
    hits.length = 0;
  });
  afterEach(() => {
    for (const s of servers.splice(0)) {
      s.closeAllConnections();
      s.close();
    }
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('refuses a URL source without an expected sha256, saying why', async () => {
    for (const missing of [undefined, '', '  ']) {
      expect(() => expectedDigest(missing)).to.throw(/a URL source needs the sha256 of the model it serves: a URL alone proves nothing about the file behind it/);
    }
    expect(() => expectedDigest('md5:abc')).to.throw(/expected a digest "sha256:" followed by 64 lowercase hex digits/);
    expect(expectedDigest(sha(model).slice(7).toUpperCase())).to.equal(sha(model));
    const base = await serve(routes);
    const e = await rejection(pullUrl({ url: `${base}/model.onnx`, sha256: '' }, store));
    expect(e.code).to.equal('urlNeedsSha256');
    expect(hits).to.deep.equal([]); // refused before any request
  });

  it('stores the file when its sha256 is the one expected (through a redirect)', async () => {
    const base = await serve(routes);
    const r = await pullUrl({ url: `${base}/moved`, sha256: sha(model) }, store);
    expect(r.digest).to.equal(sha(model));
    expect(fs.readFileSync(r.path)).to.deep.equal(model);
    expect(hits).to.deep.equal(['/moved', '/model.onnx']);
  });

  it('refuses a file whose sha256 is not the one expected, and writes nothing', async () => {
    const base = await serve(routes);
    const before = files(dir);
    const wrong = sha(Buffer.from('another model'));
    const e = await rejection(pullUrl({ url: `${base}/model.onnx`, sha256: wrong }, store));
    expect(e.code).to.equal('digestMismatch');
    expect(e.message).to.equal(`blob ${wrong} failed its digest check: its content hashes to ${sha(model)}`);
    expect(files(dir)).to.deep.equal(before);
    expect(await store.has(sha(model))).to.equal(false);
  });

  it('stops a redirect loop after the bound, and refuses a status other than 200', async () => {
    const base = await serve(routes);
    const e = await rejection(pullUrl({ url: `${base}/loop`, sha256: sha(model), maxRedirects: 4 }, store));
    expect(e.code).to.equal('tooManyRedirects');
    expect(e.message).to.match(/\/loop: expected at most 4 redirects, got more/);
    expect(hits).to.have.length(5);
    const gone = await rejection(pullUrl({ url: `${base}/nothing`, sha256: sha(model) }, store));
    expect(gone.message).to.equal(`${base}/nothing: expected HTTP 200 with the model, got HTTP 404`);
    expect(files(dir)).to.deep.equal([]);
  });

  it('times out a server that stalls mid-body, leaving nothing in the store', async () => {
    const base = await serve(routes);
    const t = Date.now();
    const e = await rejection(pullUrl({ url: `${base}/stall`, sha256: sha(model), timeoutMs: 300 }, store));
    expect(e.code).to.equal('timeout');
    expect(e.message).to.equal(`${base}/stall: nothing received for 300 ms (timeout)`);
    expect(Date.now() - t).to.be.within(250, 3000);
    expect(files(dir)).to.deep.equal([]);
  });

  it('bounds the size while streaming and by Content-Length', async () => {
    const base = await serve(routes);
    const small = await ModelStore.open(dir, { maxBytes: 50_000 });
    const e = await rejection(pullUrl({ url: `${base}/model.onnx`, sha256: sha(model) }, small));
    expect(e.code).to.equal('tooLarge');
    expect(e.message).to.match(/expected at most 50000 bytes, got 200000 \(Content-Length\)/);
    expect(files(dir)).to.deep.equal([]);
  });

  describe('over https', () => {
    let pki: string;
    let tls: { key: Buffer; cert: Buffer };
    let certFile: string;
    before(function () {
      this.timeout(20000);
      pki = tmpDir('url-tls');
      const made = selfSigned(pki, '127.0.0.1', 'IP:127.0.0.1');
      certFile = made.cert;
      tls = { key: fs.readFileSync(made.key), cert: fs.readFileSync(made.cert) };
    });
    after(() => fs.rmSync(pki, { recursive: true, force: true }));

    it('verifies TLS by default and trusts the CA file given', async () => {
      const base = await serve(routes, tls);
      const e = await rejection(pullUrl({ url: `${base}/model.onnx`, sha256: sha(model) }, store));
      expect(e.code).to.equal('network');
      expect(e.message).to.match(/self-signed certificate/);
      const r = await pullUrl({ url: `${base}/model.onnx`, sha256: sha(model), caFile: certFile }, store);
      expect(r.digest).to.equal(sha(model));
    });

    it('refuses a redirect from https to http', async () => {
      const plain = await serve(routes);
      const secure = await serve((req, res) => {
        hits.push(`tls ${req.url}`);
        res.writeHead(302, { location: `${plain}/model.onnx` }).end();
      }, tls);
      const e = await rejection(pullUrl({ url: `${secure}/model.onnx`, sha256: sha(model), caFile: certFile }, store));
      expect(e.code).to.equal('downgrade');
      expect(e.message).to.equal(`${secure}/model.onnx redirected to ${plain}/model.onnx: refused, a redirect from https may only go to https`);
      expect(hits).to.deep.equal(['tls /model.onnx']); // the http server was never asked
      expect(files(dir)).to.deep.equal([]);
    });
  });

  it('keeps credentials out of errors and off other origins', async () => {
    const seen: (string | undefined)[] = [];
    const other = await serve((req, res) => {
      seen.push(req.headers.authorization);
      res.writeHead(404).end();
    });
    const first = await serve((req, res) => {
      seen.push(req.headers.authorization);
      res.writeHead(302, { location: `${other}/x?X-Signature=s3cr3t` }).end();
    });
    const res = await httpGet(`${first.replace('http://', 'http://user:hunter2@')}/m?token=abc`, { headers: {} });
    expect(res.status).to.equal(404);
    res.discard();
    expect(seen).to.deep.equal([`Basic ${Buffer.from('user:hunter2').toString('base64')}`, undefined]);
    const e = await rejection(pullUrl({ url: `${first.replace('http://', 'http://user:hunter2@')}/m?token=abc`, sha256: sha(model), auth: { bearer: 'tok' } }, store));
    expect(e.message).to.equal(`${other}/x: expected HTTP 200 with the model, got HTTP 404`);
    expect(e.message + JSON.stringify((e as unknown as { params: unknown }).params)).not.to.match(/hunter2|s3cr3t|abc|tok/);
  });
});
