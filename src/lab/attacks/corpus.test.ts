import { describe, expect, it } from 'vitest';
import { itCorpus } from '../../../test/support/corpus.js';
import { CORPUS_DIR } from '../../../test/support/corpus-dir.js';
import { countRequests } from '../modsec/http1.js';
import { buildCorpus } from './index.js';

describe('shield corpus', () => {
  const corpus = buildCorpus({ corpusDir: CORPUS_DIR });

  it('has unique names and well-formed labels', () => {
    const all = [...corpus.attacks, ...corpus.benign];
    expect(new Set(all.map((r) => r.name)).size).toBe(all.length);
    for (const r of corpus.attacks) expect(r.expect).toBe('block');
    for (const r of corpus.benign) expect(r.expect).toBe('allow');
    for (const r of all) {
      expect(r.raw.length).toBeGreaterThan(10);
      expect(r.source.length).toBeGreaterThan(0);
    }
  });

  it('labels the forms only strict.conf blocks', () => {
    expect(corpus.attacks.filter((r) => r.strictOnly).map((r) => r.name)).toEqual([
      'fqdn-discovery',
      'evasion-backslash-path',
    ]);
  });

  it('covers the scanners, the real attack, 27065 and the evasions', () => {
    const names = corpus.attacks.map((r) => r.name);
    for (const n of [
      'nse-x.js',
      'msf-scanner-x.js-post',
      'nuclei-x.js',
      'y.js-autodiscover',
      '27065-setobject-oab',
    ]) {
      expect(names).toContain(n);
    }
    expect(names.filter((n) => n.startsWith('evasion-')).length).toBeGreaterThanOrEqual(12);
    const pipelined = corpus.attacks.filter((r) => r.name.startsWith('evasion-pipelined'));
    for (const r of pipelined) expect(countRequests(r.raw)).toBe(2);
  });

  it('benign Exchange cookies never carry an X-AnonResource-Backend cookie', () => {
    for (const r of corpus.benign)
      expect(r.raw.toString('latin1').toLowerCase()).not.toContain('x-anonresource-backend');
  });

  itCorpus('reads the shared GoTestWAF and CRS corpora at run time', () => {
    const bySource = (p: string) => corpus.benign.filter((r) => r.source.startsWith(p)).length;
    expect(bySource('gotestwaf')).toBeGreaterThan(500);
    expect(bySource('crs-regression')).toBeGreaterThan(500);
  });
});
