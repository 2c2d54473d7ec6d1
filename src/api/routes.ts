import type { IncomingMessage, ServerResponse } from 'node:http';
import { BatonError } from '../errors.js';
import { publicBlock } from '../ledger/block.js';
import type { Lane } from '../ledger/lane.js';
import { VERSION_PATTERN } from '../apps/versions.js';
import { readAtTip, runQuery } from './reads.js';
import { verifySubmission } from '../ledger/envelope.js';
import { HEX32 } from '../ledger/keys.js';
import type { ApiContext } from './context.js';
import { findLane, intParam, pathSegment, readBody, readJson, sendJson } from './http.js';
import { authorize } from './admin.js';
import { LANE_NAME } from '../ledger/envelope.js';
import { REPLICA_ID } from '../node/config.js';

const MAX_BLOCKS_PER_PAGE = 1000;
const HEX_ID = /^[0-9a-f]{64}$/;

type Handler = (
  ctx: ApiContext,
  req: IncomingMessage,
  res: ServerResponse,
  params: RouteParams,
) => Promise<void>;

interface RouteParams {
  lane?: Lane;
  laneName?: string;
  arg?: string;
  query: URLSearchParams;
}

const livez: Handler = (ctx, _req, res) => {
  const liveness = ctx.liveness();
  sendJson(
    res,
    liveness.live ? 200 : 503,
    liveness.live ? { status: 'ok' } : { status: 'unhealthy', ...liveness },
  );
  return Promise.resolve();
};

const metrics: Handler = (ctx, _req, res) => {
  const body = ctx.metrics();
  res.writeHead(200, {
    'content-type': 'text/plain; version=0.0.4; charset=utf-8',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
  return Promise.resolve();
};

const readyz: Handler = (ctx, _req, res) => {
  const readiness = ctx.readiness();
  sendJson(res, readiness.ready ? 200 : 503, readiness);
  return Promise.resolve();
};

const cluster: Handler = async (ctx, _req, res) => sendJson(res, 200, await ctx.cluster());

const submit: Handler = async (ctx, req, res, { lane, laneName }) => {
  const envelope = await readJson(req);
  // A replica without the lane's active app version cannot validate for it: send clients elsewhere.
  if (lane!.missing() !== null) throw new BatonError('app_unavailable', lane!.missing()!);
  const tx = verifySubmission(envelope, laneName!, lane!, ctx.verifier);
  const inserted = await ctx.intake.submit(tx);
  if (inserted) {
    sendJson(res, 202, { id: tx.id, status: 'pending' });
    return;
  }
  const known = (await ctx.store.txStatuses(tx.lane, [tx.id])).get(tx.id);
  sendJson(res, 200, known ?? { id: tx.id, status: 'pending' });
};

const txStatus: Handler = async (ctx, _req, res, { laneName, arg }) => {
  const id = arg!.toLowerCase();
  if (!HEX_ID.test(id)) throw new BatonError('bad_request', 'a transaction id is 64 hex characters');
  const status = (await ctx.store.txStatuses(laneName!, [id])).get(id);
  if (!status) throw new BatonError('not_found', 'no such transaction');
  sendJson(res, 200, status);
};

const blocks: Handler = async (ctx, _req, res, { laneName, query }) => {
  const from = intParam(query.get('from'), 'from', 1, 1, Number.MAX_SAFE_INTEGER);
  const limit = intParam(query.get('limit'), 'limit', 100, 1, MAX_BLOCKS_PER_PAGE);
  const records = await ctx.store.blocksAfter(laneName!, from - 1, limit);
  sendJson(res, 200, { blocks: records.map(publicBlock) });
};

/** The v1 balance route: the lane app's `balance` query. */
const account: Handler = async (ctx, _req, res, { lane, arg }) => {
  if (!HEX32.test(arg!)) throw new BatonError('bad_request', 'an account is 32 bytes of hex');
  if (!lane!.app()?.queries?.balance && lane!.missing() === null)
    throw new BatonError('not_found', `app ${lane!.appName} has no balances`);
  const balance = await readAtTip(ctx, lane!, (state) =>
    runQuery(ctx, lane!, state, 'balance', { account: arg!.toLowerCase() }),
  );
  sendJson(res, 200, { balance });
};

const laneInfo: Handler = async (ctx, _req, res, { laneName }) => {
  const view = await ctx.lane(laneName!);
  if (!view) throw new BatonError('unknown_lane');
  sendJson(res, 200, view);
};

const stateValue: Handler = async (ctx, _req, res, { lane, arg }) => {
  const key = pathSegment(arg!);
  const read = await readAtTip(ctx, lane!, (state) => ({
    value: state.get(key) ?? null,
    height: state.height,
  }));
  sendJson(res, 200, { key, ...read });
};

const query: Handler = async (ctx, _req, res, { lane, arg, query: search }) => {
  const name = pathSegment(arg!);
  const raw = search.get('args');
  let args: unknown = null;
  if (raw !== null) {
    try {
      args = JSON.parse(raw) as unknown;
    } catch {
      throw new BatonError('bad_request', 'args must be JSON (URL-encoded)');
    }
  }
  const answer = await readAtTip(ctx, lane!, (state) => ({
    result: runQuery(ctx, lane!, state, name, args),
    height: state.height,
  }));
  sendJson(res, 200, { query: name, ...answer });
};

const versions: Handler = async (ctx, _req, res, { lane, laneName }) => {
  sendJson(res, 200, {
    lane: laneName,
    app: lane!.appName,
    active: lane!.version,
    proposed: lane!.proposedVersion,
    versions: await ctx.store.versions(laneName!),
  });
};

const drain: Handler = (ctx, req, res) => {
  const admin = authorize(req, ctx.admin);
  sendJson(res, 202, { replica: ctx.replicaId, status: 'draining' });
  res.once('finish', () => admin.drain());
  return Promise.resolve();
};

const drainReplica: Handler = async (ctx, req, res, { arg }) => {
  const admin = authorize(req, ctx.admin);
  const id = replicaParam(arg!);
  if (id === ctx.replicaId) return drain(ctx, req, res, { query: new URLSearchParams() });
  await admin.drainReplica(id);
  sendJson(res, 202, { replica: id, status: 'draining' });
};

const adminStatus: Handler = async (ctx, req, res) => {
  const admin = authorize(req, ctx.admin);
  sendJson(res, 200, await admin.status());
};

const setPriority: Handler = async (ctx, req, res, { arg }) => {
  const admin = authorize(req, ctx.admin);
  const id = replicaParam(arg!);
  const { priority } = await readObject(req);
  if (typeof priority !== 'number' || !Number.isInteger(priority) || Math.abs(priority) > 1_000_000)
    throw new BatonError('bad_request', 'priority must be an integer between -1000000 and 1000000');
  await admin.setPriority(id, priority);
  sendJson(res, 200, { replica: id, priority });
};

const createLane: Handler = async (ctx, req, res) => {
  const admin = authorize(req, ctx.admin);
  const { lane, app, version, approvers, quorum } = await readObject(req);
  if (typeof lane !== 'string' || !LANE_NAME.test(lane))
    throw new BatonError('bad_request', 'lane must be a lane name (a-z, 0-9, _ -, at most 63)');
  if (app !== undefined && typeof app !== 'string')
    throw new BatonError('bad_request', 'app must be a string');
  if (version !== undefined && (typeof version !== 'string' || !VERSION_PATTERN.test(version)))
    throw new BatonError('bad_request', 'version must be a version like 1.0.0');
  const keys = approvers ?? [];
  if (!Array.isArray(keys) || keys.length > 100 || !keys.every((k) => typeof k === 'string' && HEX32.test(k)))
    throw new BatonError(
      'bad_request',
      'approvers must be a list of up to 100 public keys (32 bytes of hex)',
    );
  if (quorum !== undefined && (typeof quorum !== 'number' || !Number.isSafeInteger(quorum)))
    throw new BatonError('bad_request', 'quorum must be an integer');
  const created = await admin.createLane({
    lane,
    app: app ?? 'token',
    ...(version !== undefined ? { version } : {}),
    approvers: keys as string[],
    ...(quorum !== undefined ? { quorum } : {}),
  });
  sendJson(res, created.created ? 201 : 200, created);
};

const upgrade: Handler = async (ctx, req, res, { laneName }) => {
  const admin = authorize(req, ctx.admin);
  const { to } = await readObject(req);
  if (typeof to !== 'string' || !VERSION_PATTERN.test(to))
    throw new BatonError('bad_request', 'to must be an app version like 2.0.0');
  const proposal = await admin.upgrade(laneName!, to);
  sendJson(res, proposal.status === 'active' ? 200 : 202, proposal);
};

const handover: Handler = async (ctx, req, res, { laneName }) => {
  const admin = authorize(req, ctx.admin);
  const { to } = await readObject(req);
  if (to !== undefined && to !== null && (typeof to !== 'string' || !REPLICA_ID.test(to)))
    throw new BatonError('bad_request', 'to must be a replica id');
  sendJson(res, 200, await admin.handover(laneName!, to ?? null));
};

function replicaParam(raw: string): string {
  const id = pathSegment(raw);
  if (!REPLICA_ID.test(id)) throw new BatonError('bad_request', 'not a replica id');
  return id;
}

/** A JSON object body; an empty body counts as {}. */
async function readObject(req: IncomingMessage): Promise<Record<string, unknown>> {
  const raw = await readBody(req);
  if (raw.length === 0) return {};
  let value: unknown;
  try {
    value = JSON.parse(raw.toString('utf8'));
  } catch {
    throw new BatonError('bad_json');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new BatonError('bad_request', 'the body must be a JSON object');
  return value as Record<string, unknown>;
}

type Pick = (handlers: Partial<Record<string, Handler>>) => { handler: Handler; params: RouteParams };

/** /v1/admin/… */
function adminRoute(
  ctx: ApiContext,
  parts: string[],
  params: RouteParams,
  pick: Pick,
): { handler: Handler; params: RouteParams } {
  const [first, second, third] = parts;
  if (parts.length === 1 && first === 'drain') return pick({ POST: drain });
  if (parts.length === 1 && first === 'status') return pick({ GET: adminStatus });
  if (parts.length === 1 && first === 'lanes') return pick({ POST: createLane });
  if (parts.length === 3 && first === 'lanes' && (third === 'handover' || third === 'upgrade')) {
    params.laneName = pathSegment(second!);
    findLane(ctx.lanes, params.laneName);
    return pick({ POST: third === 'handover' ? handover : upgrade });
  }
  if (parts.length === 3 && first === 'replicas') {
    params.arg = second;
    if (third === 'drain') return pick({ POST: drainReplica });
    if (third === 'priority') return pick({ PUT: setPriority });
  }
  throw new BatonError('not_found');
}

/** Finds the handler for a request; throws not_found / method_not_allowed. */
export function route(ctx: ApiContext, method: string, url: URL): { handler: Handler; params: RouteParams } {
  const parts = url.pathname.split('/').filter((p) => p !== '');
  const params: RouteParams = { query: url.searchParams };
  const pick = (handlers: Partial<Record<string, Handler>>): { handler: Handler; params: RouteParams } => {
    const handler = handlers[method] ?? (method === 'HEAD' ? handlers['GET'] : undefined);
    if (!handler) throw new BatonError('method_not_allowed');
    return { handler, params };
  };
  if (parts.length === 1 && parts[0] === 'livez') return pick({ GET: livez });
  if (parts.length === 1 && parts[0] === 'readyz') return pick({ GET: readyz });
  if (parts.length === 1 && parts[0] === 'metrics') return pick({ GET: metrics });
  if (parts[0] !== 'v1') throw new BatonError('not_found');
  if (parts.length === 2 && parts[1] === 'cluster') return pick({ GET: cluster });
  if (parts[1] === 'admin') return adminRoute(ctx, parts.slice(2), params, pick);
  if (parts[1] === 'lanes' && parts.length >= 3) {
    params.laneName = pathSegment(parts[2]!);
    params.lane = findLane(ctx.lanes, params.laneName);
    if (parts.length === 3) return pick({ GET: laneInfo });
    const resource = parts[3];
    if (parts.length === 4 && resource === 'versions') return pick({ GET: versions });
    if (parts.length === 5 && resource === 'state')
      return ((params.arg = parts[4]), pick({ GET: stateValue }));
    if (parts.length === 5 && resource === 'query') return ((params.arg = parts[4]), pick({ GET: query }));
    if (parts.length === 4 && resource === 'txs') return pick({ POST: submit });
    if (parts.length === 4 && resource === 'blocks') return pick({ GET: blocks });
    if (parts.length === 5 && resource === 'txs') return ((params.arg = parts[4]), pick({ GET: txStatus }));
    if (parts.length === 5 && resource === 'accounts')
      return ((params.arg = parts[4]), pick({ GET: account }));
  }
  throw new BatonError('not_found');
}
