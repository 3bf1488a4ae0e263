import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formDecode, percentDecodeBytes } from '../../../shared/protocol/index.js';

describe('percentDecodeBytes', () => {
  const cases: [input: string, expectedHex: string][] = [
    ['/index.php', Buffer.from('/index.php').toString('hex')],
    ['/%E4%B8%AD', Buffer.from('/中').toString('hex')],
    ['/%e4%b8%ad', Buffer.from('/中').toString('hex')],
    ['/a+b', Buffer.from('/a+b').toString('hex')],
    ['/a%2Bb', Buffer.from('/a+b').toString('hex')],
    ['/a%20b', Buffer.from('/a b').toString('hex')],
    ['/100%25', Buffer.from('/100%').toString('hex')],
    ['/%2525', Buffer.from('/%25').toString('hex')],
    ['/%zz', Buffer.from('/%zz').toString('hex')],
    ['/%4', Buffer.from('/%4').toString('hex')],
    ['/trailing%', Buffer.from('/trailing%').toString('hex')],
    ['/%%41', Buffer.from('/%A').toString('hex')],
    ['/%FF%FE', '2ffffe'],
    ['/中文', Buffer.from('/中文').toString('hex')],
    ['', ''],
  ];
  for (const [input, hex] of cases) {
    it(`decodes ${JSON.stringify(input)}`, () => {
      assert.equal(percentDecodeBytes(input).toString('hex'), hex);
    });
  }
});

describe('formDecode', () => {
  it('turns + into a space and decodes escapes', () => {
    assert.equal(formDecode('a+b%2Bc%2F%E4%B8%AD'), 'a b+c/中');
  });
  it('keeps invalid escapes literally and never throws', () => {
    assert.equal(formDecode('100%'), '100%');
    assert.equal(formDecode('%zz%4'), '%zz%4');
  });
  it('replaces bytes that are not UTF-8', () => {
    assert.equal(formDecode('%FF'), '\uFFFD');
  });
});
