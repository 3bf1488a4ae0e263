/**
 * Which OSS events reach which job: the key filter of each job's OSS trigger, and the rule OSS applies
 * to the native triggers of one bucket.
 *
 * Each job watches its own key space by default, `uploads/<job>/` (`<JOB>_EVENT_PREFIX`, suffix
 * `<JOB>_EVENT_SUFFIX`, default none): where upload-policy puts that job's uploads
 * (`<UPLOAD_KEY_PREFIX>/<job>/<owner>/<random id><ext>`, UPLOAD_KEY_PREFIX default `uploads`). s.yaml
 * writes the same defaults (`${env('USAGE_QUOTA_EVENT_PREFIX', 'uploads/usage-quota/')}`, checked by
 * test/unit/deploy/s-yaml.test.ts), and `npm start`'s local OSS applies them, so local runs get the
 * events a deploy gets. Serverless Devs treats an empty variable as unset, so an empty setting means
 * the default here too.
 *
 * Semantic uniqueness (native OSS triggers): on one bucket, two triggers whose events overlap must not
 * both match some key, or OSS refuses the second one. Both match some key exactly when one's prefix is
 * a prefix of the other's and one's suffix is a suffix of the other's (an empty prefix or suffix
 * matches everything).
 */

/** upload-policy's UPLOAD_KEY_PREFIX default, the first segment of every job's default event prefix. */
export const DEFAULT_UPLOAD_KEY_PREFIX = 'uploads';

export interface KeyFilter {
  prefix: string;
  suffix: string;
}

/** `usage-quota` → `{ prefix: 'USAGE_QUOTA_EVENT_PREFIX', suffix: 'USAGE_QUOTA_EVENT_SUFFIX' }`. */
export function eventFilterSettingNames(job: string): { prefix: string; suffix: string } {
  const name = job.toUpperCase().replace(/-/g, '_');
  return { prefix: `${name}_EVENT_PREFIX`, suffix: `${name}_EVENT_SUFFIX` };
}

/** The key filter a job's OSS trigger has when nothing is set: `uploads/<job>/`, any suffix. */
export function defaultEventFilter(job: string): KeyFilter {
  return { prefix: `${DEFAULT_UPLOAD_KEY_PREFIX}/${job}/`, suffix: '' };
}

/** The job's key filter from its settings (an empty or unset setting: the default, as in s.yaml). */
export function eventKeyFilter(job: string, source: NodeJS.ProcessEnv = process.env): KeyFilter {
  const names = eventFilterSettingNames(job);
  const defaults = defaultEventFilter(job);
  return { prefix: source[names.prefix] || defaults.prefix, suffix: source[names.suffix] || defaults.suffix };
}

export function matchesKeyFilter(filter: KeyFilter, key: string): boolean {
  return key.startsWith(filter.prefix) && key.endsWith(filter.suffix);
}

/** One native OSS trigger, as s.yaml (fc3) describes it. */
export interface OssTriggerSpec {
  /** Whose trigger it is (for messages), e.g. the function name. */
  name: string;
  /** `acs:oss:<region>:<account>:<bucket>`. */
  sourceArn: string;
  /** `oss:ObjectCreated:PutObject`, … (`oss:` optional; `oss:ObjectCreated:*` covers its family). */
  events: readonly string[];
  prefix: string;
  suffix: string;
}

const eventName = (event: string): string => event.replace(/^oss:/, '');

function eventMatches(a: string, b: string): boolean {
  const [x, y] = [eventName(a), eventName(b)];
  if (x === y) return true;
  const family = (name: string) => (name.endsWith(':*') ? name.slice(0, -1) : undefined);
  const fx = family(x);
  const fy = family(y);
  return (fx !== undefined && y.startsWith(fx)) || (fy !== undefined && x.startsWith(fy));
}

/** The events both lists fire on. */
export function sharedEvents(a: readonly string[], b: readonly string[]): string[] {
  return a.filter((x) => b.some((y) => eventMatches(x, y)));
}

/** True when some key matches both filters. */
export function filtersOverlap(a: KeyFilter, b: KeyFilter): boolean {
  const prefixes = a.prefix.startsWith(b.prefix) || b.prefix.startsWith(a.prefix);
  const suffixes = a.suffix.endsWith(b.suffix) || b.suffix.endsWith(a.suffix);
  return prefixes && suffixes;
}

/**
 * Every pair of triggers OSS would refuse together (same bucket, overlapping events, a key both
 * filters match), one message each; empty when they are semantically unique.
 */
export function triggerConflicts(triggers: readonly OssTriggerSpec[]): string[] {
  const conflicts: string[] = [];
  triggers.forEach((a, i) => {
    for (const b of triggers.slice(i + 1)) {
      if (a.sourceArn !== b.sourceArn) continue;
      const events = sharedEvents(a.events, b.events);
      if (events.length === 0 || !filtersOverlap(a, b)) continue;
      const describe = (t: OssTriggerSpec) => `${t.name} (prefix ${JSON.stringify(t.prefix)}, suffix ${JSON.stringify(t.suffix)})`;
      conflicts.push(
        `${describe(a)} and ${describe(b)} both match keys on ${a.sourceArn} for ${events.join(', ')}: ` +
          'OSS refuses the second trigger; give each job a prefix that is not a prefix of the other\'s (<JOB>_EVENT_PREFIX), or suffixes that differ',
      );
    }
  });
  return conflicts;
}
