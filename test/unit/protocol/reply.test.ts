import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CallbackError, errorReply, jsonReply, MAX_REPLY_BYTES } from '../../../shared/protocol/index.js';

describe('jsonReply', () => {
  it('sets JSON content type and the byte length (not the character count)', () => {
    const reply = jsonReply(200, { message: '上传成功', emoji: '🎉' });
    assert.equal(reply.status, 200);
    assert.equal(reply.headers['content-type'], 'application/json; charset=utf-8');
    assert.equal(reply.body.toString('utf8'), '{"message":"上传成功","emoji":"🎉"}');
    assert.equal(reply.headers['content-length'], String(reply.body.length));
    assert.equal(reply.headers['content-length'], '41');
    assert.ok(Buffer.isBuffer(reply.body));
  });
  it('always has a positive content-length', () => {
    for (const value of [{}, [], null, 0, '']) {
      const reply = jsonReply(200, value);
      assert.ok(Number(reply.headers['content-length']) > 0);
    }
  });
  it('accepts exactly 1 MB and refuses one byte more', () => {
    assert.equal(MAX_REPLY_BYTES, 1_000_000);
    assert.equal(jsonReply(200, 'a'.repeat(MAX_REPLY_BYTES - 2)).headers['content-length'], '1000000');
    assert.throws(
      () => jsonReply(200, 'a'.repeat(MAX_REPLY_BYTES - 1)),
      (error: unknown) => error instanceof CallbackError && error.code === 'Internal' && /1000001 bytes/.test(error.message),
    );
    assert.throws(() => jsonReply(200, { list: Array(400_000).fill('中') }), (error: unknown) => error instanceof CallbackError && error.code === 'Internal');
  });
  it('refuses values that are not JSON', () => {
    for (const value of [undefined, () => 1, 10n]) {
      assert.throws(() => jsonReply(200, value), (error: unknown) => error instanceof CallbackError && error.code === 'Internal');
    }
  });
});

describe('errorReply', () => {
  it('has exactly the documented shape and the error status', () => {
    const reply = errorReply(new CallbackError('SignatureInvalid', 'the signature does not match'), 'req-1');
    assert.equal(reply.status, 401);
    assert.equal(
      reply.body.toString('utf8'),
      '{"error":{"code":"SignatureInvalid","message":"the signature does not match","requestId":"req-1"}}',
    );
    assert.equal(reply.headers['content-length'], String(reply.body.length));
    assert.equal(reply.headers['content-type'], 'application/json; charset=utf-8');
  });
  it('adds details after the fixed fields, without letting them override those', () => {
    const error = new CallbackError('MalformedBody', 'bad JSON', { details: { position: 51, code: 'X', requestId: 'forged' } });
    assert.equal(
      errorReply(error, 'req-2').body.toString('utf8'),
      '{"error":{"code":"MalformedBody","message":"bad JSON","requestId":"req-2","position":51}}',
    );
  });
  it('uses job codes and their status', () => {
    const reply = errorReply(new CallbackError('QuotaExceeded', 'over quota', { status: 429 }), 'r');
    assert.equal(reply.status, 429);
    assert.deepEqual(JSON.parse(reply.body.toString()), { error: { code: 'QuotaExceeded', message: 'over quota', requestId: 'r' } });
  });
  it('never throws: unsendable details are dropped, long messages shortened', () => {
    const huge = errorReply(new CallbackError('Internal', 'x', { details: { blob: 'a'.repeat(2_000_000) } }), 'r');
    assert.equal(huge.body.toString(), '{"error":{"code":"Internal","message":"x","requestId":"r"}}');
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    assert.equal(errorReply(new CallbackError('Internal', 'y', { details: { circular } }), 'r').status, 500);
    const long = errorReply(new CallbackError('Internal', 'm'.repeat(100_000)), 'r');
    assert.ok(long.body.length < 5000);
  });
});
