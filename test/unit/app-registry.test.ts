import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { App } from '../../src/apps/app.js';
import {
  AppLoadError,
  AppRegistry,
  BUILT_IN_APPS,
  asApp,
  isAppPath,
  loadAppModule,
} from '../../src/apps/registry.js';
import { tokenApp } from '../../src/apps/token.js';
import { compareVersions } from '../../src/apps/versions.js';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'apps');
const fixture = (name: string): string => join(FIXTURES, name);

function app(name: string, version: string, extra: Partial<App> = {}): App {
  return {
    name,
    version,
    validate: () => undefined,
    apply: () => ({ ok: true }),
    ...extra,
  };
}

/** Asserts an AppLoadError whose message matches every pattern. */
async function rejectsLoad(promise: Promise<unknown>, ...patterns: RegExp[]): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof AppLoadError, `an AppLoadError, got ${String(error)}`);
    for (const pattern of patterns) assert.match(error.message, pattern);
    return true;
  });
}

function throwsLoad(fn: () => unknown, ...patterns: RegExp[]): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof AppLoadError, `an AppLoadError, got ${String(error)}`);
    for (const pattern of patterns) assert.match(error.message, pattern);
    return true;
  });
}

describe('asApp', () => {
  it('returns a conforming app as it is', () => {
    const a = app('counter', '1.2.3', { queries: { n: () => 1 } });
    assert.equal(asApp(a, 'src'), a);
    assert.equal(asApp(tokenApp, 'built-in'), tokenApp);
  });

  for (const [what, value] of [
    ['undefined', undefined],
    ['null', null],
    ['a string', 'token'],
    ['a number', 1],
  ] as Array<[string, unknown]>) {
    it(`refuses ${what} as the export, naming the source`, () => {
      throwsLoad(() => asApp(value, './my-app.js'), /^\.\/my-app\.js: not a Baton app/, /not an object/);
    });
  }

  const badNames: unknown[] = [
    undefined,
    7,
    '',
    'Token',
    '1token',
    '-token',
    '_token',
    'to ken',
    'to.ken',
    'tökén',
    'a'.repeat(64),
  ];
  for (const name of badNames) {
    it(`refuses the name ${JSON.stringify(name) ?? 'undefined'}`, () => {
      throwsLoad(() => asApp({ ...app('x', '1.0.0'), name }, 'm'), /name must be/);
    });
  }

  it('accepts names at the edges: one letter, 63 characters, digits, _ and -', () => {
    for (const name of ['a', 'a'.repeat(63), 'a1_b-c', 'z-9'])
      assert.equal(asApp(app(name, '1.0.0'), 'm').name, name);
  });

  const badVersions: unknown[] = [
    undefined,
    1,
    '',
    'latest',
    'v1.0.0',
    '1.0.0.0.0',
    '1..0',
    '1.0.',
    '1.0.0-',
    '1.0.0+build',
    '1.0.0-rc 1',
    '1234567890.0.0',
    `1.0.0-${'x'.repeat(33)}`,
  ];
  for (const version of badVersions) {
    it(`refuses the version ${JSON.stringify(version) ?? 'undefined'}`, () => {
      throwsLoad(() => asApp({ ...app('x', '1.0.0'), version }, 'm'), /version must be/);
    });
  }

  it('accepts versions like 1, 2.1, 1.0.0, 1.2.3.4 and 3.0.0-rc.1', () => {
    for (const version of ['1', '2.1', '1.0.0', '1.2.3.4', '3.0.0-rc.1', '0.0.1-alpha-2'])
      assert.equal(asApp(app('x', version), 'm').version, version);
  });

  it('refuses an app without validate or apply, or with them not functions', () => {
    const noValidate: Partial<App> = app('x', '1.0.0');
    delete noValidate.validate;
    const noApply: Partial<App> = app('x', '1.0.0');
    delete noApply.apply;
    throwsLoad(() => asApp(noValidate, 'm'), /validate\(kind, args\) must be a function/);
    throwsLoad(() => asApp(noApply, 'm'), /apply\(state, tx\) must be a function/);
    throwsLoad(() => asApp({ ...app('x', '1.0.0'), validate: 'yes' }, 'm'), /validate/);
    throwsLoad(() => asApp({ ...app('x', '1.0.0'), apply: {} }, 'm'), /apply/);
  });

  it('refuses queries that are not an object of functions, naming the query', () => {
    throwsLoad(() => asApp({ ...app('x', '1.0.0'), queries: null }, 'm'), /queries must be an object/);
    throwsLoad(() => asApp({ ...app('x', '1.0.0'), queries: 'n' }, 'm'), /queries must be an object/);
    throwsLoad(
      () => asApp({ ...app('x', '1.0.0'), queries: { ok: () => 1, total: 5 } }, 'm'),
      /queries\.total must be a function/,
    );
    throwsLoad(
      () => asApp({ ...app('x', '1.0.0'), queries: { n: null } }, 'm'),
      /queries\.n must be a function/,
    );
  });

  it('accepts an app without queries, or with an empty queries object', () => {
    assert.ok(asApp(app('x', '1.0.0'), 'm'));
    assert.ok(asApp(app('x', '1.0.0', { queries: {} }), 'm'));
  });
});

describe('compareVersions', () => {
  it('orders numerically part by part, a -suffix before the release', () => {
    const sorted = ['2.0.0', '1.10.0', '2.0.0-rc.1', '1.9.0', '1.0.0', '10.0.0', '1.9.1', '2.0.0-beta'].sort(
      compareVersions,
    );
    assert.deepEqual(sorted, [
      '1.0.0',
      '1.9.0',
      '1.9.1',
      '1.10.0',
      '2.0.0-beta',
      '2.0.0-rc.1',
      '2.0.0',
      '10.0.0',
    ]);
  });

  it('compares pre-release parts as semver does: numbers numerically, before words', () => {
    const sorted = [
      '2.0.0-rc.10',
      '2.0.0-rc.9',
      '2.0.0-rc',
      '2.0.0-1',
      '2.0.0-alpha.beta',
      '2.0.0-alpha.1',
    ].sort(compareVersions);
    assert.deepEqual(sorted, [
      '2.0.0-1',
      '2.0.0-alpha.1',
      '2.0.0-alpha.beta',
      '2.0.0-rc',
      '2.0.0-rc.9',
      '2.0.0-rc.10',
    ]);
  });

  it('is antisymmetric and zero only for equal versions with equal suffixes', () => {
    const versions = ['1.0.0', '1.0.1', '1.1.0', '2.0.0-rc.1', '2.0.0-rc.2', '2.0.0'];
    for (const a of versions)
      for (const b of versions) {
        const ab = Math.sign(compareVersions(a, b));
        const ba = Math.sign(compareVersions(b, a));
        assert.ok(ab === -ba, `${a} vs ${b}: ${ab} and ${ba}`);
        assert.equal(ab === 0, a === b, `${a} vs ${b}`);
      }
  });
});

describe('AppRegistry', () => {
  it('holds the built-in token app by default', () => {
    const registry = new AppRegistry();
    assert.equal(registry.get('token', '1.0.0'), tokenApp);
    assert.equal(registry.has('token'), true);
    assert.deepEqual(registry.describe(), { token: ['1.0.0'] });
    assert.deepEqual(
      BUILT_IN_APPS.map((a) => a.name),
      ['token'],
    );
  });

  it('answers versions oldest first: 1.10.0 after 1.9.0, 2.0.0-rc.1 before 2.0.0', () => {
    const registry = new AppRegistry([
      app('counter', '2.0.0'),
      app('counter', '1.10.0'),
      app('counter', '2.0.0-rc.1'),
      app('counter', '1.9.0'),
      app('counter', '1.0.0'),
    ]);
    assert.deepEqual(registry.versions('counter'), ['1.0.0', '1.9.0', '1.10.0', '2.0.0-rc.1', '2.0.0']);
    assert.equal(registry.latest('counter')?.version, '2.0.0');
    assert.deepEqual(registry.versions('missing'), []);
    assert.equal(registry.latest('missing'), undefined);
    assert.equal(registry.has('token'), false, 'a registry given apps holds only those');
  });

  it('answers latest() by version order, not by registration order', () => {
    const registry = new AppRegistry([app('c', '1.10.0'), app('c', '1.9.0')]);
    assert.equal(registry.latest('c')?.version, '1.10.0');
    const rc = new AppRegistry([app('c', '2.0.0-rc.1'), app('c', '1.9.0')]);
    assert.equal(rc.latest('c')?.version, '2.0.0-rc.1');
  });

  it('looks an app up by name and version', () => {
    const v1 = app('counter', '1.0.0');
    const v2 = app('counter', '2.0.0');
    const registry = new AppRegistry([v1, v2]);
    assert.equal(registry.get('counter', '1.0.0'), v1);
    assert.equal(registry.get('counter', '2.0.0'), v2);
    assert.equal(registry.get('counter', '3.0.0'), undefined);
    assert.equal(registry.get('other', '1.0.0'), undefined);
  });

  it('describes name → versions, names sorted and versions oldest first', () => {
    const registry = new AppRegistry([
      app('zeta', '1.0.0'),
      tokenApp,
      app('alpha', '1.10.0'),
      app('alpha', '1.9.0'),
    ]);
    assert.deepEqual(registry.describe(), { alpha: ['1.9.0', '1.10.0'], token: ['1.0.0'], zeta: ['1.0.0'] });
    assert.deepEqual(Object.keys(registry.describe()), ['alpha', 'token', 'zeta']);
  });

  it('refuses the same name and version from different code, naming the source', () => {
    const registry = new AppRegistry([app('counter', '1.0.0')]);
    throwsLoad(
      () => registry.register(app('counter', '1.0.0'), './other.js'),
      /^\.\/other\.js:/,
      /counter 1\.0\.0 is loaded twice, from different code/,
    );
    throwsLoad(() => new AppRegistry([app('c', '1.0.0'), app('c', '1.0.0')]), /loaded twice/);
  });

  it('accepts the same app object registered twice', () => {
    const a = app('counter', '1.0.0');
    const registry = new AppRegistry([a]);
    registry.register(a);
    assert.deepEqual(registry.versions('counter'), ['1.0.0']);
  });

  it('checks the contract on register too', () => {
    const registry = new AppRegistry();
    throwsLoad(() => registry.register({ name: 'x' } as unknown as App, 'given'), /^given: not a Baton app/);
    assert.equal(registry.has('x'), false);
  });
});

describe('loadAppModule', () => {
  it('loads a module whose default export is one app, by absolute path', async () => {
    const apps = await loadAppModule(fixture('one-app.js'));
    assert.equal(apps.length, 1);
    assert.equal(apps[0]!.name, 'fixture-one');
    assert.equal(apps[0]!.version, '1.0.0');
    assert.deepEqual(Object.keys(apps[0]!.queries ?? {}), ['n']);
  });

  it('loads a module by a path relative to cwd', async () => {
    const cwd = join(FIXTURES, '..');
    const apps = await loadAppModule('./apps/one-app.js', cwd);
    assert.equal(apps[0]!.name, 'fixture-one');
    const viaProcessCwd = await loadAppModule(relative(process.cwd(), fixture('one-app.js')));
    assert.equal(viaProcessCwd[0], apps[0], 'the same module, so the same app object');
  });

  it('loads every version of a module whose default export is an array of apps', async () => {
    const apps = await loadAppModule(fixture('two-versions.js'));
    assert.deepEqual(
      apps.map((a) => [a.name, a.version]),
      [
        ['fixture-multi', '1.0.0'],
        ['fixture-multi', '2.0.0'],
      ],
    );
  });

  it('takes an `app` export when there is no default export', async () => {
    const apps = await loadAppModule(fixture('named-app.js'));
    assert.deepEqual(
      apps.map((a) => a.name),
      ['fixture-named'],
    );
  });

  it('reports a module that throws at import as an AppLoadError naming the file and the cause', async () => {
    await rejectsLoad(
      loadAppModule(fixture('throws-at-import.js')),
      /cannot load the app module/,
      /throws-at-import\.js/,
      /fixture failure at import/,
    );
  });

  it('reports a module with no default export as an AppLoadError naming the file', async () => {
    await rejectsLoad(loadAppModule(fixture('no-default.js')), /no-default\.js/, /no default export/);
  });

  it('reports a missing file as an AppLoadError naming it', async () => {
    await rejectsLoad(loadAppModule(fixture('does-not-exist.js')), /does-not-exist\.js/);
  });

  it('reports a missing package as an AppLoadError naming it', async () => {
    await rejectsLoad(loadAppModule('baton-no-such-app-package', FIXTURES), /baton-no-such-app-package/);
  });

  it('reports an export that breaks the contract, naming the file', async () => {
    await rejectsLoad(
      loadAppModule(fixture('bad-version.js')),
      /bad-version\.js: not a Baton app/,
      /version/,
    );
  });

  it('tells paths from package names', () => {
    for (const spec of ['./a', '../a', '/abs/a', 'app.js', 'app.mjs', 'app.cjs', 'dir/app.js'])
      assert.equal(isAppPath(spec), true, spec);
    for (const spec of ['token', 'my-app', '@scope/app']) assert.equal(isAppPath(spec), false, spec);
  });
});

describe('AppRegistry.load', () => {
  it("load(['token']) is the built-in app only, not a package named token", async () => {
    const registry = await AppRegistry.load(['token'], FIXTURES);
    assert.deepEqual(registry.describe(), { token: ['1.0.0'] });
    assert.equal(registry.get('token', '1.0.0'), tokenApp);
  });

  it('load([]) still holds the built-in apps', async () => {
    assert.deepEqual((await AppRegistry.load([])).describe(), { token: ['1.0.0'] });
  });

  it('adds the apps of the modules named and the apps given', async () => {
    const given = app('given', '0.0.1');
    const registry = await AppRegistry.load([fixture('one-app.js'), fixture('two-versions.js'), given]);
    assert.deepEqual(registry.describe(), {
      'fixture-multi': ['1.0.0', '2.0.0'],
      'fixture-one': ['1.0.0'],
      given: ['0.0.1'],
      token: ['1.0.0'],
    });
    assert.equal(registry.get('given', '0.0.1'), given);
  });

  it('accepts the same module named twice (one module, the same objects)', async () => {
    const registry = await AppRegistry.load([fixture('one-app.js'), fixture('one-app.js')]);
    assert.deepEqual(registry.versions('fixture-one'), ['1.0.0']);
  });

  it('refuses two modules with the same app name and version, naming the second', async () => {
    await rejectsLoad(
      AppRegistry.load([fixture('one-app.js'), fixture('same-as-one.js')]),
      /same-as-one\.js/,
      /fixture-one 1\.0\.0 is loaded twice/,
    );
  });

  it('refuses a module that claims the built-in token version with other code', async () => {
    await rejectsLoad(AppRegistry.load([app('token', '1.0.0')]), /token 1\.0\.0 is loaded twice/);
  });

  it('lets a module add another version of a built-in app', async () => {
    const token2 = { ...tokenApp, version: '2.0.0' };
    const registry = await AppRegistry.load(['token', token2]);
    assert.deepEqual(registry.versions('token'), ['1.0.0', '2.0.0']);
    assert.equal(registry.latest('token'), token2);
  });

  it('fails the whole load when one module fails', async () => {
    await rejectsLoad(
      AppRegistry.load([fixture('one-app.js'), fixture('throws-at-import.js')]),
      /throws-at-import\.js/,
    );
  });
});
