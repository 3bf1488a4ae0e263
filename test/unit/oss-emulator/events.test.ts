/** The OSS event record, on the literal FC OSS trigger sample (reference A.1.2 (b)), and its delivery with retries. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createEventDelivery, ossEventPayload, ossEventRecord } from '../../../shared/testing/oss-emulator/events.js';

describe('ossEventRecord', () => {
  it('builds the record FC delivers for a PutObject (the Serverless Devs sample, field for field)', () => {
    const record = ossEventRecord({
      eventName: 'ObjectCreated:PutObject',
      bucket: 'testbucket',
      key: 'image/a.jpg',
      size: 122539,
      deltaSize: 122539,
      eTag: '688A7BF4F233DC9C88A80BF985AB7329',
      region: 'cn-shanghai',
      ownerId: '123456789',
      requestId: '58F9FF2D3DF792092E12044C',
      sourceIp: '140.205.1.2',
      time: new Date('2017-04-21T12:46:37.412Z'),
    });
    const { ruleId, ...oss } = record.oss;
    assert.match(ruleId, /^[0-9a-f]{40}$/);
    assert.deepEqual(
      { ...record, oss },
      {
        eventName: 'ObjectCreated:PutObject',
        eventSource: 'acs:oss',
        eventTime: '2017-04-21T12:46:37.000Z',
        eventVersion: '1.0',
        oss: {
          bucket: { arn: 'acs:oss:cn-shanghai:123456789:testbucket', name: 'testbucket', ownerIdentity: '123456789', virtualBucket: '' },
          object: { deltaSize: 122539, eTag: '688A7BF4F233DC9C88A80BF985AB7329', key: 'image/a.jpg', size: 122539 },
          ossSchemaVersion: '1.0',
        },
        region: 'cn-shanghai',
        requestParameters: { sourceIPAddress: '140.205.1.2' },
        responseElements: { requestId: '58F9FF2D3DF792092E12044C' },
        userIdentity: { principalId: '123456789' },
      },
    );
    assert.deepEqual(Object.keys(JSON.parse(ossEventPayload([record]).toString())), ['events']);
  });

  it('carries objectMeta.mimeType when known (as the real PostObject sample does)', () => {
    const record = ossEventRecord({
      eventName: 'ObjectCreated:PostObject', bucket: 'b1b', key: 'v.MP4', size: 6, deltaSize: 0, eTag: 'E', mimeType: 'video/mp4',
      region: 'cn-hangzhou', ownerId: '1', requestId: 'R', sourceIp: '127.0.0.1', time: new Date(0),
    });
    assert.deepEqual(record.oss.object.objectMeta, { mimeType: 'video/mp4' });
    assert.equal(record.oss.object.deltaSize, 0);
  });
});

describe('createEventDelivery', () => {
  const record = ossEventRecord({
    eventName: 'ObjectRemoved:DeleteObject', bucket: 'b1b', key: 'k', size: 3, deltaSize: -3, eTag: 'E',
    region: 'cn-hangzhou', ownerId: '1', requestId: 'R', sourceIp: '127.0.0.1', time: new Date(0),
  });

  it('retries a target that throws, up to the retry count, with retryCount 0, 1, 2, 3', async () => {
    const seen: number[] = [];
    const delays: number[] = [];
    const delivery = createEventDelivery({
      targets: [async (_event, attempt) => { seen.push(attempt.retryCount); throw new Error('down'); }],
      retryDelayMs: (n) => { delays.push(n); return 1; },
    });
    delivery.deliver(record);
    await delivery.idle();
    assert.deepEqual(seen, [0, 1, 2, 3]);
    assert.deepEqual(delays, [1, 2, 3]);
  });

  it('delivers to every target independently; one failing does not stop another', async () => {
    const got: string[] = [];
    const delivery = createEventDelivery({
      targets: [async () => { throw new Error('x'); }, async (event) => { got.push(event.toString()); }],
      retries: 0,
    });
    delivery.deliver(record);
    await delivery.idle();
    assert.deepEqual(got.map((g) => JSON.parse(g).events[0].eventName), ['ObjectRemoved:DeleteObject']);
  });

  it('a target with a key filter gets only the events of matching keys, as a native OSS trigger', async () => {
    const got: Record<string, string[]> = { quota: [], media: [], all: [] };
    const to = (name: string) => async (event: Buffer) => { got[name]!.push(JSON.parse(event.toString()).events[0].oss.object.key); };
    const delivery = createEventDelivery({
      targets: [{ deliver: to('quota'), prefix: 'uploads/usage-quota/' }, { deliver: to('media'), prefix: 'uploads/media-job/', suffix: '.mp4' }, to('all')],
    });
    const keys = ['uploads/usage-quota/alice/a.png', 'uploads/media-job/bob/v.mp4', 'uploads/media-job/bob/v.mov', 'uploads/usage-quota', 'elsewhere/x.png'];
    for (const key of keys) delivery.deliver({ ...record, oss: { ...record.oss, object: { ...record.oss.object, key } } });
    await delivery.idle();
    assert.deepEqual(got, { quota: ['uploads/usage-quota/alice/a.png'], media: ['uploads/media-job/bob/v.mp4'], all: keys });
  });
});
