import { expect } from 'chai';
import { parsePullConfig } from '../../nodes/lib/registry/controller';
import { Outage } from '../../nodes/lib/registry/outage';
import { selectVersion } from '../../nodes/lib/registry/select';

describe('registry: which version to pull from the tags', () => {
  const tags = ['1.0.0', '1.2.0', 'v1.10.1', '2.0.0-rc.1', '1.2', 'latest', 'sha256-' + 'a'.repeat(64) + '.sig', 'nightly'];

  it('latest is the highest release among the version tags (v prefix read, pre-releases and other tags left out)', () => {
    expect(selectVersion('latest', tags)).to.deep.equal({ reference: 'v1.10.1', how: 'latest' });
    expect(selectVersion('latest', ['nightly', 'latest'])).to.deep.equal({ reference: 'latest', how: 'tag' });
    expect(() => selectVersion('latest', ['nightly'], 'models/x')).to.throw(/expected a tag that is a version \(1.2.3\) or a tag "latest" in models\/x, got tags: nightly/);
  });

  it('a semver range takes the highest tag satisfying it; a tag that exists as written wins', () => {
    expect(selectVersion('^1.1', tags)).to.deep.equal({ reference: 'v1.10.1', how: 'range' });
    expect(selectVersion('~1.2.0', tags)).to.deep.equal({ reference: '1.2.0', how: 'range' });
    expect(selectVersion('>=1.0.0 <1.2.0', tags)).to.deep.equal({ reference: '1.0.0', how: 'range' });
    expect(selectVersion('1.2', tags)).to.deep.equal({ reference: '1.2', how: 'tag' });
    expect(selectVersion('>=2.0.0-rc.0', tags)).to.deep.equal({ reference: '2.0.0-rc.1', how: 'range' });
    expect(selectVersion('nightly', tags)).to.deep.equal({ reference: 'nightly', how: 'tag' });
  });

  it('a digest is taken as it is; nothing that matches says what the tags are', () => {
    const d = 'sha256:' + 'b'.repeat(64);
    expect(selectVersion(d, [])).to.deep.equal({ reference: d, how: 'digest' });
    expect(() => selectVersion('^3', tags, 'models/x')).to.throw(/no tag of models\/x satisfies \^3 \(tags: 1.0.0, 1.2.0, v1.10.1/);
    expect(() => selectVersion('stable', tags, 'models/x')).to.throw(/no tag "stable" in models\/x .* and "stable" is no semver range/);
    expect(() => selectVersion('  ', tags)).to.throw(/expected a version to pull/);
  });
});

describe('registry: an unreachable registry', () => {
  it('backs off from 10 s doubling to 10 min, logs an outage once (again only for another reason), and its end once', () => {
    const o = new Outage(10_000, 600_000, () => 0.5); // no jitter
    const tries = Array.from({ length: 9 }, () => o.failed('ECONNREFUSED'));
    expect(tries.map((t) => t.retryInMs)).to.deep.equal([10_000, 20_000, 40_000, 80_000, 160_000, 320_000, 600_000, 600_000, 600_000]);
    expect(tries.filter((t) => t.log)).to.have.length(1);
    expect(o.failed('401').log).to.equal(true);
    expect(o.succeeded()).to.equal(true);
    expect(o.succeeded()).to.equal(false);
    expect(o.failed('ECONNREFUSED')).to.deep.equal({ log: true, retryInMs: 10_000 });
    // jitter within +-10 %
    const j = new Outage(10_000, 600_000, () => 0.999);
    expect(j.failed('x').retryInMs).to.be.within(10_900, 11_000);
  });
});

describe('registry pull: the node configuration', () => {
  const layout = { kind: 'layout' as const, location: '/x' };
  it('reads defaults, the version (the sha256 for a URL registry) and refuses what cannot work, saying why', () => {
    expect(parsePullConfig({ model: ' models/a ' }, layout)).to.deep.include({ model: 'models/a', version: 'latest', pollMs: 0, keep: 5, maxBytes: 2048 * 1024 * 1024, deployOnStart: true });
    expect(parsePullConfig({ model: 'u', version: '1', sha256: 'ab' }, { kind: 'url', location: '' }).version).to.equal('ab');
    expect(() => parsePullConfig({}, undefined)).to.throw(/expected a registry/);
    expect(() => parsePullConfig({ pollInterval: 5 }, layout)).to.throw(/at least 10 seconds, got 5/);
    expect(() => parsePullConfig({ mqttBroker: 'b', mqttTopic: 't' }, { kind: 'mlflow', location: 'http://m' })).to.throw(/expected an OCI registry or layout folder, got a mlflow registry/);
    expect(() => parsePullConfig({ mqttBroker: 'b' }, layout)).to.throw(/expected the MQTT topic/);
    expect(() => parsePullConfig({ mqttBroker: 'b', mqttTopic: 't' }, layout, 'bad url')).to.throw(/expected a working MQTT broker config node: bad url/);
    expect(parsePullConfig({ mqttBroker: 'b', mqttTopic: 'models/#' }, layout, undefined).topic).to.equal('models/#');
  });
});
