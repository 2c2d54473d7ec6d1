import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { BatonError } from '../errors.js';
import type { AdminStatus } from './context.js';

export interface HandoverResult {
  lane: string;
  from: string;
  to: string;
  term: number;
}

export interface CreatedLane {
  lane: string;
  app: string;
  version: string | null;
  approvers: string[];
  quorum: number;
  /** False when the lane already existed. */
  created: boolean;
}

export interface LaneCreation {
  lane: string;
  app: string;
  /** Default: the newest version of the app that this replica runs. */
  version?: string;
  /** Keys whose approvals an upgrade of the lane needs, and how many of them (quorum). */
  approvers?: string[];
  quorum?: number;
}

export interface UpgradeProposal {
  lane: string;
  app: string;
  from: string | null;
  to: string;
  /** 'proposed': the switch follows at the next block; 'awaiting_approvals': it needs a quorum. */
  status: 'proposed' | 'awaiting_approvals' | 'active';
  approvals: number;
  quorum: number;
  /** The live replicas that run the target version. */
  runners: string[];
}

/** Operator actions behind the bearer token. Any replica accepts any of them. */
export interface AdminActions {
  token: string;
  /** Starts a graceful drain of this replica; the process exits when it is done. */
  drain(): void;
  /** Drains the live replica `id` (this one or another). */
  drainReplica(id: string): Promise<void>;
  status(): Promise<AdminStatus>;
  /** Planned handover of `lane` to `to` (or the best other replica); resolves once it leads. */
  handover(lane: string, to: string | null): Promise<HandoverResult>;
  createLane(request: LaneCreation): Promise<CreatedLane>;
  /** Proposes switching `lane` to app version `to`; refused when no ready replica runs it. */
  upgrade(lane: string, to: string): Promise<UpgradeProposal>;
  setPriority(id: string, priority: number): Promise<void>;
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/** Throws unless the request carries `Authorization: Bearer <token>` (compared in constant time). */
export function authorize(req: IncomingMessage, admin: AdminActions | undefined): AdminActions {
  if (!admin)
    throw new BatonError(
      'not_found',
      'the admin API is disabled on this replica (start it with --admin-token-file)',
    );
  const header = req.headers.authorization ?? '';
  const match = /^Bearer\s+(\S+)$/i.exec(header);
  if (!match || !timingSafeEqual(digest(match[1]!), digest(admin.token)))
    throw new BatonError('unauthorized');
  return admin;
}
