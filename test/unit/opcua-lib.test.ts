import { expect } from 'chai';
import { hasOverflow, plainValue, qualityOf, severityOf, timestampOf, toSample } from '../../nodes/lib/opcua/convert';
import { assembleSamples, fitToSessionTimeout, parseChannels, queueLoss, settingsFromConfig, validateSettings, DEFAULT_SETTINGS } from '../../nodes/lib/opcua/reader';
import { classifyError, validateEndpointOptions, OpcuaConnection } from '../../nodes/lib/opcua/connection';
import { CodedErrors } from '../../nodes/lib/node-red/errors';
import { probeKind } from '../../nodes/lib/opcua/probe';
import { CodedError, isCoded } from '../../nodes/lib/node-red/errors';
import { texts } from '../../nodes/lib/node-red/i18n';
import * as fs from 'fs';
import * as path from 'path';

/** A catalog lookup as Node-RED's, over the German catalog files. */
function german(ns: string) {
  const cat = (n: string) => JSON.parse(fs.readFileSync(path.join(__dirname, '../../locales/de', `${n}.json`), 'utf8'))[n];
  return texts({
    _(key: string, vars: Record<string, unknown> = {}) {
      const [n, ...rest] = key.split('.');
      let v: unknown = cat(n);
      for (const k of rest) v = (v as Record<string, unknown> | undefined)?.[k];
      return typeof v === 'string' ? v.replace(/__(\w+?)__/g, (m, k: string) => (k in vars ? String(vars[k]) : m)) : key;
    },
  }, ns);
}

const status = (value: number, name: string, good: boolean) => ({ value, name, isGood: () => good });

describe('opcua lib: convert', () => {
  it('turns 64-bit integers, typed arrays and localized text into plain values', () => {
    expect(plainValue([0, 5], 8)).to.equal(5);
    expect(plainValue([1, 0], 9)).to.equal(4294967296);
    expect(plainValue([-1, 0xffffffff], 8)).to.equal(-1);
    expect(plainValue([[0, 1], [0, 2]], 9)).to.deep.equal([1, 2]);
    expect(plainValue(new Float64Array([1.5, 2.5]), 11)).to.deep.equal([1.5, 2.5]);
    expect(plainValue({ text: 'running', locale: 'en' }, 21)).to.equal('running');
    expect(plainValue(undefined)).to.equal(null);
    expect(plainValue(3.25, 11)).to.equal(3.25);
  });

  it('marks bad quality without touching the value', () => {
    const bad = toSample({ value: { value: null, dataType: 0 }, statusCode: status(0x808d0000, 'BadSensorFailure', false) }, 1000);
    expect(bad.value).to.equal(null);
    expect(bad.quality).to.deep.equal({ good: false, status: 'BadSensorFailure', code: 0x808d0000 });
    const uncertain = qualityOf({ statusCode: status(0x40000000, 'Uncertain', false) });
    expect(uncertain.good).to.equal(false);
    expect(qualityOf({}).good).to.equal(true);
  });

  it('takes Good from the severity bits: Good subcodes and info bits are good, Uncertain and Bad are not', () => {
    expect(qualityOf({ statusCode: status(0x00300000, 'GoodClamped', false) })).to.deep.equal({ good: true, status: 'GoodClamped', code: 0x00300000 });
    expect(qualityOf({ statusCode: status(0x00d90000, 'GoodLocalOverride', false) }).good).to.equal(true);
    expect(qualityOf({ statusCode: status(0x480, 'Good#Overflow', false) }).good).to.equal(true);
    expect(qualityOf({ statusCode: status(0x40920000, 'UncertainSubNormal', false) }).good).to.equal(false);
    expect(qualityOf({ statusCode: status(0x80000000, 'Bad', false) }).good).to.equal(false);
    expect(qualityOf({ statusCode: status(0xc0000000 | 0, 'Bad?', false) }).code).to.equal(0xc0000000);
    expect(severityOf(0x00300000)).to.equal('good');
    expect(severityOf(0x40000000)).to.equal('uncertain');
    expect(severityOf(0x80000000)).to.equal('bad');
    expect(hasOverflow(0x480)).to.equal(true);
    expect(hasOverflow(0x80)).to.equal(false); // Overflow without the DataValue info type
    expect(hasOverflow(0x400)).to.equal(false);
  });

  it('passes 64-bit integers beyond 2^53 exactly as decimal strings, safe ones as numbers', () => {
    expect(plainValue([0x200000, 1], 8)).to.equal('9007199254740993');
    expect(plainValue([0x1fffff, 0xffffffff], 8)).to.equal(Number.MAX_SAFE_INTEGER);
    expect(plainValue([0xffffffff, 0xffffffff], 9)).to.equal('18446744073709551615');
    expect(plainValue([0x80000000, 0], 8)).to.equal('-9223372036854775808');
    expect(plainValue([[0, 7], [0x200000, 1]], 9)).to.deep.equal([7, '9007199254740993']);
    expect(plainValue(2n ** 60n, 8)).to.equal('1152921504606846976');
    expect(plainValue(5n, 8)).to.equal(5);
  });

  it('prefers the source timestamp, then the server timestamp, then the time of receipt', () => {
    expect(timestampOf({ sourceTimestamp: new Date(10), serverTimestamp: new Date(20) }, 30)).to.equal(10);
    expect(timestampOf({ sourceTimestamp: null, serverTimestamp: new Date(20) }, 30)).to.equal(20);
    expect(timestampOf({}, 30)).to.equal(30);
  });
});

describe('opcua lib: channels and settings', () => {
  it('parses editor lists and text lines, naming by identifier when no name is given', () => {
    expect(parseChannels([{ name: 'v', nodeId: 'ns=1;s=Machine1.Vibration' }])).to.deep.equal([{ name: 'v', nodeId: 'ns=1;s=Machine1.Vibration' }]);
    expect(parseChannels('speed = ns=1;s=Machine1.Speed\n# comment\nns=2;i=1001\n')).to.deep.equal([
      { name: 'speed', nodeId: 'ns=1;s=Machine1.Speed' },
      { name: '1001', nodeId: 'ns=2;i=1001' },
    ]);
  });

  it('rejects bad NodeIds, duplicate names and empty lists with coded errors, every problem named, in German too', () => {
    const err = (() => { try { parseChannels([{ name: 'a', nodeId: 'ns=x;q=1' }, { name: 'b', nodeId: '' }]); } catch (e) { return e; } })();
    expect(err).to.be.instanceOf(CodedErrors);
    expect((err as CodedErrors).problems.map((p) => p.code)).to.deep.equal(['channelBadNodeId', 'channelNoNodeId']);
    expect((err as CodedErrors).problems[0].params).to.deep.equal({ channel: 1, nodeId: 'ns=x;q=1' });
    const de = german('mlops-opcua-read');
    expect(de.errorText(err)).to.equal('Kanal 1: "ns=x;q=1" ist keine gültige NodeId (erwartet z. B. "ns=1;s=Machine1.Speed" oder "ns=2;i=1001"); Kanal 2: eine NodeId wie "ns=1;s=Machine1.Speed" ist nötig');
    expect(de.errorText(err)).to.match(/^Kanal 1: "ns=x;q=1" ist keine gültige NodeId/); // one text where one fits

    expect(() => parseChannels([{ name: 'a', nodeId: 'ns=x;q=1' }])).to.throw(/not a valid NodeId.*expected/);
    expect(() => parseChannels([{ name: 'a', nodeId: 'ns=1;i=1' }, { name: 'a', nodeId: 'ns=1;i=2' }])).to.throw(/used twice/);
    expect(() => parseChannels([])).to.throw(/at least one channel/);
    expect(() => parseChannels(42)).to.throw(/must be a list/);
  });

  it('says when the settings make the server drop changes: a queue smaller than publishing / sampling', () => {
    expect(queueLoss(DEFAULT_SETTINGS), 'the defaults lose nothing').to.equal(undefined);
    expect(queueLoss({ samplingIntervalMs: 100, publishingIntervalMs: 500, queueSize: 1 })).to.deep.equal({ perPublish: 5, kept: 1 });
    expect(queueLoss({ samplingIntervalMs: 100, publishingIntervalMs: 500, queueSize: 5 })).to.equal(undefined);
    expect(queueLoss({ samplingIntervalMs: 30, publishingIntervalMs: 100, queueSize: 3 })).to.deep.equal({ perPublish: 4, kept: 3 });
    expect(queueLoss({ samplingIntervalMs: 100, publishingIntervalMs: 100, queueSize: 1 })).to.equal(undefined);
    // sampling 0 is the server's fastest rate: unknown here, nothing said
    expect(queueLoss({ samplingIntervalMs: 0, publishingIntervalMs: 500, queueSize: 1 })).to.equal(undefined);
  });

  it('validates subscription settings', () => {
    expect(validateSettings(DEFAULT_SETTINGS)).to.deep.equal([]);
    expect(validateSettings({ ...DEFAULT_SETTINGS, queueSize: 0 }).map((e) => e.message).join()).to.match(/queueSize must be at least 1/);
    expect(validateSettings({ ...DEFAULT_SETTINGS, publishingIntervalMs: NaN }).map((e) => e.message).join()).to.match(/publishingInterval must be a number/);
    expect(validateSettings({ ...DEFAULT_SETTINGS, deadband: -1 }).map((e) => e.message).join()).to.match(/deadband must be at least 0/);
  });

  it('reads the settings of a node configuration: empty fields take their default, a bad value is an error naming field and value', () => {
    expect(settingsFromConfig({ samplingInterval: '', publishingInterval: '250', queueSize: 5 })).to.deep.equal({ samplingIntervalMs: 100, publishingIntervalMs: 250, queueSize: 5, deadband: 0 });
    const bad = (def: object) => { try { settingsFromConfig(def); } catch (e) { return e as CodedError; } return undefined; };
    expect(bad({ samplingInterval: 'fast' })).to.include({ code: 'notNumber', catalog: 'mlops-common' }).and.have.deep.property('params', { field: 'samplingInterval', value: 'fast' });
    expect(bad({ queueSize: '2.5' })?.code).to.equal('notInteger');
    expect(bad({ queueSize: 20000 })?.code).to.equal('aboveMax');
    expect(bad({ deadband: '-0.1' })?.message).to.equal('deadband must be at least 0, got -0.1');
  });
});

describe('opcua lib: subscription counts from the granted session timeout', () => {
  it('keeps keep-alive x publishing interval within the session timeout', () => {
    expect(fitToSessionTimeout(500, 60000)).to.deep.equal({ publishingIntervalMs: 500, maxKeepAliveCount: 10, lifetimeCount: 120 });
    const short = fitToSessionTimeout(1000, 3000); // 10 x 1000 ms would exceed 3 s
    expect(short.publishingIntervalMs * short.maxKeepAliveCount).to.be.at.most(3000);
    expect(short.maxKeepAliveCount).to.be.at.least(3);
    expect(short.lifetimeCount).to.be.at.least(3 * short.maxKeepAliveCount);
    const tiny = fitToSessionTimeout(5000, 2000); // even 3 intervals do not fit: the interval shrinks
    expect(tiny.maxKeepAliveCount).to.equal(3);
    expect(tiny.publishingIntervalMs * 3).to.be.at.most(2000);
    expect(fitToSessionTimeout(100, 0).maxKeepAliveCount).to.equal(10);
  });
});

describe('opcua lib: assembling a publish cycle', () => {
  const good = { good: true, status: 'Good', code: 0 };
  const s = (value: number, timestamp: number) => ({ value, timestamp, quality: good });
  it('aligns one value per channel, the last one winning', () => {
    const m = assembleSamples(['a', 'b'], [{ index: 0, sample: s(1, 10) }, { index: 1, sample: s(2, 11) }, { index: 0, sample: s(3, 12) }], false);
    expect(m.payload).to.deep.equal({ a: 3, b: 2 });
    expect(m.timestamps).to.deep.equal({ a: 12, b: 11 });
  });
  it('keeps every queued value in order as arrays', () => {
    const m = assembleSamples(['a', 'b'], [{ index: 0, sample: s(1, 10) }, { index: 1, sample: s(2, 11) }, { index: 0, sample: s(3, 12) }], true);
    expect(m.payload).to.deep.equal({ a: [1, 3], b: [2] });
    expect(m.timestamps).to.deep.equal({ a: [10, 12], b: [11] });
    expect(m.quality.a).to.have.length(2);
  });
});

describe('opcua lib: endpoint options', () => {
  const base = { endpointUrl: 'opc.tcp://127.0.0.1:4840/UA', securityMode: 'SignAndEncrypt' as const, securityPolicy: 'Basic256Sha256' as const, pkiFolder: '/tmp/x' };
  it('accepts a valid secure endpoint', () => {
    expect(validateEndpointOptions(base)).to.deep.equal([]);
  });
  it('accepts IPv6 addresses in brackets, host names and ${ENV}-free URLs without a port, rejects the rest', () => {
    for (const url of ['opc.tcp://[::1]:4840', 'opc.tcp://[fe80::1]:4840', 'opc.tcp://[2001:db8::7]:48010/UA/Server', 'opc.tcp://plc-7.local', 'opc.tcp://10.0.0.2:4840/'])
      expect(validateEndpointOptions({ ...base, endpointUrl: url }), url).to.deep.equal([]);
    for (const url of ['opc.tcp://::1:4840', 'opc.tcp://[::1', 'opc.tcp://host:0', 'opc.tcp://host:70000', 'opc.tcp://', 'tcp://host:4840', 'opc.tcp://a b:4840'])
      expect(validateEndpointOptions({ ...base, endpointUrl: url }).map((e) => e.code), url).to.deep.equal(['badUrl']);
  });
  it('names every problem as a coded error, in German too', () => {
    const p = validateEndpointOptions({ ...base, endpointUrl: 'http://x', securityPolicy: 'None', username: 'u' });
    expect(p.map((e) => e.code)).to.deep.equal(['badUrl', 'badPolicy', 'noPassword']);
    expect(p.every((e) => isCoded(e) && e.catalog === 'mlops-opcua-endpoint')).to.equal(true);
    expect(p.map((e) => e.message).join('\n')).to.match(/opc\.tcp/).and.match(/security policy/).and.match(/password/);
    const de = german('mlops-opcua-endpoint');
    expect(de.errorText(p[0])).to.equal('die Endpunkt-URL muss wie opc.tcp://host:4840/pfad (oder opc.tcp://[::1]:4840) aussehen, erhalten: "http://x"');
    expect(() => new OpcuaConnection({ ...base, securityMode: 'Bogus' as never })).to.throw(/security mode must be one of/);
    const several = (() => { try { new OpcuaConnection({ ...base, endpointUrl: 'x', pkiFolder: '' }); } catch (e) { return e; } })();
    expect(de.errorText(several)).to.match(/^die Endpunkt-URL .*; ein PKI-Ordner ist nötig$/);
  });
  it('has every code it throws in both catalogs, with the same placeholders', () => {
    for (const ns of ['mlops-opcua-endpoint', 'mlops-opcua-read']) {
      const cat = (lang: string) => JSON.parse(fs.readFileSync(path.join(__dirname, '../../locales', lang, `${ns}.json`), 'utf8'))[ns].errors as Record<string, string>;
      const en = cat('en-US');
      const de = cat('de');
      const src = ['connection', 'reader', 'browse', 'pki', 'probe', 'admin'].map((f) => fs.readFileSync(path.join(__dirname, '../../nodes/lib/opcua', `${f}.ts`), 'utf8')).join('\n')
        + fs.readFileSync(path.join(__dirname, '../../nodes', `${ns}.ts`), 'utf8');
      const fn = ns === 'mlops-opcua-read' ? 'readError' : 'endpointError';
      const codes = [...src.matchAll(new RegExp(`${fn}\\('(\\w+)'`, 'g'))].map((m) => m[1]);
      expect(codes.length, ns).to.be.greaterThan(3);
      for (const code of codes) {
        expect(en, `${ns} en-US ${code}`).to.have.property(code);
        expect(de, `${ns} de ${code}`).to.have.property(code);
        const vars = (t: string) => [...t.matchAll(/__(\w+?)__/g)].map((m) => m[1]).sort();
        expect(vars(de[code]), `${ns} ${code}`).to.deep.equal(vars(en[code]));
      }
    }
  });
  it('classifies certificate and credential failures', () => {
    expect(classifyError(new Error('BadCertificateUntrusted (0x801a0000)'))).to.equal('untrusted');
    expect(classifyError(new Error('BadUserAccessDenied'))).to.equal('denied');
    expect(classifyError(new Error('connect ECONNREFUSED'))).to.equal('reconnecting');
    // the server refusing this client's certificate, as node-opcua reports it (with a signed channel only)
    expect(classifyError(new Error('The connection has been rejected by server: BadSecurityChecksFailed (0x80130000)'), 'SignAndEncrypt')).to.equal('refused');
    expect(classifyError(new Error('The connection may have been rejected by server,\n Err = (socket closed)'), 'Sign')).to.equal('refused');
    expect(classifyError(new Error('The connection has been rejected by server: BadCertificateUntrusted (0x801a0000)'), 'Sign')).to.equal('refused');
    expect(classifyError(new Error('The connection may have been rejected by server,\n Err = (socket closed)'), 'None')).to.equal('reconnecting');
  });
  it('tells the reasons of a failed test connection apart (messages as node-opcua 2.182 gives them)', () => {
    expect(probeKind(new Error('server Certificate verification failed with err BadCertificateUntrusted (0x801a0000)'))).to.equal('untrusted');
    expect(probeKind(new Error('BadUserAccessDenied (0x801f0000)'))).to.equal('denied');
    expect(probeKind(new Error('The connection cannot be established with server opc.tcp://127.0.0.1:1 .\nErr = (connect ECONNREFUSED 127.0.0.1:1)'))).to.equal('unreachable');
    expect(probeKind(new Error('The connection may have been rejected by server,\n Err = (getaddrinfo ENOTFOUND nonexistent.invalid)'))).to.equal('unreachable');
    expect(probeKind(new Error('BadSecurityPolicyRejected (0x80550000)'))).to.equal('security');
    expect(probeKind(new Error('something else'))).to.equal('failed');
  });
});
