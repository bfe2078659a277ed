/**
 * The agent channel (WebSocket endpoint for agents): built with the app, started when it is ready, every socket
 * closed when it closes. See channel.ts.
 */
import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../../context.js';
import { InventoryService } from '../inventory.js';
import { AgentChannel, type ChannelOptions } from './channel.js';
import { applyInventoryWith } from './inventory-adapter.js';

export { AgentChannel, type ChannelDeps, type ChannelOptions } from './channel.js';
export { TokenBucket } from './rate-limit.js';

/**
 * Builds the channel over the app's context and hooks it to the app: the HTTP server's 'upgrade' event, start
 * after the context started (the event bus runs), stop (every socket closed) before the server closes.
 */
export function attachAgentChannel(
  app: FastifyInstance,
  ctx: AppContext,
  options: ChannelOptions = {},
): AgentChannel {
  const { keys, ca } = ctx.agents;
  const channel = new AgentChannel(
    {
      db: ctx.db,
      events: ctx.events,
      registry: ctx.metrics.registry,
      heartbeatS: ctx.config.agent_heartbeat_s,
      connectRate: ctx.config.agent_connect_rate,
      certDays: ctx.config.agent_cert_days,
      signer: () => keys.jobSigner(),
      issueCertificate: (p) => ca.issue(p),
      applyInventory: applyInventoryWith(new InventoryService(ctx.db, ctx.assets)),
      recordObservations: (scope, tenantId, observations, actor) =>
        ctx.response.record(scope, tenantId, observations, actor),
      ...(app.log ? { log: app.log } : {}),
    },
    options,
  );
  app.server.on('upgrade', (req, socket, head) => channel.handleUpgrade(req, socket, head));
  app.addHook('onReady', async () => channel.start());
  app.addHook('preClose', async () => channel.stop());
  return channel;
}
