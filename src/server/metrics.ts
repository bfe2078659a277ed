/** Prometheus metrics of one server instance (a registry each, so several servers can share a process in tests). */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export interface ServerMetrics {
  registry: Registry;
  httpRequests: Histogram<'method' | 'route' | 'status'>;
  timeToKnow: Histogram<'trigger'>;
  lastTimeToKnow: Gauge;
  assetsJudged: Counter<'trigger'>;
  logins: Counter<'outcome'>;
}

export function createMetrics(): ServerMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'bulwark_' });
  return {
    registry,
    httpRequests: new Histogram({
      name: 'bulwark_http_request_duration_seconds',
      help: 'API request duration by method, route pattern and status',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    timeToKnow: new Histogram({
      name: 'bulwark_time_to_know_seconds',
      help: 'From an advisory import (or a built-in advisory change) to every affected finding written',
      labelNames: ['trigger'],
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers: [registry],
    }),
    lastTimeToKnow: new Gauge({
      name: 'bulwark_time_to_know_last_seconds',
      help: 'Time to know of the most recent advisory evaluation',
      registers: [registry],
    }),
    assetsJudged: new Counter({
      name: 'bulwark_assets_judged_total',
      help: 'Assets evaluated against the advisories, by what triggered it',
      labelNames: ['trigger'],
      registers: [registry],
    }),
    logins: new Counter({
      name: 'bulwark_logins_total',
      help: 'Login attempts by outcome',
      labelNames: ['outcome'],
      registers: [registry],
    }),
  };
}
