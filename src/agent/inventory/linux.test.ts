import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { assetFactsValidator } from '../../core/exposure/facts.js';
import { PRODUCT_ID_RE } from '../../core/inventory/lines.js';
import { collectInventory, factsHash, type Runner } from './index.js';
import {
  DPKG_FORMAT,
  dpkgProducts,
  osFact,
  parseDpkg,
  parseOsRelease,
  parseRpm,
  RPM_DATABASES,
  RPM_FORMAT,
  rpmProducts,
} from './linux.js';

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');

/** A runner answering from recorded outputs, recording what was asked. */
function recorded(outputs: Record<string, string | Error>, calls: string[][] = []): Runner {
  return async (cmd, args) => {
    calls.push([cmd, ...args]);
    const out = outputs[cmd];
    if (out === undefined) throw Object.assign(new Error(`${cmd}: not found`), { code: 'ENOENT' });
    if (out instanceof Error) throw out;
    return out;
  };
}

describe('dpkg', () => {
  it('parses recorded dpkg-query output: exact versions, installed packages only, arch-qualified names kept', () => {
    const pkgs = parseDpkg(fixture('dpkg-query.txt'));
    expect(pkgs.map((p) => p.printed)).not.toContain('oldpkg'); // rc: only its configuration files remain
    expect(pkgs.map((p) => p.printed)).not.toContain('ghost');
    expect(pkgs).toContainEqual({ printed: 'bsdutils', name: 'bsdutils', version: '1:2.38.1-5+deb12u3' });
    expect(pkgs).toContainEqual({ printed: 'libssl3:amd64', name: 'libssl3', version: '3.0.19-1~deb12u2' });
    expect(pkgs).toContainEqual({ printed: 'libc6:i386', name: 'libc6', version: '2.36-9+deb12u14' });
    const products = dpkgProducts(pkgs, 'debian');
    // Ids as dpkg prints the names: two architectures of one package stay two facts.
    expect(products).toContainEqual({ product: 'pkg:deb/debian/libssl3:amd64', version: '3.0.19-1~deb12u2' });
    expect(products).toContainEqual({ product: 'pkg:deb/debian/libc6:i386', version: '2.36-9+deb12u14' });
    expect(products).toContainEqual({ product: 'pkg:deb/debian/openssl', version: '3.0.19-1~deb12u2' });
    expect(products).toContainEqual({
      product: 'pkg:deb/debian/libstdc++6:amd64',
      version: '12.2.0-14+deb12u1',
    });
  });

  it('reads plain `dpkg-query -W` output (no status column) as installed', () => {
    expect(parseDpkg('libc6:amd64\t2.36-9\nbash\t5.2.15-2+b2\n')).toEqual([
      { printed: 'libc6:amd64', name: 'libc6', version: '2.36-9' },
      { printed: 'bash', name: 'bash', version: '5.2.15-2+b2' },
    ]);
  });
});

describe('rpm', () => {
  it('parses rpm -qa output in RPM_FORMAT: [epoch:]version-release, no gpg-pubkey, names lower-cased in ids', () => {
    const pkgs = parseRpm(fixture('rpm-qa-fedora40.txt'));
    expect(pkgs.map((p) => p.name)).not.toContain('gpg-pubkey');
    expect(pkgs).toContainEqual({ name: 'openssl-libs', version: '1:3.2.1-2.fc40', arch: 'x86_64' });
    const products = rpmProducts(pkgs, 'fedora');
    expect(products).toContainEqual({ product: 'pkg:rpm/fedora/openssl-libs', version: '1:3.2.1-2.fc40' });
    expect(products).toContainEqual({
      product: 'pkg:rpm/fedora/networkmanager',
      version: '1:1.46.0-1.fc40',
      name: 'NetworkManager',
    });
    expect(products.length).toBe(6);
  });

  it('refuses the (none): epoch an unguarded query format prints', () => {
    expect(parseRpm('bash\t(none):5.2-1\tx86_64\n')).toEqual([]);
  });
});

describe('os-release', () => {
  it('maps distributions to product ids the advisory model accepts', () => {
    expect(osFact(parseOsRelease(fixture('os-release-debian12.txt')))).toEqual({
      product: 'debian:debian_linux',
      version: '12',
      name: 'Debian GNU/Linux 12 (bookworm)',
    });
    expect(osFact(parseOsRelease(fixture('os-release-ubuntu2204.txt')))).toMatchObject({
      product: 'canonical:ubuntu_linux',
      version: '22.04',
    });
    expect(osFact(parseOsRelease(fixture('os-release-fedora40.txt')))).toMatchObject({
      product: 'fedoraproject:fedora',
      version: '40',
    });
    // Debian testing has no VERSION_ID: /etc/debian_version says which.
    const sid = parseOsRelease(fixture('os-release-debian-sid.txt'));
    expect(osFact(sid, 'trixie/sid\n')).toMatchObject({
      product: 'debian:debian_linux',
      version: 'trixie/sid',
    });
    expect(osFact(sid)).toBeUndefined();
  });
});

describe('collectInventory (recorded outputs)', () => {
  const files: Record<string, string> = {
    '/etc/os-release': fixture('os-release-fedora40.txt'),
  };
  it('runs dpkg-query and rpm with explicit formats; rpm only where it has a database', async () => {
    const calls: string[][] = [];
    const facts = await collectInventory({
      platform: 'linux',
      hostname: 'web01',
      run: recorded({ rpm: fixture('rpm-qa-fedora40.txt'), uname: '6.8.5-301.fc40.x86_64\n' }, calls),
      readFile: (p) => files[p],
      exists: (p) => p === '/var/lib/rpm/rpmdb.sqlite',
    });
    expect(calls).toContainEqual(['dpkg-query', '-W', '-f', DPKG_FORMAT]);
    expect(calls).toContainEqual(['rpm', '-qa', '--qf', RPM_FORMAT]);
    expect(facts.os).toMatchObject({ product: 'fedoraproject:fedora', version: '40' });
    expect(facts.products).toContainEqual({
      product: 'linux:linux_kernel',
      version: '6.8.5-301.fc40.x86_64',
      name: 'Linux kernel (running)',
    });
    expect(facts.tags).toEqual(['linux', 'rpm']);
    expect(assetFactsValidator.safeParse(facts).success).toBe(true);

    const noDb: string[][] = [];
    await collectInventory({
      platform: 'linux',
      run: recorded({ uname: '6.8.5\n' }, noDb),
      readFile: (p) => files[p],
      exists: () => false,
    });
    expect(noDb.map((c) => c[0])).not.toContain('rpm');
  });

  it('a package manager that fails (not one that is absent) fails the collection', async () => {
    await expect(
      collectInventory({
        platform: 'linux',
        run: recorded({ 'dpkg-query': new Error('dpkg-query: error: database is locked') }),
        readFile: () => undefined,
        exists: () => false,
      }),
    ).rejects.toThrow(/database is locked/);
  });
});

describe('parsers under hostile input', () => {
  const hostile = fc.oneof(
    fc.string({ maxLength: 400 }),
    fc
      .array(
        fc
          .tuple(fc.string({ maxLength: 40 }), fc.string({ maxLength: 40 }), fc.string({ maxLength: 4 }))
          .map((t) => t.join('\t')),
        { maxLength: 30 },
      )
      .map((lines) => lines.join('\n')),
    fc.constant(`${'x'.repeat(10_000)}\t1.0\tii\n`),
  );

  it('never throw, and keep only valid product facts', () => {
    fc.assert(
      fc.property(hostile, (text) => {
        const deb = dpkgProducts(parseDpkg(text), 'debian');
        const rpm = rpmProducts(parseRpm(text), 'redhat');
        for (const p of [...deb, ...rpm]) {
          expect(p.product).toMatch(PRODUCT_ID_RE);
          expect(p.version.length).toBeGreaterThan(0);
          expect(p.version).not.toMatch(/\s/);
        }
        const release = parseOsRelease(text);
        const os = osFact(release, text);
        if (os) expect(os.product).toMatch(PRODUCT_ID_RE);
        expect(
          assetFactsValidator.safeParse({ id: 'h', products: [...deb, ...rpm], ...(os ? { os } : {}) })
            .success,
        ).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });

  it('bound what they return', () => {
    const many = 'p\t1\tii\n'.repeat(100_000);
    expect(parseDpkg(many).length).toBe(20_000);
    expect(parseDpkg('a\t1\tii\n'.padStart(5000, 'x'))).toEqual([]);
  });
});

const hasDpkg = (() => {
  try {
    execFileSync('dpkg-query', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe.skipIf(!hasDpkg)('collectInventory on this machine', () => {
  it('holds every package `dpkg-query -W` prints, with its exact version', async () => {
    const facts = await collectInventory();
    expect(assetFactsValidator.safeParse(facts).success).toBe(true);
    const printed = execFileSync('dpkg-query', ['-W'], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split('\t') as [string, string]);
    // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own ${field} syntax
    const status = execFileSync('dpkg-query', ['-W', '-f', '${db:Status-Abbrev}\n'], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean);
    // Every package whose files are installed (not config-files / not-installed), as dpkg prints it.
    const installed = printed.filter((_, i) => !/^.[nc]/.test(status[i]!));
    const deb = facts.products.filter((p) => p.product.startsWith('pkg:deb/'));
    // The acceptance check's reading: pkg:deb/debian/<name> with <name> and version exactly as printed.
    const got = deb.map((p) => `${p.product}\t${p.version}`).sort();
    expect(got).toEqual(installed.map(([n, v]) => `pkg:deb/debian/${n}\t${v}`).sort());
    expect(facts.os?.product).toMatch(/^[a-z0-9]/);
    expect(factsHash(facts)).toBe(factsHash(await collectInventory()));
  });

  it.skipIf(!RPM_DATABASES.some((p) => existsSync(p)))('holds every package `rpm -qa` prints', async () => {
    const facts = await collectInventory();
    const names = execFileSync('rpm', ['-qa', '--qf', '%{NAME}\n'], { encoding: 'utf8' })
      .split('\n')
      .filter((n) => n && n !== 'gpg-pubkey');
    const rpm = facts.products.filter((p) => p.product.startsWith('pkg:rpm/'));
    expect(rpm.length).toBe(names.length);
  });
});
