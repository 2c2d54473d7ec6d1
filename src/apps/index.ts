export { AppRegistry, AppLoadError, BUILT_IN_APPS, asApp, loadAppModule } from './registry.js';
export { compareVersions, VERSION_PATTERN } from './versions.js';
export type { App, AppQuery, AppReadState, AppState, ApplyResult, JsonValue, TxContext } from './app.js';
