/**
 * Every node the package registers speaks English and German alike: the de catalog has every key
 * of the en-US one (and no other), no German text names a __placeholder__ the English one lacks, and the help
 * of a node that takes messages says what goes in and out.
 */
import { expect } from 'chai';
import * as fs from 'fs';
import * as path from 'path';

const root = path.join(__dirname, '..', '..');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { 'node-red': { nodes: Record<string, string> } };
const CONFIG = ['mlops-opcua-endpoint', 'mlops-mqtt-broker', 'mlops-registry'];

/** Every leaf of a catalog as key -> text. */
function leaves(o: unknown, prefix = ''): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, v] of Object.entries(o as Record<string, unknown>)) {
    if (v !== null && typeof v === 'object') for (const [kk, vv] of leaves(v, `${prefix}${k}.`)) out.set(kk, vv);
    else out.set(`${prefix}${k}`, String(v));
  }
  return out;
}
const placeholders = (s: string) => [...s.matchAll(/__(\w+)__/g)].map((m) => m[1]).sort();

describe('the nodes\' texts in en-US and de', () => {
  for (const type of Object.keys(pkg['node-red'].nodes)) {
    it(`${type}: the same keys and placeholders in both languages; help with what goes in and out`, () => {
      const read = (lang: string) => leaves(JSON.parse(fs.readFileSync(path.join(root, 'locales', lang, `${type}.json`), 'utf8')));
      const en = read('en-US');
      const de = read('de');
      expect([...de.keys()].sort()).to.deep.equal([...en.keys()].sort());
      // a placeholder the English text does not have would be shown as __name__ (the German may leave one out, e.g. an English word)
      for (const [k, v] of en) for (const p of placeholders(de.get(k)!)) expect(placeholders(v), `${type} de ${k}: __${p}__`).to.include(p);
      for (const [lang, words] of [['en-US', [/<h3>Inputs<\/h3>/, /<h3>Outputs<\/h3>/, /<h3>Details<\/h3>/]], ['de', [/<h3>Eing(änge|aben)<\/h3>/, /<h3>Ausg(änge|aben)<\/h3>/, /<h3>Details<\/h3>/]]] as const) {
        const help = fs.readFileSync(path.join(root, 'locales', lang, `${type}.html`), 'utf8');
        expect(help).to.include(`data-help-name="${type}"`);
        for (const w of CONFIG.includes(type) ? [words[2]] : words) expect(help, `${type} ${lang} help`).to.match(w);
      }
    });
  }
});

describe('the editor plugins\' texts in en-US and de', () => {
  const plugins = Object.keys((pkg['node-red'] as { plugins?: Record<string, string> }).plugins ?? {});
  for (const name of plugins.filter((p) => fs.existsSync(path.join(root, 'locales', 'en-US', `${p}.json`)))) {
    it(`${name}: the same keys and placeholders in both languages`, () => {
      const read = (lang: string) => leaves(JSON.parse(fs.readFileSync(path.join(root, 'locales', lang, `${name}.json`), 'utf8')));
      const en = read('en-US');
      const de = read('de');
      expect([...de.keys()].sort()).to.deep.equal([...en.keys()].sort());
      for (const [k, v] of en) for (const p of placeholders(de.get(k)!)) expect(placeholders(v), `${name} de ${k}: __${p}__`).to.include(p);
    });
  }
  it('the approvals sidebar has its catalog', () => expect(plugins).to.include('mlops-approval'));
});
