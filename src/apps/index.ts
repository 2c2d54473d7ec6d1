import type { App } from './app.js';
import { tokenApp } from './token.js';

const BUILT_IN: ReadonlyMap<string, App> = new Map([[tokenApp.name, tokenApp]]);

export function appByName(name: string): App {
  const app = BUILT_IN.get(name);
  if (!app) throw new Error(`unknown app "${name}" (built in: ${[...BUILT_IN.keys()].join(', ')})`);
  return app;
}

export type { App, AppState, ApplyResult, JsonValue, TxInput } from './app.js';
