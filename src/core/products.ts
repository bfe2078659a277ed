/** Product ids the capabilities name in code (advisories and catalogs name the rest as data). */

/** Microsoft Exchange Server: the product the scanner fingerprints, `bulwark exchange` reports on and the lab emulates. */
export const EXCHANGE_PRODUCT = 'microsoft:exchange_server';

/**
 * The product id an advisory names for a product fact. dpkg prints a Multi-Arch: same package
 * architecture-qualified (`libssl3:amd64`) and the agent keeps that id exactly as printed, so two architectures
 * of one package stay two facts; advisories name the package (`pkg:deb/debian/libssl3`), so matching drops the
 * qualifier. Every other id is matched as it is.
 */
export function advisoryProductId(product: string): string {
  if (!product.startsWith('pkg:deb/')) return product;
  return product.replace(/^(pkg:deb\/[^/]+\/[^/:]+):[a-z0-9-]+$/, '$1');
}
