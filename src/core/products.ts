/** Product ids the capabilities name in code (advisories and catalogs name the rest as data). */

/** Microsoft Exchange Server: the product the scanner fingerprints, `bulwark exchange` reports on and the lab emulates. */
export const EXCHANGE_PRODUCT = 'microsoft:exchange_server';
