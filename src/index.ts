export { Replica, startReplica } from './node/replica.js';
export { replicaConfig, type ReplicaConfig } from './node/config.js';
export { leaseTimings, type Elector, type ElectorEvents, type LeaseTimings } from './coordination/elector.js';
export { PostgresElector } from './coordination/postgres.js';
export { EmbeddedPostgres } from './embedded/postgres.js';
export { createLogger, type Logger } from './log.js';
export { BatonError, ERRORS, type ErrorCode } from './errors.js';
export type {
  App,
  AppQuery,
  AppReadState,
  AppState,
  ApplyResult,
  JsonValue,
  TxContext,
} from './apps/app.js';
export { AppRegistry, AppLoadError, loadAppModule } from './apps/registry.js';
export { tokenApp } from './apps/token.js';
