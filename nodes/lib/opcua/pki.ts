/**
 * The client's PKI folder as a person sees it: the client certificate (to hand to the server's
 * administrator), the server certificates rejected so far (rejected/) and the trusted ones
 * (trusted/certs/), and trusting a rejected certificate by its fingerprint. Nothing here takes
 * a path from outside: a certificate to trust is named by its fingerprint and must be a file
 * of rejected/.
 */
import { X509Certificate } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { APPLICATION_NAME, createClient, disposeCertificateManager, openCertificateManager } from './connection';
import { endpointError } from './errors';

export interface CertificateInfo {
  /** The file name (no folder). */
  file: string;
  subject: string;
  issuer: string;
  /** The application URI (subjectAltName URI), when the certificate has one. */
  applicationUri?: string;
  /** Upper-case hex pairs separated by colons, as OPC UA tools and browsers show them. */
  sha1: string;
  sha256: string;
  /** ISO 8601. */
  validFrom: string;
  validTo: string;
  /** 'valid', 'expired' or 'notYetValid' at the time of reading. */
  validity: 'valid' | 'expired' | 'notYetValid';
  selfSigned: boolean;
  pem: string;
}

export interface PkiFolders {
  root: string;
  own: string;
  trusted: string;
  rejected: string;
}

export function pkiFolders(root: string): PkiFolders {
  return { root, own: path.join(root, 'own', 'certs'), trusted: path.join(root, 'trusted', 'certs'), rejected: path.join(root, 'rejected') };
}

/** The client certificate's file in a PKI folder (node-opcua creates it on the first connection). */
export const clientCertificateFile = (root: string) => path.join(pkiFolders(root).own, 'client_certificate.pem');

const CERT_FILE = /\.(pem|der|crt|cer)$/i;

/** What a certificate (PEM or DER) says about itself. */
export function certificateInfo(data: Buffer | string, file = '', now = Date.now()): CertificateInfo {
  const x = new X509Certificate(data);
  const validFrom = new Date(x.validFrom);
  const validTo = new Date(x.validTo);
  const uri = x.subjectAltName?.split(/,\s*/).find((e) => e.startsWith('URI:'))?.slice(4);
  return {
    file,
    subject: x.subject.replace(/\n/g, ', '),
    issuer: x.issuer.replace(/\n/g, ', '),
    applicationUri: uri,
    sha1: x.fingerprint,
    sha256: x.fingerprint256,
    validFrom: validFrom.toISOString(),
    validTo: validTo.toISOString(),
    validity: now < validFrom.getTime() ? 'notYetValid' : now > validTo.getTime() ? 'expired' : 'valid',
    selfSigned: x.checkIssued(x),
    pem: x.toString(),
  };
}

/** The certificates of one folder, newest first; files that are no certificate are left out. */
export function listCertificates(folder: string): CertificateInfo[] {
  let names: string[];
  try {
    names = fs.readdirSync(folder);
  } catch {
    return [];
  }
  const found: Array<{ info: CertificateInfo; mtime: number }> = [];
  for (const name of names) {
    if (!CERT_FILE.test(name)) continue;
    const file = path.join(folder, name);
    try {
      const st = fs.statSync(file);
      if (!st.isFile()) continue;
      found.push({ info: certificateInfo(fs.readFileSync(file), name), mtime: st.mtimeMs });
    } catch {
      /* not a certificate */
    }
  }
  return found.sort((a, b) => b.mtime - a.mtime).map((f) => f.info);
}

/** The client certificate, created (self-signed, as node-opcua would on first use) when missing. */
export async function ensureClientCertificate(root: string, applicationName = APPLICATION_NAME): Promise<CertificateInfo> {
  const file = clientCertificateFile(root);
  if (!fs.existsSync(file) || fs.statSync(file).size === 0) {
    const cm = await openCertificateManager(root);
    try {
      const client = createClient({ applicationName, securityMode: 'None', securityPolicy: 'None', initialDelayMs: 1000, maxDelayMs: 1000 }, cm);
      await client.createDefaultCertificate();
    } finally {
      await disposeCertificateManager(cm);
    }
  }
  return certificateInfo(fs.readFileSync(file), path.basename(file));
}

/** A fingerprint as typed or shown (hex, with or without colons, SHA-1 or SHA-256), normalised; undefined when it is none. */
export function normaliseFingerprint(fp: unknown): string | undefined {
  if (typeof fp !== 'string') return undefined;
  const hex = fp.replace(/[:\s]/g, '').toUpperCase();
  if (!/^[0-9A-F]{40}$/.test(hex) && !/^[0-9A-F]{64}$/.test(hex)) return undefined;
  return hex.match(/../g)!.join(':');
}

/**
 * Trusts the rejected certificate with this fingerprint: moves its file from rejected/ to
 * trusted/certs/. Throws a coded error for a malformed fingerprint or one that no file of
 * rejected/ has.
 */
export function trustRejected(root: string, fingerprint: unknown): CertificateInfo {
  const fp = normaliseFingerprint(fingerprint);
  if (!fp) throw endpointError('badFingerprint', { fingerprint: String(fingerprint).slice(0, 100) }, `"${String(fingerprint).slice(0, 100)}" is not a certificate fingerprint (40 or 64 hex digits)`);
  const folders = pkiFolders(root);
  const cert = listCertificates(folders.rejected).find((c) => c.sha1 === fp || c.sha256 === fp);
  if (!cert) throw endpointError('notRejected', { fingerprint: fp }, `no rejected certificate has the fingerprint ${fp}`);
  // cert.file is a name read from rejected/, never one given from outside
  const name = path.basename(cert.file);
  fs.mkdirSync(folders.trusted, { recursive: true });
  fs.renameSync(path.join(folders.rejected, name), path.join(folders.trusted, name));
  return cert;
}

export interface PkiView {
  folder: string;
  client: CertificateInfo;
  rejected: CertificateInfo[];
  trusted: CertificateInfo[];
}

/** Everything the endpoint dialog shows about a PKI folder. */
export async function pkiView(root: string): Promise<PkiView> {
  const client = await ensureClientCertificate(root);
  const f = pkiFolders(root);
  return { folder: root, client, rejected: listCertificates(f.rejected), trusted: listCertificates(f.trusted) };
}
