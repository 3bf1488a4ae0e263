/**
 * s.yaml as Serverless Devs reads it. `s deploy` parses s.yaml with `@serverless-devs/parse-spec`
 * (its `${…}` compiler ends an expression at the first `}`, and `${env('X')}` without a default fails
 * when X is unset), then hands each resource's `props` to its component. These tests run that same
 * parser in a child process (as `s` does: its own process environment, a HOME of its own so no
 * ~/.s/access.yaml or default-env.json is read), then check:
 * - every fc3 resource's props validate against the fc3 component's JSON Schema
 *   (test/fixtures/serverless-devs/fc3-schema.json, devsapp/fc3 src/schema.json; ajv, as the
 *   Serverless Devs engine validates with);
 * - every function folder under functions/ is deployed, from its own dist/<name>/;
 * - the required settings have no default, so a missing one stops the deploy and is named;
 * - the account id comes from the deploying access (`${config('AccountID')}`), not from a setting;
 * - the callback jobs' OSS triggers are semantically unique on one bucket, with the code's defaults;
 * - one `npm ci && npm run build` per deploy: a project-level pre-deploy action, none per resource.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { Ajv } from 'ajv';
import { functionNames } from '../../../scripts/functions.js';
import { defaultEventFilter, eventKeyFilter, type OssTriggerSpec, triggerConflicts } from '../../../shared/core/event-filter.js';

const ROOT = resolve(import.meta.dirname, '..', '..', '..');
const S_YAML = join(ROOT, 's.yaml');
const schema = JSON.parse(readFileSync(join(ROOT, 'test', 'fixtures', 'serverless-devs', 'fc3-schema.json'), 'utf8'));
const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');

/** The settings a deploy cannot do without: s.yaml gives them no default. */
export const REQUIRED = ['OSS_ALLOWED_BUCKETS', 'DATABASE_URL', 'OSS_EVENT_BUCKET'];
/**
 * The access `s deploy` deploys with, as Serverless Devs reads it from the environment (the same as
 * `s config add` would store): `${config('AccountID')}` resolves to its account id.
 */
const ACCESS: Record<string, string> = { AccountID: '1357924680135792', AccessKeyID: 'LTAI5tExampleAccessKeyId', AccessKeySecret: 'example-access-key-secret' };
const REQUIRED_VALUES: Record<string, string> = {
  ...ACCESS,
  OSS_ALLOWED_BUCKETS: 'examplebucket',
  OSS_EVENT_BUCKET: 'examplebucket',
  DATABASE_URL: 'postgres://uploader:secret@pgm-example.pg.rds.aliyuncs.com:5432/uploads',
};
/** The callback jobs: each has an OSS trigger. */
const JOBS = ['record-upload', 'image-upload', 'usage-quota', 'media-job'];

interface Step {
  projectName: string;
  component: string;
  props: Record<string, unknown> & { functionName?: string; code?: unknown; environmentVariables?: Record<string, unknown> };
  actions?: unknown;
}
interface Parsed {
  steps: Step[];
  actions: { value: string; hookType: string; level: string; path: string }[];
}

const home = mkdtempSync(join(tmpdir(), 's-home-'));
after(() => rmSync(home, { recursive: true, force: true }));

/** What `s <argv>` gets from parse-spec for s.yaml, in a process whose environment is exactly `env`. */
function parse(argv: string[], env: Record<string, string>): { ok: true; parsed: Parsed } | { ok: false; error: string } {
  const script = `
    const ParseSpec = require('@serverless-devs/parse-spec').default;
    const quiet = () => {};
    const logger = { debug: quiet, info: quiet, warn: quiet, warnOnce: quiet, tips: quiet, write: quiet, error: quiet, log: quiet };
    new ParseSpec(process.argv[1], { argv: JSON.parse(process.argv[2]), logger }).start().then(
      (r) => process.stdout.write(JSON.stringify({ ok: true, parsed: { steps: r.steps.map((s) => ({ projectName: s.projectName, component: s.component, props: s.props, actions: s.actions })), actions: r.yaml.actions } })),
      (e) => process.stdout.write(JSON.stringify({ ok: false, error: String(e && e.message) })),
    );`;
  const child = spawnSync(process.execPath, ['-e', script, S_YAML, JSON.stringify(argv)], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '', HOME: home, USERPROFILE: home, ...env },
    timeout: 60_000,
  });
  assert.equal(child.status, 0, `parse-spec child failed: ${child.stderr}`);
  return JSON.parse(child.stdout);
}

function parsed(argv: string[], env: Record<string, string> = REQUIRED_VALUES): Parsed {
  const result = parse(argv, env);
  assert.ok(result.ok, `Serverless Devs cannot parse s.yaml: ${result.ok ? '' : result.error}`);
  return result.parsed;
}

const envName = (job: string) => job.toUpperCase().replace(/-/g, '_');

/** The native OSS triggers of a parsed s.yaml, one per function. */
function ossTriggers(result: Parsed): OssTriggerSpec[] {
  return result.steps.flatMap((step) =>
    ((step.props.triggers ?? []) as { triggerType: string; sourceArn: string; triggerConfig: { events: string[]; filter: { key: { prefix: string; suffix: string } } } }[])
      .filter((t) => t.triggerType === 'oss')
      .map((t) => ({ name: step.props.functionName as string, sourceArn: t.sourceArn, events: t.triggerConfig.events, ...t.triggerConfig.filter.key })),
  );
}

describe('s.yaml, as Serverless Devs parses it', () => {
  const full = parsed(['deploy']);
  const fc3 = full.steps.filter((step) => step.component === 'fc3');

  it('parses with only the required settings exported', () => {
    assert.ok(fc3.length > 0);
    for (const step of fc3) {
      for (const [name, value] of Object.entries(step.props.environmentVariables ?? {})) {
        assert.equal(typeof value, 'string', `${step.projectName}: ${name} is not a string`);
        assert.doesNotMatch(String(value), /\$\{/, `${step.projectName}: ${name} was left uncompiled`);
      }
    }
    const record = fc3.find((step) => step.props.functionName === 'record-upload');
    assert.equal(record?.props.environmentVariables?.OSS_ALLOWED_BUCKETS, 'examplebucket');
    assert.equal(record?.props.environmentVariables?.DATABASE_URL, REQUIRED_VALUES.DATABASE_URL);
  });

  it('validates every fc3 resource against the fc3 component schema', () => {
    const validate = new Ajv({ allErrors: true, strict: false }).compile(schema);
    for (const step of fc3) {
      assert.ok(validate(step.props), `${step.projectName}: ${JSON.stringify(validate.errors, null, 2)}`);
    }
    // The schema does reject what fc3 rejects (so the check above can fail).
    assert.equal(validate({ ...fc3[0]!.props, memorySize: 'big' }), false);
    assert.equal(validate({ region: 'cn-hangzhou', runtime: 'nodejs20' }), false, 'functionName is required');
  });

  it('deploys every function folder, from its own build output, with logs on', () => {
    const deployed = new Map(fc3.map((step) => [step.props.functionName, step]));
    for (const name of functionNames()) {
      const step = deployed.get(name);
      assert.ok(step, `functions/${name} has no fc3 resource with functionName: ${name} in s.yaml`);
      assert.equal(step.props.code, `./dist/${name}`, `${step.projectName} must deploy ./dist/${name}`);
      assert.equal(step.props.handler, 'index.handler');
      assert.equal(step.props.logConfig, 'auto', `${step.projectName}: logs must be on by default`);
    }
    for (const name of deployed.keys()) assert.ok(functionNames().includes(name as string), `s.yaml deploys ${name}, which has no folder under functions/`);
  });

  it('stops the deploy, naming the setting, when a required setting is missing', () => {
    for (const name of REQUIRED) {
      const env = { ...REQUIRED_VALUES };
      delete env[name];
      const result = parse(['deploy'], env);
      assert.equal(result.ok, false, `s.yaml parses without ${name}`);
      assert.match(result.ok ? '' : result.error, new RegExp(`env\\('${name}'\\) not found`));
      // An empty value counts as missing too (Serverless Devs' env() treats '' as unset).
      const empty = parse(['deploy'], { ...REQUIRED_VALUES, [name]: '' });
      assert.equal(empty.ok, false, `s.yaml parses with ${name}=''`);
    }
  });

  it('takes the account id from the deploying access (config(\'AccountID\')), and stops without an access', () => {
    for (const step of fc3.filter((s) => JOBS.includes(s.props.functionName as string))) {
      const oss = (step.props.triggers as { triggerType: string; sourceArn?: string; invocationRole?: string }[]).find((t) => t.triggerType === 'oss');
      assert.equal(oss?.sourceArn, `acs:oss:cn-hangzhou:${ACCESS.AccountID}:examplebucket`, step.projectName);
      assert.equal(oss?.invocationRole, `acs:ram::${ACCESS.AccountID}:role/aliyunosseventnotificationrole`, step.projectName);
    }
    // Another access, another account: nothing else to export.
    const other = parsed(['deploy'], { ...REQUIRED_VALUES, AccountID: '2468013579246801' });
    const record = other.steps.find((step) => step.props.functionName === 'record-upload');
    const oss = (record?.props.triggers as { triggerType: string; sourceArn?: string }[]).find((t) => t.triggerType === 'oss');
    assert.equal(oss?.sourceArn, 'acs:oss:cn-hangzhou:2468013579246801:examplebucket');
    // No access at all (no `s config add`, no AccountID/AccessKeyID/AccessKeySecret): the deploy stops, naming it.
    const noAccess = { ...REQUIRED_VALUES };
    for (const name of Object.keys(ACCESS)) delete noAccess[name];
    const result = parse(['deploy'], noAccess);
    assert.equal(result.ok, false, 's.yaml parses without an access');
    assert.match(result.ok ? '' : result.error, /config\('AccountID'\) not found/);
    assert.ok(readme.includes("config('AccountID') not found"), 'README explains the error a missing access gives');
  });

  it('passes optional values through unchanged, braces included', () => {
    const custom = parsed(['deploy'], { ...REQUIRED_VALUES, IMAGE_PUBLIC_BASE_URL: 'https://{bucket}.img.example.com', FC_REGION: 'cn-shanghai' });
    const image = custom.steps.find((step) => step.props.functionName === 'image-upload');
    assert.equal(image?.props.environmentVariables?.IMAGE_PUBLIC_BASE_URL, 'https://{bucket}.img.example.com');
    assert.ok(custom.steps.every((step) => step.props.region === 'cn-shanghai'));
  });

  it('installs and builds once per deploy: one project-level pre-deploy action, none per resource', () => {
    const builds = full.actions.filter((action) => /npm ci/.test(action.value));
    assert.deepEqual(
      builds.map((action) => [action.hookType, action.level, action.value]),
      [['pre', 'Global', 'npm ci && npm run build']],
    );
    for (const step of full.steps) assert.equal(step.actions, undefined, `${step.projectName} has its own actions: the build would run once per resource`);
    // `s record_upload deploy` deploys that one function and still runs the build.
    const one = parsed(['record_upload', 'deploy']);
    assert.deepEqual(one.steps.map((step) => step.projectName), ['record_upload']);
    assert.deepEqual(one.actions.map((action) => action.value), ['npm ci && npm run build']);
  });

  it('gives each callback job an OSS trigger: explicit events, prefix/suffix from settings, the bucket, the role, retries', () => {
    const jobs = JOBS;
    const custom = parsed(['deploy'], { ...REQUIRED_VALUES, USAGE_QUOTA_EVENT_PREFIX: 'users/', USAGE_QUOTA_EVENT_SUFFIX: '.bin' });
    for (const step of custom.steps.filter((s) => jobs.includes(s.props.functionName as string))) {
      const triggers = step.props.triggers as { triggerType: string; sourceArn?: string; invocationRole?: string; triggerConfig: any }[];
      const oss = triggers.filter((t) => t.triggerType === 'oss');
      assert.equal(oss.length, 1, `${step.projectName}: one OSS trigger`);
      assert.ok(triggers.some((t) => t.triggerType === 'http'), `${step.projectName}: still its HTTP trigger`);
      const [trigger] = oss;
      assert.equal(trigger!.sourceArn, `acs:oss:cn-hangzhou:${ACCESS.AccountID}:examplebucket`);
      assert.equal(trigger!.invocationRole, `acs:ram::${ACCESS.AccountID}:role/aliyunosseventnotificationrole`);
      const events: string[] = trigger!.triggerConfig.events;
      assert.ok(!events.some((e) => e.endsWith(':*')), `${step.projectName}: no wildcard event`);
      for (const e of ['oss:ObjectCreated:PutObject', 'oss:ObjectCreated:PostObject', 'oss:ObjectCreated:CompleteMultipartUpload', 'oss:ObjectCreated:CopyObject', 'oss:ObjectRemoved:DeleteObject', 'oss:ObjectRemoved:DeleteObjects']) {
        assert.ok(events.includes(e), `${step.projectName}: ${e}`);
      }
      const name = step.props.functionName as string;
      const key = name === 'usage-quota' ? { prefix: 'users/', suffix: '.bin' } : { prefix: `uploads/${name}/`, suffix: '' };
      assert.deepEqual(trigger!.triggerConfig.filter.key, key);
      const async = step.props.asyncInvokeConfig as Record<string, number>;
      assert.equal(async.maxAsyncRetryAttempts, 3);
      assert.ok(async.maxAsyncEventAgeInSeconds! > 0 && async.maxAsyncEventAgeInSeconds! <= 604800);
    }
  });

  it('gives the OSS triggers of one bucket semantically unique filters by default; overlapping exports are caught', () => {
    assert.deepEqual(triggerConflicts(ossTriggers(full)), []);
    assert.equal(ossTriggers(full).length, JOBS.length);
    // One job exported to watch the whole upload prefix: it overlaps every other job's key space.
    const wide = triggerConflicts(ossTriggers(parsed(['deploy'], { ...REQUIRED_VALUES, USAGE_QUOTA_EVENT_PREFIX: 'uploads/' })));
    assert.equal(wide.length, JOBS.length - 1, wide.join('\n'));
    assert.ok(wide.every((message) => message.includes('usage-quota')));
    // Two jobs on one prefix; different suffixes keep them apart, the same suffix does not.
    const same = { ...REQUIRED_VALUES, IMAGE_UPLOAD_EVENT_PREFIX: 'media/', MEDIA_JOB_EVENT_PREFIX: 'media/' };
    assert.equal(triggerConflicts(ossTriggers(parsed(['deploy'], same))).length, 1);
    assert.deepEqual(triggerConflicts(ossTriggers(parsed(['deploy'], { ...same, IMAGE_UPLOAD_EVENT_SUFFIX: '.png', MEDIA_JOB_EVENT_SUFFIX: '.mp4' }))), []);
    assert.equal(triggerConflicts(ossTriggers(parsed(['deploy'], { ...same, IMAGE_UPLOAD_EVENT_SUFFIX: '.mp4', MEDIA_JOB_EVENT_SUFFIX: '.mp4' }))).length, 1);
  });

  it('has the code\'s default key filters (what `npm start`\'s local OSS applies), also for empty exports', () => {
    const empties = Object.fromEntries(JOBS.flatMap((job) => [[`${envName(job)}_EVENT_PREFIX`, ''], [`${envName(job)}_EVENT_SUFFIX`, '']]));
    const custom = { MEDIA_JOB_EVENT_PREFIX: 'videos/', MEDIA_JOB_EVENT_SUFFIX: '.mp4' };
    for (const extra of [{}, empties, custom] as Record<string, string>[]) {
      const triggers = ossTriggers(Object.keys(extra).length === 0 ? full : parsed(['deploy'], { ...REQUIRED_VALUES, ...extra }));
      for (const job of JOBS) {
        const trigger = triggers.find((t) => t.name === job);
        assert.deepEqual(trigger && { prefix: trigger.prefix, suffix: trigger.suffix }, eventKeyFilter(job, extra), `${job} with ${JSON.stringify(extra)}`);
      }
    }
    for (const job of JOBS) {
      assert.deepEqual(eventKeyFilter(job, {}), defaultEventFilter(job));
      assert.deepEqual(eventKeyFilter(job, empties), defaultEventFilter(job));
    }
    assert.deepEqual(eventKeyFilter('media-job', custom), { prefix: 'videos/', suffix: '.mp4' });
  });

  it('documents every setting it passes to the functions in the README', () => {
    const names = new Set(fc3.flatMap((step) => Object.keys(step.props.environmentVariables ?? {})));
    for (const name of names) assert.ok(readme.includes(`\`${name}\``), `README does not document ${name}`);
  });
});
