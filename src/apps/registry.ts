import { createRequire } from 'node:module';
import { isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { App } from './app.js';
import { tokenApp } from './token.js';
import { compareVersions, VERSION_PATTERN } from './versions.js';

const APP_NAME = /^[a-z][a-z0-9_-]{0,62}$/;

/** The apps built into Baton, loaded the same way as a user's. */
export const BUILT_IN_APPS: readonly App[] = [tokenApp];

/** Why a module is not an app, or clashes with another. */
export class AppLoadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AppLoadError';
  }
}

/** Checks that `value` fulfils the App contract; returns it typed. */
export function asApp(value: unknown, source: string): App {
  const fail = (why: string): never => {
    throw new AppLoadError(`${source}: not a Baton app: ${why}`);
  };
  if (typeof value !== 'object' || value === null) return fail('the export is not an object');
  const app = value as Partial<App>;
  if (typeof app.name !== 'string' || !APP_NAME.test(app.name))
    fail('name must be a string of a-z, 0-9, _ - (at most 63, starting with a letter)');
  if (typeof app.version !== 'string' || !VERSION_PATTERN.test(app.version))
    fail('version must be a string like 1.0.0 (digits, dots, and an optional -suffix)');
  if (typeof app.validate !== 'function') fail('validate(kind, args) must be a function');
  if (typeof app.apply !== 'function') fail('apply(state, tx) must be a function');
  if (app.queries !== undefined) {
    if (typeof app.queries !== 'object' || app.queries === null)
      fail('queries must be an object of functions');
    for (const [name, query] of Object.entries(app.queries))
      if (typeof query !== 'function') fail(`queries.${name} must be a function`);
  }
  return app as App;
}

/** Whether an app spec is a file path (absolute, ./, ../, or a .js/.mjs/.cjs file), not a package name. */
export function isAppPath(spec: string): boolean {
  return isAbsolute(spec) || spec.startsWith('.') || /\.(c|m)?js$/.test(spec);
}

function moduleUrl(spec: string, cwd: string): string {
  if (isAppPath(spec)) return pathToFileURL(resolve(cwd, spec)).href;
  try {
    return pathToFileURL(createRequire(join(cwd, 'package.json')).resolve(spec)).href;
  } catch (error) {
    throw new AppLoadError(
      `cannot find the app package "${spec}" from ${cwd} (${(error as Error).message.split('\n')[0]})`,
    );
  }
}

/**
 * Loads the apps of one module: its default export (an app or an array of apps), or else its
 * `app` / `apps` export.
 */
export async function loadAppModule(spec: string, cwd = process.cwd()): Promise<App[]> {
  const url = moduleUrl(spec, cwd);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(url)) as Record<string, unknown>;
  } catch (error) {
    throw new AppLoadError(`cannot load the app module ${spec}: ${(error as Error).message}`);
  }
  const exported = mod['default'] ?? mod['app'] ?? mod['apps'];
  if (exported === undefined) throw new AppLoadError(`${spec}: the module has no default export`);
  const list: unknown[] = Array.isArray(exported) ? exported : [exported];
  return list.map((value) => asApp(value, spec));
}

/** Every app and version a replica can run, looked up by name and version. */
export class AppRegistry {
  private readonly byName = new Map<string, Map<string, App>>();

  constructor(apps: Iterable<App> = BUILT_IN_APPS) {
    for (const app of apps) this.register(app);
  }

  /** A registry of the built-in apps, the apps given and those of the modules named (paths or packages). */
  static async load(specs: ReadonlyArray<App | string>, cwd = process.cwd()): Promise<AppRegistry> {
    const registry = new AppRegistry();
    for (const spec of specs) {
      if (typeof spec !== 'string') registry.register(spec);
      else if (registry.byName.has(spec) && !/[./]/.test(spec))
        continue; // a built-in app named as such
      else for (const app of await loadAppModule(spec, cwd)) registry.register(app, spec);
    }
    return registry;
  }

  register(app: App, source = app.name): void {
    asApp(app, source);
    const versions = this.byName.get(app.name) ?? new Map<string, App>();
    const known = versions.get(app.version);
    if (known && known !== app)
      throw new AppLoadError(
        `${source}: app ${app.name} ${app.version} is loaded twice, from different code`,
      );
    versions.set(app.version, app);
    this.byName.set(app.name, versions);
  }

  get(name: string, version: string): App | undefined {
    return this.byName.get(name)?.get(version);
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** The versions of `name` this replica runs, oldest first. */
  versions(name: string): string[] {
    return [...(this.byName.get(name)?.keys() ?? [])].sort(compareVersions);
  }

  /** The newest version of `name`, which new lanes of that app start on. */
  latest(name: string): App | undefined {
    const versions = this.versions(name);
    return versions.length > 0 ? this.get(name, versions[versions.length - 1]!) : undefined;
  }

  /** Name → versions run, as `/v1/cluster` shows them. */
  describe(): Record<string, string[]> {
    return Object.fromEntries([...this.byName.keys()].sort().map((name) => [name, this.versions(name)]));
  }
}
