/**
 * Bulwark promises to run on the Node.js versions its package.json names. Every installed package that declares its
 * own `engines.node` must accept the oldest of them, or `npm ci` warns (EBADENGINE) and the promise is false.
 */
import { readFileSync } from 'node:fs';
import semver from 'semver';
import { describe, expect, it } from 'vitest';

const root = new URL('../', import.meta.url);
const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as { engines: { node: string } };
const lock = JSON.parse(readFileSync(new URL('package-lock.json', root), 'utf8')) as {
  packages: Record<string, { version?: string; engines?: { node?: string } | string[]; dev?: boolean }>;
};

describe('supported Node.js versions', () => {
  const oldest = semver.minVersion(pkg.engines.node)!.version;

  it('the machine running the tests is a supported version', () => {
    expect(semver.satisfies(process.versions.node, pkg.engines.node), process.versions.node).toBe(true);
  });

  it(`every locked package accepts the oldest supported version (${oldest})`, () => {
    const refusing = Object.entries(lock.packages)
      .filter(([path, p]) => path !== '' && p.engines && !Array.isArray(p.engines) && p.engines.node)
      .filter(([, p]) => !semver.satisfies(oldest, (p.engines as { node: string }).node))
      .map(
        ([path, p]) =>
          `${path.replace(/^.*node_modules\//, '')}@${p.version} wants node ${(p.engines as { node: string }).node}`,
      );
    expect(refusing).toEqual([]);
  });
});
