/**
 * The channel's view of INVENTORY's InventoryService.applyInventory: the agent's report applied to its asset,
 * answered as an `inventory_ack`. A report the service refuses (400: bad facts or hash) is ok: false, with the
 * service's message for the agent's log.
 */
import { ApiError } from '../../errors.js';
import type { InventoryService } from '../inventory.js';
import type { ApplyInventory } from './results.js';

export function applyInventoryWith(service: InventoryService): ApplyInventory {
  return async (scope, agent, message) => {
    try {
      const out = await service.applyInventory(
        scope,
        { tenant_id: agent.tenantId, id: agent.agentId },
        message,
      );
      return { hash: message.hash, ok: out.ok, ...(out.need ? { need: out.need } : {}) };
    } catch (err) {
      if (err instanceof ApiError && err.status === 400)
        return { hash: message.hash, ok: false, message: err.message };
      throw err;
    }
  };
}
