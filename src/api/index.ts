/**
 * The control plane's public contract: request and response schemas, the types derived from them, and the typed
 * client. The server validates and documents with these schemas; the CLI (and later the agent, console and
 * gateway) talks to the server only through this module. It depends on nothing in src/server.
 */
export * from './accounts.js';
export * from './advisories.js';
export * from './agents.js';
export * from './assets.js';
export * from './client.js';
export * from './events.js';
export * from './exposure.js';
export * from './findings.js';
export * from './inventory.js';
export * from './jobs.js';
export * from './response.js';
export * from './schemas.js';
export * from './system.js';
export * from './tenants.js';
