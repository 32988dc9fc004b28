/**
 * An approval gate's configuration as the dialog saves it, checked: every field that cannot work
 * is an error naming it. Empty fields take their defaults.
 */
import * as path from 'path';
import { choiceField, numberField } from '../node-red/config';
import type { GateConfig } from './gate';
import { ApprovalError } from './requests';

export interface RawGateConfig {
  approvals?: string | number;
  timeout?: string | number;
  timeoutUnit?: string;
  timeoutOutcome?: string;
  maxPending?: string | number;
  whenFull?: string;
  supersede?: boolean;
  passApproved?: boolean;
  autoApprove?: boolean;
  autoMargin?: string | number;
  autoRequireSignature?: boolean;
  auditFile?: string;
  mqttBroker?: string;
  mqttTopic?: string;
  approverKeys?: string;
}

export interface ParsedGateConfig extends GateConfig {
  /** The audit log, relative to the user directory unless absolute. */
  auditFile: string;
  /** Signed decisions over MQTT: the topic (with a broker configured). */
  topic?: string;
}

const UNIT_MS = { minutes: 60_000, hours: 3_600_000, days: 86_400_000 } as const;

export const DEFAULT_AUDIT_FILE = path.join('mlops-approval', 'audit.jsonl');

/** One folder of request files per gate, under the user directory. */
export const requestFolder = (nodeId: string) => path.join('mlops-approval', 'requests', nodeId.replace(/[^A-Za-z0-9_.-]/g, '_'));

/** `brokerError`: undefined for a working broker, '' for none configured. */
export function parseGateConfig(d: RawGateConfig, brokerError?: string): ParsedGateConfig {
  const unit = choiceField(d, 'timeoutUnit', ['minutes', 'hours', 'days'] as const, 'hours');
  const c: ParsedGateConfig = {
    approvals: numberField(d, 'approvals', { default: 1, min: 1, max: 2, integer: true }) as 1 | 2,
    timeoutMs: numberField(d, 'timeout', { default: 0, min: 0, max: 365 * 86400 }) * UNIT_MS[unit],
    timeoutOutcome: choiceField(d, 'timeoutOutcome', ['reject', 'approve'] as const, 'reject'),
    maxPending: numberField(d, 'maxPending', { default: 10, min: 1, max: 1000, integer: true }),
    whenFull: choiceField(d, 'whenFull', ['refuse', 'expire-oldest'] as const, 'refuse'),
    supersede: d.supersede !== false,
    passApproved: d.passApproved !== false,
    autoApprove: d.autoApprove === true,
    autoMargin: numberField(d, 'autoMargin', { default: 0, min: 0, max: 100 }) / 100,
    autoRequireSignature: d.autoRequireSignature !== false,
    auditFile: String(d.auditFile ?? '').trim() || DEFAULT_AUDIT_FILE,
  };
  if (d.mqttBroker) {
    c.topic = String(d.mqttTopic ?? '').trim();
    if (!c.topic) throw new ApprovalError('noTopic', {}, 'expected the MQTT topic signed decisions come on, e.g. factory/approvals');
    if (!String(d.approverKeys ?? '').trim()) throw new ApprovalError('noKeys', {}, 'expected at least one approver public key (PEM): an MQTT decision counts only when an approver key signed it');
    if (brokerError !== undefined) throw new ApprovalError('noBroker', { reason: brokerError }, `expected a working MQTT broker config node${brokerError ? `: ${brokerError}` : ''}`);
  }
  return c;
}
