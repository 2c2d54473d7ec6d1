import fc from 'fast-check';
import { KEYS } from './fuzz-keys.js';
import { LANES } from './fuzz-values.js';

/**
 * Usually one of `common`, sometimes one of `rare`: every dimension of a case is edgy now and
 * then, and enough cases are valid throughout to exercise the commit path.
 */
function mostly<T>(common: readonly T[], rare: readonly T[], rareWeight = 1): fc.Arbitrary<T> {
  return fc.oneof(
    { weight: 8, arbitrary: fc.constantFrom(...common) },
    { weight: rareWeight, arbitrary: fc.constantFrom(...rare) },
  );
}

const AMOUNTS_VALID = ['1', '5', '42', '500', '1000', '1e3', '1000.0', '999.99999999999999999'];
const AMOUNTS_EDGE = [
  ...['0', '1001', '-1', '1.5', '9007199254740991', '9007199254740992', '1e308', '-0', '1E2', '2e-1'],
  ...['0.99999999999999999', '"10"', 'null', '{}', '[]', 'true', '1000.0000000000001', '{"amount":5}'],
];
const amountArb = mostly(AMOUNTS_VALID, AMOUNTS_EDGE, 2);

const toArb = mostly(
  KEYS.map((k) => JSON.stringify(k.publicKey)),
  [
    ...KEYS.map((k) => JSON.stringify(k.publicKey.toUpperCase())),
    ...['"not-hex"', JSON.stringify('a'.repeat(63)), JSON.stringify('z'.repeat(64)), '123', 'null'],
    `"${KEYS[0].publicKey}0"`,
  ],
);

const KINDS_ODD = [
  '"f\\u0061ucet"',
  JSON.stringify('k'.repeat(65)),
  '"mint"',
  '"Faucet"',
  '""',
  '"__proto__"',
];
const kindArb = mostly(
  ['"faucet"', '"faucet"', '"transfer"'],
  [...KINDS_ODD, '"constructor"', '"toString"', '1', 'null'],
);

const ODD_ARGS = ['{}', '[]', 'null', '"x"', '{"__proto__":{"amount":5}}', '{"amount":5,"__proto__":null}'];

/** The args of a crafted body; `matching` takes the shape of the body's kind. */
export interface CraftedArgs {
  shape: 'matching' | 'faucet' | 'transfer' | 'extra' | 'duplicate' | 'odd';
  amount: string;
  to: string;
  toFirst: boolean;
  odd: string;
}

const argsArb: fc.Arbitrary<CraftedArgs> = fc.record({
  shape: mostly(['matching'] as const, ['faucet', 'transfer', 'extra', 'duplicate', 'odd'] as const, 2),
  amount: amountArb,
  to: toArb,
  toFirst: fc.boolean(),
  odd: fc.constantFrom(...ODD_ARGS),
});

const NONCES_EDGE = [
  ...['0', '1', '9007199254740991', '9007199254740992', '-1', '1.5', '1e3', '""', 'null', '{}'],
  ...[JSON.stringify('x'.repeat(64)), JSON.stringify('x'.repeat(65)), '"\\u0000"', '"é"', '"\\ud800"'],
  ...['"\ud800"', '"\udc00"', JSON.stringify('😀'.repeat(32)), JSON.stringify('😀'.repeat(33)), '"\\"q\\""'],
];
const nonceArb = fc.oneof(
  { weight: 8, arbitrary: fc.stringMatching(/^[0-9a-z]{12}$/).map((s) => JSON.stringify(s)) },
  { weight: 2, arbitrary: fc.constantFrom(...NONCES_EDGE) },
);

const BODY_LANES = ['"main"', '"side"', '"other"', '"MAIN"', '"m\\u0061in"', '1', 'null', '""'];
const FIELD_MUTATIONS = ['none', 'escapedKey', 'duplicate', 'extra', 'missing'] as const;

/** A transaction body written token by token: any spacing, order, escapes and duplicate keys. */
export interface CraftedBody {
  flavour: 'crafted';
  lane: string;
  from: 'self' | 'upper' | 'other' | 'garbage';
  kind: string;
  args: CraftedArgs;
  nonce: string;
  shuffle: number[];
  space: string;
  mutation: (typeof FIELD_MUTATIONS)[number];
  trailer: string;
}

/** A body built by the SDK's signTx from JavaScript values at the edges. */
export interface PlainBody {
  flavour: 'plain';
  lane: string;
  kind: string;
  args: unknown;
  nonce: string | number;
}

const craftedArb: fc.Arbitrary<CraftedBody> = fc.record({
  flavour: fc.constant('crafted' as const),
  lane: mostly(['url'], BODY_LANES),
  from: mostly(['self'] as const, ['upper', 'other', 'garbage'] as const),
  kind: kindArb,
  args: argsArb,
  nonce: nonceArb,
  shuffle: fc.oneof(
    fc.constant<number[]>([0, 1, 2, 3, 4]),
    fc.shuffledSubarray([0, 1, 2, 3, 4], { minLength: 5 }),
  ),
  space: fc.constantFrom('', '', ' ', '\n', '\t', ' \r\n '),
  mutation: mostly(['none'] as const, FIELD_MUTATIONS.slice(1), 2),
  trailer: mostly(['', ' ', '\n'], ['x', '}', ',']),
});

const plainAmountArb = mostly<unknown>(
  [1, 5, 1000],
  [0, 1001, -1, 1.5, 2 ** 53, 2 ** 53 - 1, 1e308, -0, NaN, Infinity, '10', null, { n: 1 }, [5], true],
  3,
);
const plainArb: fc.Arbitrary<PlainBody> = fc.record({
  flavour: fc.constant('plain' as const),
  lane: mostly(['url'], [...LANES, 'other', 'MAIN']),
  kind: mostly(['faucet', 'transfer'], ['mint', '']),
  args: fc.oneof(
    { weight: 3, arbitrary: plainAmountArb.map((amount) => ({ amount })) },
    {
      weight: 3,
      arbitrary: fc
        .tuple(
          mostly(
            KEYS.map((k) => k.publicKey),
            ['not-hex'],
          ),
          plainAmountArb,
        )
        .map(([to, amount]) => ({ to, amount })),
    },
    { weight: 1, arbitrary: plainAmountArb },
  ),
  nonce: fc.oneof(
    { weight: 8, arbitrary: fc.stringMatching(/^[0-9a-z]{12}$/) },
    { weight: 1, arbitrary: fc.nat() },
    { weight: 1, arbitrary: fc.constantFrom(-1, 1.5, 2 ** 53) },
  ),
});

export interface SignedSpec {
  urlLane: string;
  /** Index of the key whose secret signs. */
  key: number;
  body: CraftedBody | PlainBody;
  signer: 'self' | 'upper' | 'other';
  signature: 'valid' | 'upper' | 'flip' | 'otherKey' | 'otherBody' | 'zeros' | 'short';
  envelope:
    'canonical' | 'spaced' | 'escapedKeys' | 'asciiOnly' | 'duplicate' | 'extra' | 'missing' | 'bodyObject';
  /** Submit twice: the second must be recognised (accepted) or refused the same way. */
  repeat: boolean;
}

export const signedSpecArb: fc.Arbitrary<SignedSpec> = fc.record({
  urlLane: mostly(['main', 'main', 'side'], ['%6Dain', 'm%61in', 'other', 'MAIN', '%']),
  key: fc.integer({ min: 0, max: KEYS.length - 1 }),
  body: fc.oneof({ weight: 3, arbitrary: craftedArb }, { weight: 1, arbitrary: plainArb }),
  signer: mostly(['self'] as const, ['upper', 'other'] as const),
  signature: mostly(
    ['valid'] as const,
    ['upper', 'flip', 'otherKey', 'otherBody', 'zeros', 'short'] as const,
    2,
  ),
  envelope: mostly(
    ['canonical'] as const,
    ['spaced', 'escapedKeys', 'asciiOnly', 'duplicate', 'extra', 'missing', 'bodyObject'] as const,
    2,
  ),
  repeat: fc.boolean(),
});
