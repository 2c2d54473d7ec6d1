import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fillIntent, parseAppIntent } from '../../src/chaos/app-intent.js';

test('an --app-tx template: parsed, then filled with the client counter and name', () => {
  const template = parseAppIntent(
    '{"kind":"put","args":{"key":"k{n}","text":"{client}-{n}","n":"{n}","tags":["{client}",1,null]}}',
  );
  assert.deepEqual(fillIntent(template, 7, 'c2'), {
    kind: 'put',
    args: { key: 'k7', text: 'c2-7', n: 7, tags: ['c2', 1, null] },
  });
  assert.deepEqual(template.args['key'], 'k{n}', 'the template itself is left as it was');
});

test('an --app-tx that is not JSON, or has no kind or no object args, is refused with the reason', () => {
  assert.throws(() => parseAppIntent('{kind: put}'), /is not JSON/);
  assert.throws(() => parseAppIntent('{"args":{}}'), /needs a "kind"/);
  assert.throws(() => parseAppIntent('{"kind":"put"}'), /needs "args"/);
  assert.throws(() => parseAppIntent('{"kind":"put","args":[1]}'), /needs "args"/);
});
