/**
 * Load server for bench/opcua-ingest.bench.ts, run as a child process (child_process.fork with
 * tsx) so that its CPU never lands in a measured client's process.cpuUsage().
 *
 * N Double variables ns=1;s=Load.V0000 ... under Objects/Load, all rewritten every updateMs
 * with a new value each time. A plain setInterval by default: node-opcua samples a 100 ms item
 * with a setInterval of its own (node_sampler.js, reading in setImmediate), and two intervals of
 * the same period drift alike, so every round is sampled once even though the interval runs a
 * little slow (about 9.9 rounds a second here). With timer 'grid' the rounds keep exactly
 * 10 Hz, and the server's sampler, slipping behind, skips a round now and then: changes lost
 * in the server, before any client. The value encodes the
 * update number and the item index, value = seq * 10000 + index, so a client can check that
 * it saw every change of every item (gaps and duplicates) without any help from the server.
 *
 * Protocol (IPC): the parent sends { cmd: 'start', items, updateMs, pkiFolder } and receives
 * { type: 'ready', endpointUrl } (or { type: 'error', message }); { cmd: 'stats', id } is
 * answered with { type: 'stats', id, ...ServerStats }; { cmd: 'stop' } shuts down and exits.
 * The server exits on its own if the parent goes away (IPC disconnect).
 */
import * as os from 'node:os';
import { OPCUACertificateManager } from 'node-opcua-certificate-manager';
import { DataType, MessageSecurityMode, SecurityPolicy, StatusCodes, Variant } from 'node-opcua-client';
import { MonitoredItem, OPCUAServer } from 'node-opcua-server';
import type { UAVariable } from 'node-opcua-address-space';

export interface LoadServerStart {
  cmd: 'start';
  items: number;
  updateMs: number;
  pkiFolder: string;
  /** Floor applied to every requested sampling interval (node-opcua's default is 50 ms). */
  minSamplingMs?: number;
  /** 'interval' (default): a plain setInterval; 'grid': rounds at t0 + k * updateMs, catching up when late. */
  timer?: 'interval' | 'grid';
}

export interface ServerStats {
  /** Update rounds done since start (each writes every variable once). */
  updates: number;
  /** Update rounds that started more than 1.5 x updateMs after the previous one. */
  lateUpdates: number;
  /** Data change notifications the server put into notification messages, summed over the live subscriptions. */
  dataChangeNotifications: number;
  /** Values the server dropped because a monitored item's queue was full, summed over the live subscriptions. */
  queueOverflows: number;
  /** Publish requests received, summed over the live subscriptions. */
  publishRequests: number;
  liveSubscriptions: number;
  monitoredItems: number;
  /** process.cpuUsage() of the server process, µs. */
  cpuUserUs: number;
  cpuSystemUs: number;
  /** Date.now() when the stats were taken. */
  at: number;
  rssBytes: number;
}

export function loadNodeId(i: number): string {
  return `ns=1;s=Load.V${String(i).padStart(4, '0')}`;
}

/** The value written to item `index` in update round `seq`. */
export function encodeValue(seq: number, index: number): number {
  return seq * 10000 + index;
}

function send(msg: unknown): void {
  if (process.send) process.send(msg);
}

function silenceNodeOpcua(): void {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const debug = require('node-opcua-debug') as typeof import('node-opcua-debug');
  const noop = () => undefined;
  debug.setWarningLogger(noop);
  debug.setErrorLogger(noop);
}

let server: OPCUAServer | undefined;
let timer: NodeJS.Timeout | undefined; // setInterval or setTimeout: clearTimeout clears both
let updates = 0;
let lateUpdates = 0;

async function start(o: LoadServerStart): Promise<string> {
  silenceNodeOpcua();
  const minSampling = o.minSamplingMs ?? 10;
  // A process-wide floor (50 ms by default) applied to every requested sampling interval;
  // lowered as scripts/simulator/server.ts does, so a 100 ms request is granted as is.
  if (MonitoredItem.minimumSamplingInterval > minSampling) MonitoredItem.minimumSamplingInterval = minSampling;

  // Both PKIs in the bench's temporary folder (node-opcua's default is under ~/.config).
  const serverCertificateManager = new OPCUACertificateManager({ rootFolder: o.pkiFolder, automaticallyAcceptUnknownCertificate: true });
  const userCertificateManager = new OPCUACertificateManager({ rootFolder: `${o.pkiFolder}/user`, automaticallyAcceptUnknownCertificate: false });
  server = new OPCUAServer({
    port: 0,
    host: '127.0.0.1',
    hostname: '127.0.0.1',
    resourcePath: '/UA/Load',
    securityModes: [MessageSecurityMode.None],
    securityPolicies: [SecurityPolicy.None],
    allowAnonymous: true,
    serverCertificateManager,
    userCertificateManager,
    serverInfo: {
      applicationUri: `urn:${os.hostname()}:edge-mlops:bench-load-server`,
      productUri: 'urn:edge-mlops:bench-load-server',
      applicationName: { text: 'edge-mlops OPC UA load server', locale: 'en' },
    },
    serverCapabilities: {
      minSupportedSampleRate: minSampling,
      maxSessions: 20,
      operationLimits: { maxMonitoredItemsPerCall: 0, maxNodesPerRead: 0 },
    },
    maxConnectionsPerEndpoint: 20,
    isAuditing: false,
  });
  await server.initialize();
  const addressSpace = server.engine.addressSpace;
  if (!addressSpace) throw new Error('address space not initialised');
  const namespace = addressSpace.getOwnNamespace();
  const folder = namespace.addObject({ organizedBy: addressSpace.rootFolder.objects, browseName: 'Load', nodeId: 'ns=1;s=Load' });
  const variables: UAVariable[] = [];
  for (let i = 0; i < o.items; i++) {
    variables.push(
      namespace.addVariable({
        componentOf: folder,
        browseName: `V${String(i).padStart(4, '0')}`,
        nodeId: loadNodeId(i),
        dataType: 'Double',
        // 0: the value only changes through setValueFromSource; a sampled item is then granted
        // the interval it asks for down to MonitoredItem.minimumSamplingInterval.
        minimumSamplingInterval: 0,
        value: { dataType: DataType.Double, value: encodeValue(0, i) },
      }),
    );
  }
  await server.start();

  let last = Date.now();
  const update = () => {
    const now = Date.now();
    if (updates > 0 && now - last > 1.5 * o.updateMs) lateUpdates++;
    last = now;
    updates++;
    const ts = new Date(now);
    for (let i = 0; i < variables.length; i++) {
      variables[i].setValueFromSource(new Variant({ dataType: DataType.Double, value: encodeValue(updates, i) }), StatusCodes.Good, ts);
    }
  };
  update();
  if (o.timer === 'grid') {
    // on a fixed grid t0 + k * updateMs: exactly 1000 / updateMs rounds a second on average
    const t0 = Date.now();
    const next = () => {
      update();
      timer = setTimeout(next, Math.max(0, t0 + updates * o.updateMs - Date.now()));
    };
    timer = setTimeout(next, Math.max(0, t0 + updates * o.updateMs - Date.now()));
  } else {
    timer = setInterval(update, o.updateMs);
  }

  const endpoint = server.getEndpointUrl();
  if (!endpoint) throw new Error('server has no endpoint URL');
  return endpoint;
}

function stats(): ServerStats {
  let dataChangeNotifications = 0;
  let queueOverflows = 0;
  let publishRequests = 0;
  let liveSubscriptions = 0;
  let monitoredItems = 0;
  for (const session of server?.engine.getSessions() ?? []) {
    const pe = session.publishEngine;
    if (!pe) continue;
    for (const sub of pe.subscriptions) {
      liveSubscriptions++;
      monitoredItems += sub.monitoredItemCount;
      const d = sub.subscriptionDiagnostics;
      dataChangeNotifications += d.dataChangeNotificationsCount;
      queueOverflows += d.monitoringQueueOverflowCount;
      publishRequests += d.publishRequestCount;
    }
  }
  const cpu = process.cpuUsage();
  return {
    updates,
    lateUpdates,
    dataChangeNotifications,
    queueOverflows,
    publishRequests,
    liveSubscriptions,
    monitoredItems,
    cpuUserUs: cpu.user,
    cpuSystemUs: cpu.system,
    at: Date.now(),
    rssBytes: process.memoryUsage.rss(),
  };
}

async function stop(code: number): Promise<never> {
  if (timer) clearTimeout(timer);
  const s = server;
  server = undefined;
  const hard = setTimeout(() => process.exit(code), 5000);
  hard.unref();
  if (s) await s.shutdown(0).catch(() => undefined);
  process.exit(code);
}

if (require.main === module) {
  if (!process.send) {
    console.error('opcua-load-server: run me with child_process.fork (IPC channel needed)');
    process.exit(2);
  }
  process.on('disconnect', () => void stop(0));
  process.on('message', (m: { cmd: string; id?: number } & Partial<LoadServerStart>) => {
    if (m.cmd === 'start') {
      start(m as LoadServerStart).then(
        (endpointUrl) => send({ type: 'ready', endpointUrl, pid: process.pid }),
        (err: Error) => {
          send({ type: 'error', message: err.message });
          void stop(1);
        },
      );
    } else if (m.cmd === 'stats') {
      send({ type: 'stats', id: m.id, ...stats() });
    } else if (m.cmd === 'stop') {
      void stop(0);
    }
  });
}
