/**
 * The client's PKI folder without a server: the client certificate created as node-opcua
 * would, certificates described by fingerprint and validity (checked against node's own
 * X509Certificate and openssl-free DER), and trusting that takes nothing but a fingerprint of
 * a file in rejected/.
 */
import { expect } from 'chai';
import { X509Certificate } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { certificateInfo, clientCertificateFile, ensureClientCertificate, listCertificates, normaliseFingerprint, pkiFolders, trustRejected } from '../../nodes/lib/opcua/pki';
import { trustReply } from '../../nodes/lib/opcua/admin';
import { disposeCertificateManager, openCertificateManager } from '../../nodes/lib/opcua/connection';
import { tmpDir } from '../support/red';

describe('opcua lib: PKI folder', function () {
  this.timeout(60000);
  let root: string;
  let other: string;
  before(async () => {
    root = tmpDir('pki-unit');
    other = tmpDir('pki-other');
    // a second, independent certificate to play the server's
    await ensureClientCertificate(other, 'some-server');
  });
  after(() => {
    fs.rmSync(root, { recursive: true, force: true });
    fs.rmSync(other, { recursive: true, force: true });
  });

  it('creates the client certificate once and describes it', async () => {
    const a = await ensureClientCertificate(root);
    const file = clientCertificateFile(root);
    const x = new X509Certificate(fs.readFileSync(file));
    expect(a).to.include({ file: 'client_certificate.pem', sha1: x.fingerprint, sha256: x.fingerprint256, validity: 'valid', selfSigned: true });
    expect(a.subject).to.match(/CN=node-red-mlops/);
    expect(a.applicationUri).to.match(/^urn:.*:node-red-mlops$/);
    expect(new Date(a.validTo).getTime() - new Date(a.validFrom).getTime()).to.be.greaterThan(365 * 86400e3);
    const mtime = fs.statSync(file).mtimeMs;
    const b = await ensureClientCertificate(root);
    expect(b.sha256).to.equal(a.sha256);
    expect(fs.statSync(file).mtimeMs).to.equal(mtime);
  });

  // node-opcua-pki replaces fs.watch while a manager starts its folder watchers (until they are
  // ready or it is disposed) and then puts back what it found: two managers starting at once left
  // the first one's replacement in place for good, which kept every later fs.watch handle of the
  // process, with the managers they belonged to (about 20 KB per redeploy, redeploy.test.ts).
  it('opens certificate managers one at a time: fs.watch is node\'s own again once each is open, also when opened at once', async () => {
    const watch = fs.watch;
    const first = await openCertificateManager(root);
    expect(fs.watch === watch, 'fs.watch once a manager is open').to.equal(true);
    const more = await Promise.all([openCertificateManager(root), openCertificateManager(other), openCertificateManager(root)]);
    expect(fs.watch === watch, 'fs.watch once three more are open').to.equal(true);
    for (const cm of [first, ...more]) await disposeCertificateManager(cm);
    expect(fs.watch === watch, 'fs.watch after disposing them, first opened first').to.equal(true);
  });

  it('reads PEM and DER alike and says when a certificate is not valid at a time', () => {
    const pem = fs.readFileSync(clientCertificateFile(other));
    const der = new X509Certificate(pem).raw;
    const p = certificateInfo(pem, 'a.pem');
    const d = certificateInfo(der, 'a.der');
    expect(d.sha256).to.equal(p.sha256);
    expect(d.pem).to.equal(p.pem);
    expect(certificateInfo(pem, 'a.pem', new Date(p.validTo).getTime() + 1000).validity).to.equal('expired');
    expect(certificateInfo(pem, 'a.pem', new Date(p.validFrom).getTime() - 1000).validity).to.equal('notYetValid');
  });

  it('normalises fingerprints and refuses anything else', () => {
    const fp = certificateInfo(fs.readFileSync(clientCertificateFile(other))).sha1;
    expect(normaliseFingerprint(fp.toLowerCase().replace(/:/g, ''))).to.equal(fp);
    expect(normaliseFingerprint(` ${fp} `)).to.equal(fp);
    for (const bad of ['../x', 'AB'.repeat(19), 'AB'.repeat(21), 'G'.repeat(40), 42, null, undefined]) expect(normaliseFingerprint(bad), String(bad)).to.equal(undefined);
  });

  it('trusts a rejected certificate by fingerprint only: moved from rejected/ to trusted/certs/, nothing else touched', () => {
    const f = pkiFolders(root);
    fs.mkdirSync(f.rejected, { recursive: true });
    const name = 'some-server[0123].der';
    fs.writeFileSync(path.join(f.rejected, name), new X509Certificate(fs.readFileSync(clientCertificateFile(other))).raw);
    fs.writeFileSync(path.join(f.rejected, 'notes.pem'), 'not a certificate');
    // a certificate outside rejected/ with a fingerprint someone might send
    const outside = certificateInfo(fs.readFileSync(clientCertificateFile(root)));
    const listed = listCertificates(f.rejected);
    expect(listed.map((c) => c.file)).to.deep.equal([name]);
    const err = (fp: unknown) => { try { trustRejected(root, fp); } catch (e) { return (e as { code: string }).code; } return 'none'; };
    expect(err(outside.sha256)).to.equal('notRejected');
    expect(err('../../own/certs/client_certificate.pem')).to.equal('badFingerprint');
    expect(err(name)).to.equal('badFingerprint');
    const trusted = trustRejected(root, listed[0].sha256);
    expect(trusted.file).to.equal(name);
    expect(fs.readdirSync(f.rejected)).to.deep.equal(['notes.pem']);
    expect(fs.readdirSync(f.trusted)).to.deep.equal([name]);
    expect(fs.existsSync(clientCertificateFile(root))).to.equal(true);
    // the admin answer: 404 for a fingerprint no longer rejected, 400 for a malformed one; the trust hook runs only on success
    let hooks = 0;
    const text = (e: unknown) => (e as Error).message;
    expect(trustReply(root, listed[0].sha1, text, () => hooks++).status).to.equal(404);
    expect(trustReply(root, 'x', text, () => hooks++)).to.deep.include({ status: 400 });
    expect(hooks).to.equal(0);
  });
});
