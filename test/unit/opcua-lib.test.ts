import { expect } from 'chai';
import { plainValue, qualityOf, timestampOf, toSample } from '../../nodes/lib/opcua/convert';
import { assembleSamples, parseChannels, validateSettings, DEFAULT_SETTINGS } from '../../nodes/lib/opcua/reader';
import { classifyError, validateEndpointOptions, OpcuaConnection } from '../../nodes/lib/opcua/connection';

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

  it('rejects bad NodeIds, duplicate names and empty lists with a message saying what is expected', () => {
    expect(() => parseChannels([{ name: 'a', nodeId: 'ns=x;q=1' }])).to.throw(/not a valid NodeId.*expected/);
    expect(() => parseChannels([{ name: 'a', nodeId: 'ns=1;i=1' }, { name: 'a', nodeId: 'ns=1;i=2' }])).to.throw(/used twice/);
    expect(() => parseChannels([])).to.throw(/at least one channel/);
    expect(() => parseChannels(42)).to.throw(/must be a list/);
  });

  it('validates subscription settings', () => {
    expect(validateSettings(DEFAULT_SETTINGS)).to.deep.equal([]);
    expect(validateSettings({ ...DEFAULT_SETTINGS, queueSize: 0 }).join()).to.match(/queue size/);
    expect(validateSettings({ ...DEFAULT_SETTINGS, publishingIntervalMs: NaN }).join()).to.match(/publishing interval/);
    expect(validateSettings({ ...DEFAULT_SETTINGS, deadband: -1 }).join()).to.match(/deadband/);
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
  it('names every problem', () => {
    const p = validateEndpointOptions({ ...base, endpointUrl: 'http://x', securityPolicy: 'None', username: 'u' });
    expect(p.join('\n')).to.match(/opc\.tcp/).and.match(/security policy/).and.match(/password/);
    expect(() => new OpcuaConnection({ ...base, securityMode: 'Bogus' as never })).to.throw(/security mode must be one of/);
  });
  it('classifies certificate and credential failures', () => {
    expect(classifyError(new Error('BadCertificateUntrusted (0x801a0000)'))).to.equal('untrusted');
    expect(classifyError(new Error('BadUserAccessDenied'))).to.equal('denied');
    expect(classifyError(new Error('connect ECONNREFUSED'))).to.equal('reconnecting');
  });
});
