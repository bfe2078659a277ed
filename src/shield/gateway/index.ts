/**
 * The shield gateway (`bulwark gateway`): a reverse proxy that enforces virtual patches (SecLang rule sets) per
 * route, over Bulwark's strict HTTP/1 parser, with TLS per SNI name, keep-alive upstream pools, streaming,
 * WebSocket and Outlook Anywhere pass-through, Prometheus metrics, JSON access and audit logs and hot reload.
 */
export {
  type AdvisoryResolver,
  type CompiledConfig,
  type CompiledRoute,
  compileGatewayConfig,
  compileRouteRules,
  type GatewayConfig,
  GatewayConfigError,
  type GatewayConfigInput,
  GatewayConfigSchema,
  type Limits,
  type ListenConfig,
  loadGatewayConfig,
  quickConfig,
  type RouteConfig,
  validateGatewayConfig,
} from './config.js';
export { GatewayMetrics, redactCookies, redactExcerpt } from './observe.js';
export { UpstreamCertificateError, UpstreamError, UpstreamPool } from './pool.js';
export {
  createResponseParser,
  type ResponseEvent,
  type ResponseHead,
  type ResponseParser,
} from './response.js';
export { type Gateway, type GatewayAddress, startGateway } from './server.js';
