import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { chromium, type Browser } from 'playwright-core';
import { replicaConfig } from '../../src/node/config.js';
import { startReplica, type Replica } from '../../src/node/replica.js';
import { silentLogger } from '../../src/log.js';
import { TestPostgres } from '../helpers/postgres.js';
import { waitUntil } from '../helpers/wait.js';

const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
let server: TestPostgres;
let replica: Replica | undefined;
let page: Server | undefined;
let browser: Browser | undefined;

before(async () => {
  server = await TestPostgres.start();
});

after(async () => {
  await browser?.close().catch(() => undefined);
  await new Promise((resolve) => (page ? page.close(resolve) : resolve(undefined)));
  await replica?.stop().catch(() => undefined);
  await server?.stop();
});

/** Bundles the SDK the way a browser app would: it must need nothing from Node. */
async function bundleSdk(): Promise<string> {
  const result = await build({
    entryPoints: [fileURLToPath(new URL('../../src/client/index.ts', import.meta.url))],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    logLevel: 'silent',
  });
  return result.outputFiles[0]!.text;
}

test('the SDK bundled for the browser submits, waits for the commit and streams blocks in Chromium', async () => {
  assert.ok(
    existsSync(CHROMIUM),
    `Chromium is required at ${CHROMIUM} (Debian package "chromium"; .ci/run installs it)`,
  );
  const sdk = await bundleSdk();
  assert.doesNotMatch(sdk, /from ["']node:/, 'the browser bundle imports no Node module');

  replica = await startReplica(
    replicaConfig({ id: 'b1', databaseUrl: await server.database(), logger: silentLogger, port: 0 }),
  );
  const api = replica.url;
  await waitUntil(async () => (await fetch(`${api}/readyz`)).ok, { message: 'replica ready' });
  await waitUntil(() => (replica!.leading().has('main') ? true : undefined), {
    message: 'replica leads main',
  });

  page = createServer((req, res) => {
    if (req.url === '/sdk.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' }).end(sdk);
    } else {
      res
        .writeHead(200, { 'content-type': 'text/html' })
        .end('<!doctype html><title>baton sdk</title><p>sdk test</p>');
    }
  });
  await new Promise<void>((resolve) => page!.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(page.address() as AddressInfo).port}`;

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const tab = await browser.newPage();
  const errors: string[] = [];
  tab.on('pageerror', (e) => errors.push(e.message));
  await tab.goto(origin);
  const outcome = await tab.evaluate(
    async ({ apiUrl, sdkUrl }: { apiUrl: string; sdkUrl: string }) => {
      const sdk = (await import(sdkUrl)) as typeof import('../../src/client/index.js');
      const client = sdk.createClient({ endpoints: [apiUrl] });
      const key = await sdk.generateKeyPair();
      const submitted = await client.submit('main', { kind: 'faucet', args: { amount: 100 } }, key);
      const receipt = await client.waitForCommit('main', submitted.id, {
        signal: AbortSignal.timeout(15_000),
      });
      const balance = await client.balance('main', key.publicKey);
      const heights: number[] = [];
      for await (const block of client.blocks('main', { after: 0, signal: AbortSignal.timeout(15_000) })) {
        heights.push(block.height);
        if (block.height >= (receipt.height ?? 0)) break;
      }
      let refusal = '';
      try {
        await client.submit('main', { kind: 'faucet', args: { amount: 5000 } }, key);
      } catch (error) {
        refusal = (error as { code?: string }).code ?? String(error);
      }
      return { submitted, receipt, balance, heights, refusal };
    },
    { apiUrl: api, sdkUrl: `${origin}/sdk.js` },
  );

  assert.deepEqual(errors, []);
  assert.equal(outcome.submitted.status, 'pending');
  assert.equal(outcome.receipt.status, 'committed');
  assert.equal(outcome.receipt.ok, true);
  assert.equal(outcome.balance, 100);
  assert.deepEqual(
    outcome.heights,
    Array.from({ length: outcome.receipt.height ?? 0 }, (_, i) => i + 1),
  );
  assert.equal(outcome.refusal, 'bad_args', 'errors carry the server codes in the browser too');
});
