/**
 * The Linux inventory: the distribution from /etc/os-release, the running kernel (`uname -r`), every dpkg
 * package and, where rpm has a database, every rpm package, each with the exact version its package manager
 * prints.
 *
 * Product ids:
 * - dpkg: `pkg:deb/<debian|ubuntu>/<name>` (ubuntu on Ubuntu, debian elsewhere), the version exactly as
 *   `dpkg-query -W` prints it, and the name exactly as it prints it too: a Multi-Arch: same package is printed
 *   architecture-qualified (`libc6:amd64`, and `libc6:i386` beside it when both are installed), so each
 *   architecture stays its own fact; the exposure engine matches it to advisories naming `pkg:deb/debian/libc6`
 *   (core/products.ts advisoryProductId). Only packages whose
 *   files are on the disk count: the ones in state config-files or not-installed are left out.
 * - rpm: `pkg:rpm/<vendor>/<name>`, the vendor from os-release (redhat, fedora, opensuse, …), the name
 *   lower-cased (advisory importers lower-case package URLs) with the printed name kept as `name` when it
 *   differs, the version `[epoch:]version-release`. The `gpg-pubkey` entries are keys, not software.
 * - the distribution from os-release's CPE_NAME when it has one (`cpe:/o:fedoraproject:fedora:40` →
 *   `fedoraproject:fedora` 40), else a known id (`debian:debian_linux`, `canonical:ubuntu_linux`), with
 *   VERSION_ID (Debian testing has none: /etc/debian_version then); without a version there is no os fact.
 * - the running kernel as `linux:linux_kernel` with `uname -r`'s release.
 */
import type { ProductFact } from '../../core/exposure/facts.js';
import { boundedLines, cleanField, MAX_ENTRIES, PRODUCT_ID_RE } from '../../core/inventory/lines.js';

/** dpkg-query's format: the name as `dpkg-query -W` prints it, the version, the status abbreviation. */
// biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own ${field} syntax
export const DPKG_FORMAT = '${binary:Package}\\t${Version}\\t${db:Status-Abbrev}\\n';
/** rpm's query format: name, [epoch:]version-release, architecture. */
export const RPM_FORMAT = '%{NAME}\\t%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}\\t%{ARCH}\\n';

/** Files whose presence means rpm has a package database (rpm itself would create an empty one). */
export const RPM_DATABASES = [
  '/var/lib/rpm/rpmdb.sqlite',
  '/var/lib/rpm/Packages',
  '/var/lib/rpm/Packages.db',
  '/usr/lib/sysimage/rpm/rpmdb.sqlite',
  '/usr/lib/sysimage/rpm/Packages.db',
  '/usr/lib/sysimage/rpm/Packages',
];

export interface DpkgPackage {
  /** As dpkg-query prints it, possibly architecture-qualified (`libc6:amd64`). */
  printed: string;
  name: string;
  version: string;
}

/**
 * Parses `dpkg-query -W -f DPKG_FORMAT` output. A line without a status column (plain `dpkg-query -W`) counts
 * as installed. Malformed lines are skipped.
 */
export function parseDpkg(text: string): DpkgPackage[] {
  const out: DpkgPackage[] = [];
  for (const line of boundedLines(text)) {
    if (out.length >= MAX_ENTRIES) break;
    const [rawName, rawVersion, status] = line.split('\t');
    const printed = cleanField(rawName);
    const version = cleanField(rawVersion);
    if (!printed || !version) continue;
    // The second letter of the status abbreviation is the current state: n not-installed, c config-files.
    if (status !== undefined) {
      const current = status.trim()[1];
      if (current === undefined || current === 'n' || current === 'c') continue;
    }
    const name = printed.replace(/:[a-z0-9-]+$/, '');
    if (!/^[a-z0-9][a-z0-9+.-]*$/.test(name)) continue;
    out.push({ printed, name, version });
  }
  return out;
}

export interface RpmPackage {
  name: string;
  version: string;
  arch?: string;
}

/** Parses `rpm -qa --qf RPM_FORMAT` output; gpg-pubkey entries and malformed lines are skipped. */
export function parseRpm(text: string): RpmPackage[] {
  const out: RpmPackage[] = [];
  for (const line of boundedLines(text)) {
    if (out.length >= MAX_ENTRIES) break;
    const [rawName, rawVersion, rawArch] = line.split('\t');
    const name = cleanField(rawName);
    const version = cleanField(rawVersion);
    if (!name || !version || name === 'gpg-pubkey') continue;
    if (!/^[A-Za-z0-9_+.-]+$/.test(name) || version.startsWith('(none)') || !/-/.test(version)) continue;
    const arch = cleanField(rawArch);
    out.push({ name, version, ...(arch && arch !== '(none)' ? { arch } : {}) });
  }
  return out;
}

/** Parses /etc/os-release (KEY=value, values optionally quoted); unknown or malformed lines are skipped. */
export function parseOsRelease(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of boundedLines(text)) {
    const m = /^([A-Z][A-Z0-9_]{0,63})=(.*)$/.exec(line.trim());
    if (!m) continue;
    let v = m[2]!.trim();
    const q = v[0];
    if ((q === '"' || q === "'") && v.endsWith(q) && v.length >= 2) v = v.slice(1, -1);
    v = v.replace(/\\(["'$`\\])/g, '$1');
    if (v.length <= 512) out[m[1]!] = v;
  }
  return out;
}

const KNOWN_OS: Record<string, string> = {
  debian: 'debian:debian_linux',
  ubuntu: 'canonical:ubuntu_linux',
  rhel: 'redhat:enterprise_linux',
  centos: 'centos:centos',
  fedora: 'fedoraproject:fedora',
  rocky: 'rocky:rocky_linux',
  almalinux: 'almalinux:almalinux',
  sles: 'suse:linux_enterprise_server',
  'opensuse-leap': 'opensuse:leap',
  amzn: 'amazon:linux',
  alpine: 'alpinelinux:alpine_linux',
};

const RPM_VENDORS: Record<string, string> = {
  rhel: 'redhat',
  centos: 'centos',
  fedora: 'fedora',
  rocky: 'rocky',
  almalinux: 'almalinux',
  ol: 'oracle',
  amzn: 'amazon',
  sles: 'suse',
  'opensuse-leap': 'opensuse',
  'opensuse-tumbleweed': 'opensuse',
};

function slug(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9._+-]+/g, '_')
    .replace(/^[_.+-]+|_+$/g, '');
}

/** The distribution as a product fact, or undefined when os-release does not say which version it is. */
export function osFact(release: Record<string, string>, debianVersion?: string): ProductFact | undefined {
  const id = slug(release.ID ?? '');
  let product: string | undefined;
  let version = cleanField(release.VERSION_ID);
  const cpe = /^cpe:(?:2\.3:|\/)o:([^:]+):([^:]+)(?::([^:]+))?/.exec(release.CPE_NAME ?? '');
  if (cpe) {
    product = `${slug(cpe[1]!)}:${slug(cpe[2]!)}`;
    if (!version && cpe[3] && cpe[3] !== '*' && cpe[3] !== '-') version = cleanField(cpe[3]);
  }
  if (!product || !PRODUCT_ID_RE.test(product)) product = KNOWN_OS[id] ?? (id ? `${id}:${id}` : undefined);
  if (!version && id === 'debian') version = cleanField(debianVersion?.split('\n')[0]);
  if (!product || !version || !PRODUCT_ID_RE.test(product)) return undefined;
  const name = release.PRETTY_NAME?.slice(0, 200);
  return { product, version, ...(name ? { name } : {}) };
}

/** The deb namespace of package URLs on this distribution. */
export function debNamespace(release: Record<string, string>): string {
  return release.ID === 'ubuntu' ? 'ubuntu' : 'debian';
}

/** The rpm namespace (vendor) of package URLs on this distribution. */
export function rpmNamespace(release: Record<string, string>): string {
  const id = slug(release.ID ?? '');
  return RPM_VENDORS[id] ?? (id || 'rpm');
}

export function dpkgProducts(packages: DpkgPackage[], namespace: string): ProductFact[] {
  return packages.map((p) => ({
    product: `pkg:deb/${namespace}/${p.printed}`,
    version: p.version,
  }));
}

export function rpmProducts(packages: RpmPackage[], namespace: string): ProductFact[] {
  return packages.map((p) => {
    const lower = p.name.toLowerCase();
    return {
      product: `pkg:rpm/${namespace}/${lower}`,
      version: p.version,
      ...(lower !== p.name ? { name: p.name } : {}),
    };
  });
}

/** The running kernel's release as `uname -r` prints it, as a product fact. */
export function kernelFact(unameR: string): ProductFact | undefined {
  const version = cleanField(boundedLines(unameR)[0]);
  return version ? { product: 'linux:linux_kernel', version, name: 'Linux kernel (running)' } : undefined;
}
