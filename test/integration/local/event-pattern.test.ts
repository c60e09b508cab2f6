import { describe, expect, it } from 'vitest';
import { compilePattern, matchesPattern, validatePattern } from '../../../local/event-pattern.ts';
import { ValidationError } from '../../../shared/errors.ts';

const event = {
  version: '0',
  id: '0d8e1c5a-6a57-4a5e-9b7e-6f1f3c1d2e11',
  'detail-type': 'Inventory Changed',
  source: 'esync.cdc.inventory',
  account: '123456789012',
  time: '2024-05-02T10:15:00Z',
  region: 'eu-west-1',
  resources: ['arn:aws:dynamodb:eu-west-1:123456789012:table/inventory', 'arn:aws:s3:::exports'],
  detail: {
    op: 'update',
    sku: 'SKU-0042',
    table: 'Inventory',
    quantity: 12,
    price: 9.5,
    ok: true,
    note: '',
    removed: null,
    tags: ['red', 'sale'],
    clientIp: '10.0.3.17',
    clientIpv6: '2001:db8::1',
    file: 'dir/report.PNG',
    literal: 'a*b\\c',
    lines: [
      { sku: 'A', qty: 1 },
      { sku: 'B', qty: 5 },
    ],
    meta: { level: 3 },
    empty: [],
  },
};

const cases: { name: string; pattern: Record<string, unknown>; expected: boolean }[] = [
  { name: 'an exact top-level value matches', pattern: { source: ['esync.cdc.inventory'] }, expected: true },
  {
    name: 'any value of a list matches (OR)',
    pattern: { source: ['aws.ec2', 'esync.cdc.inventory'] },
    expected: true,
  },
  { name: 'a different value does not match', pattern: { source: ['esync.cdc.orders'] }, expected: false },
  {
    name: 'all fields must match (AND)',
    pattern: { source: ['esync.cdc.inventory'], 'detail-type': ['Orders Changed'] },
    expected: false,
  },
  { name: 'a nested field matches inside detail', pattern: { detail: { op: ['update'] } }, expected: true },
  { name: 'a number matches the same number', pattern: { detail: { quantity: [12] } }, expected: true },
  {
    name: 'a string does not match a number of the same digits',
    pattern: { detail: { quantity: ['12'] } },
    expected: false,
  },
  { name: 'a boolean matches', pattern: { detail: { ok: [true] } }, expected: true },
  { name: 'the other boolean does not match', pattern: { detail: { ok: [false] } }, expected: false },
  { name: 'an empty string matches ""', pattern: { detail: { note: [''] } }, expected: true },
  { name: 'null does not match an empty string', pattern: { detail: { note: [null] } }, expected: false },
  { name: 'null matches a null value', pattern: { detail: { removed: [null] } }, expected: true },
  { name: '"" does not match a null value', pattern: { detail: { removed: [''] } }, expected: false },
  { name: 'null does not match an absent field', pattern: { detail: { absent: [null] } }, expected: false },
  {
    name: 'a value matches any element of an event array',
    pattern: { detail: { tags: ['sale'] } },
    expected: true,
  },
  {
    name: 'a value absent from an event array does not match',
    pattern: { detail: { tags: ['blue'] } },
    expected: false,
  },
  {
    name: 'prefix matches a string start',
    pattern: { detail: { sku: [{ prefix: 'SKU-' }] } },
    expected: true,
  },
  { name: 'prefix is case-sensitive', pattern: { detail: { sku: [{ prefix: 'sku-' }] } }, expected: false },
  {
    name: 'prefix with equals-ignore-case ignores case',
    pattern: { detail: { sku: [{ prefix: { 'equals-ignore-case': 'sku-' } }] } },
    expected: true,
  },
  {
    name: 'prefix never matches a number',
    pattern: { detail: { quantity: [{ prefix: '1' }] } },
    expected: false,
  },
  {
    name: 'prefix applies to each element of resources',
    pattern: { resources: [{ prefix: 'arn:aws:s3:::' }] },
    expected: true,
  },
  {
    name: 'suffix matches a string end',
    pattern: { detail: { file: [{ suffix: '.PNG' }] } },
    expected: true,
  },
  { name: 'suffix is case-sensitive', pattern: { detail: { file: [{ suffix: '.png' }] } }, expected: false },
  {
    name: 'suffix with equals-ignore-case ignores case',
    pattern: { detail: { file: [{ suffix: { 'equals-ignore-case': '.png' } }] } },
    expected: true,
  },
  {
    name: 'equals-ignore-case matches the whole value in any case',
    pattern: { detail: { table: [{ 'equals-ignore-case': 'INVENTORY' }] } },
    expected: true,
  },
  {
    name: 'equals-ignore-case does not match a longer value',
    pattern: { detail: { table: [{ 'equals-ignore-case': 'invent' }] } },
    expected: false,
  },
  {
    name: 'anything-but a string matches another value',
    pattern: { detail: { op: [{ 'anything-but': 'delete' }] } },
    expected: true,
  },
  {
    name: 'anything-but a string rejects that value',
    pattern: { detail: { op: [{ 'anything-but': 'update' }] } },
    expected: false,
  },
  {
    name: 'anything-but a list rejects any listed value',
    pattern: { detail: { op: [{ 'anything-but': ['insert', 'update'] }] } },
    expected: false,
  },
  {
    name: 'anything-but numbers rejects a listed number',
    pattern: { detail: { quantity: [{ 'anything-but': [10, 12] }] } },
    expected: false,
  },
  {
    name: 'anything-but a number matches another number',
    pattern: { detail: { quantity: [{ 'anything-but': 10 }] } },
    expected: true,
  },
  {
    name: 'anything-but prefix rejects a value with that prefix',
    pattern: { detail: { sku: [{ 'anything-but': { prefix: 'SKU-' } }] } },
    expected: false,
  },
  {
    name: 'anything-but prefix matches a value without it',
    pattern: { detail: { sku: [{ 'anything-but': { prefix: 'ITEM-' } }] } },
    expected: true,
  },
  {
    name: 'anything-but suffix rejects a value with that suffix',
    pattern: { detail: { file: [{ 'anything-but': { suffix: '.PNG' } }] } },
    expected: false,
  },
  {
    name: 'anything-but wildcard rejects a value the wildcard matches',
    pattern: { detail: { file: [{ 'anything-but': { wildcard: 'dir/*' } }] } },
    expected: false,
  },
  {
    name: 'anything-but equals-ignore-case rejects any casing of a listed value',
    pattern: { detail: { op: [{ 'anything-but': { 'equals-ignore-case': ['DELETE', 'UPDATE'] } }] } },
    expected: false,
  },
  {
    name: 'anything-but does not match an absent field',
    pattern: { detail: { absent: [{ 'anything-but': 'x' }] } },
    expected: false,
  },
  {
    name: 'anything-but matches an event array holding one other element',
    pattern: { detail: { tags: [{ 'anything-but': 'red' }] } },
    expected: true,
  },
  {
    name: 'numeric matches inside a closed range',
    pattern: { detail: { quantity: [{ numeric: ['>', 10, '<=', 12] }] } },
    expected: true,
  },
  {
    name: 'numeric > excludes its bound',
    pattern: { detail: { quantity: [{ numeric: ['>', 12] }] } },
    expected: false,
  },
  {
    name: 'numeric >= includes its bound',
    pattern: { detail: { quantity: [{ numeric: ['>=', 12] }] } },
    expected: true,
  },
  {
    name: 'numeric = matches a decimal',
    pattern: { detail: { price: [{ numeric: ['=', 9.5] }] } },
    expected: true,
  },
  {
    name: 'numeric never matches a string',
    pattern: { detail: { sku: [{ numeric: ['>', 0] }] } },
    expected: false,
  },
  {
    name: 'exists true matches a present field',
    pattern: { detail: { sku: [{ exists: true }] } },
    expected: true,
  },
  {
    name: 'exists true does not match an absent field',
    pattern: { detail: { absent: [{ exists: true }] } },
    expected: false,
  },
  {
    name: 'exists false matches an absent field',
    pattern: { detail: { absent: [{ exists: false }] } },
    expected: true,
  },
  {
    name: 'exists false does not match a present field',
    pattern: { detail: { sku: [{ exists: false }] } },
    expected: false,
  },
  {
    name: 'exists true matches a null value',
    pattern: { detail: { removed: [{ exists: true }] } },
    expected: true,
  },
  {
    name: 'exists only sees leaves: an object does not exist',
    pattern: { detail: { meta: [{ exists: true }] } },
    expected: false,
  },
  {
    name: 'exists false matches an empty array',
    pattern: { detail: { empty: [{ exists: false }] } },
    expected: true,
  },
  {
    name: 'exists false inside a missing object matches',
    pattern: { detail: { absent: { inner: [{ exists: false }] } } },
    expected: true,
  },
  {
    name: 'wildcard matches across separators',
    pattern: { detail: { file: [{ wildcard: 'dir/*.PNG' }] } },
    expected: true,
  },
  {
    name: 'wildcard keeps hyphens, colons and dots literal',
    pattern: { resources: [{ wildcard: 'arn:aws:dynamodb:eu-west-1:*:table/inv*' }] },
    expected: true,
  },
  {
    name: 'wildcard is case-sensitive',
    pattern: { detail: { file: [{ wildcard: '*.png' }] } },
    expected: false,
  },
  {
    name: 'wildcard treats escaped * and \\ literally',
    pattern: { detail: { literal: [{ wildcard: 'a\\*b\\\\c' }] } },
    expected: true,
  },
  {
    name: 'an escaped * does not match other characters',
    pattern: { detail: { file: [{ wildcard: 'dir\\*' }] } },
    expected: false,
  },
  {
    name: '$or matches when one alternative matches',
    pattern: { $or: [{ source: ['aws.ec2'] }, { detail: { op: ['update'] } }] },
    expected: true,
  },
  {
    name: '$or does not match when no alternative matches',
    pattern: { $or: [{ source: ['aws.ec2'] }, { detail: { op: ['delete'] } }] },
    expected: false,
  },
  {
    name: '$or inside detail must hold besides its sibling fields',
    pattern: { detail: { op: ['update'], $or: [{ quantity: [{ numeric: ['>', 100] }] }, { ok: [false] }] } },
    expected: false,
  },
  {
    name: '$or inside detail matches with its sibling fields',
    pattern: { detail: { op: ['update'], $or: [{ quantity: [{ numeric: ['>', 100] }] }, { ok: [true] }] } },
    expected: true,
  },
  {
    name: 'cidr matches an IPv4 address inside the block',
    pattern: { detail: { clientIp: [{ cidr: '10.0.0.0/16' }] } },
    expected: true,
  },
  {
    name: 'cidr does not match an IPv4 address outside the block',
    pattern: { detail: { clientIp: [{ cidr: '10.1.0.0/16' }] } },
    expected: false,
  },
  {
    name: 'cidr matches an IPv6 address',
    pattern: { detail: { clientIpv6: [{ cidr: '2001:db8::/32' }] } },
    expected: true,
  },
  {
    name: 'an array of objects matches when one element satisfies the nested pattern',
    pattern: { detail: { lines: { sku: ['B'], qty: [5] } } },
    expected: true,
  },
  {
    name: 'fields of a nested pattern must be satisfied by the same array element',
    pattern: { detail: { lines: { sku: ['A'], qty: [5] } } },
    expected: false,
  },
  {
    name: 'several filters in one list are ORed',
    pattern: { detail: { quantity: [{ prefix: 'x' }, { numeric: ['<', 20] }] } },
    expected: true,
  },
];

describe('matchesPattern', () => {
  it.each(cases)('$name', ({ pattern, expected }) => {
    // Prepare: the shared event above
    // Act
    const matched = matchesPattern(pattern, event);
    // Assess
    expect(matched).toBe(expected);
  });

  it('throws a ValidationError naming the problem when the pattern is invalid', () => {
    expect(() => matchesPattern({ source: 'esync' }, event)).toThrow(ValidationError);
    expect(() => matchesPattern({ source: 'esync' }, event)).toThrow(/source: must be an array/);
  });
});

describe('compilePattern', () => {
  it('returns a matcher reusable across events', () => {
    const matcher = compilePattern({ detail: { quantity: [{ numeric: ['<', 5] }] } });
    expect([1, 4, 5, 9].map((quantity) => matcher({ detail: { quantity } }))).toEqual([
      true,
      true,
      false,
      false,
    ]);
  });

  it('lists every problem with its path in the thrown error', () => {
    try {
      compilePattern({ source: [], detail: { n: [{ numeric: ['~', 1] }] } });
      expect.unreachable('compilePattern accepted an invalid pattern');
    } catch (error) {
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).issues.map((i) => i.path)).toEqual([
        'source',
        'detail.n[0].numeric[0]',
      ]);
    }
  });
});

describe('validatePattern', () => {
  const invalid: { name: string; pattern: unknown; path: string; message: RegExp }[] = [
    {
      name: 'a pattern that is not an object',
      pattern: 'source',
      path: '(pattern)',
      message: /must be an object/,
    },
    { name: 'an empty pattern', pattern: {}, path: '(pattern)', message: /at least one field/ },
    {
      name: 'a leaf that is not an array',
      pattern: { source: 'aws.ec2' },
      path: 'source',
      message: /array of values/,
    },
    { name: 'an empty value list', pattern: { source: [] }, path: 'source', message: /at least one value/ },
    {
      name: 'an unknown operator',
      pattern: { source: [{ contains: 'x' }] },
      path: 'source[0]',
      message: /unknown operator "contains"/,
    },
    {
      name: 'two operators in one filter',
      pattern: { source: [{ prefix: 'a', suffix: 'b' }] },
      path: 'source[0]',
      message: /exactly one operator/,
    },
    {
      name: 'a prefix that is not a string',
      pattern: { source: [{ prefix: 1 }] },
      path: 'source[0].prefix',
      message: /string/,
    },
    {
      name: 'exists that is not boolean',
      pattern: { a: [{ exists: 'yes' }] },
      path: 'a[0].exists',
      message: /true or false/,
    },
    {
      name: 'a numeric operator that does not exist',
      pattern: { a: [{ numeric: ['!=', 1] }] },
      path: 'a[0].numeric[0]',
      message: /one of = < <= > >=/,
    },
    {
      name: 'a numeric bound beyond 5e9',
      pattern: { a: [{ numeric: ['<', 6e9] }] },
      path: 'a[0].numeric[1]',
      message: /between -5e9 and 5e9/,
    },
    {
      name: 'a numeric range whose lower bound is above its upper bound',
      pattern: { a: [{ numeric: ['>', 10, '<', 5] }] },
      path: 'a[0].numeric',
      message: /lower bound 10 is above the upper bound 5/,
    },
    {
      name: 'numeric = combined with a bound',
      pattern: { a: [{ numeric: ['=', 1, '<', 5] }] },
      path: 'a[0].numeric',
      message: /cannot be combined/,
    },
    {
      name: 'consecutive wildcards',
      pattern: { a: [{ wildcard: 'a**b' }] },
      path: 'a[0].wildcard',
      message: /consecutive/,
    },
    {
      name: 'a bad wildcard escape',
      pattern: { a: [{ wildcard: 'a\\b' }] },
      path: 'a[0].wildcard',
      message: /may only escape/,
    },
    {
      name: 'a malformed cidr',
      pattern: { ip: [{ cidr: '10.0.0.0/33' }] },
      path: 'ip[0].cidr',
      message: /IPv4 or IPv6/,
    },
    {
      name: 'anything-but mixing strings and numbers',
      pattern: { a: [{ 'anything-but': ['x', 1] }] },
      path: 'a[0].anything-but',
      message: /only strings or only numbers/,
    },
    {
      name: '$or with a single alternative',
      pattern: { $or: [{ a: ['x'] }] },
      path: '$or',
      message: /at least two/,
    },
  ];

  it.each(invalid)('reports $name', ({ pattern, path, message }) => {
    const issues = validatePattern(pattern);
    expect(issues).toHaveLength(1);
    expect(issues[0]?.path).toBe(path);
    expect(issues[0]?.message).toMatch(message);
  });

  it('accepts a pattern using every operator', () => {
    const pattern = {
      source: ['esync.cdc.inventory'],
      detail: {
        a: [{ prefix: { 'equals-ignore-case': 'x' } }, { suffix: 'y' }, { 'equals-ignore-case': 'z' }],
        b: [{ 'anything-but': { wildcard: ['*.tmp', 'tmp/*'] } }, { numeric: ['>=', 0, '<', 10] }],
        c: [{ exists: false }, null, ''],
        d: [{ cidr: '192.168.0.0/24' }],
        $or: [{ e: [1] }, { f: [true] }],
      },
    };
    expect(validatePattern(pattern)).toEqual([]);
  });
});
