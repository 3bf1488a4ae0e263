/**
 * What upload-policy knows about the callback jobs it issues policies for, without bundling them:
 *  - their callback body templates, from `jobs.json`, generated from the job modules by
 *    `npm run template -- --upload-jobs` (also run by `npm run build`; a test fails when it is stale);
 *  - their own upload limits, read from the same variables the jobs read (image-upload's
 *    IMAGE_MAX_BYTES and IMAGE_ALLOWED_FORMATS; pass the same values to both functions, see s.yaml).
 *    A test checks that the defaults here are the jobs' own.
 */
import { env, envConfig } from '../../shared/index.js';
import manifest from './jobs.json' with { type: 'json' };

export interface JobUploadRules {
  /** The callbackBody template (form). */
  template: string;
  /** The job's own size limit, if it has one. */
  maxBytes?: number;
  /** The Content-Types the job accepts, if it has a policy. */
  contentTypes?: string[];
}

export const imageLimits = envConfig({
  IMAGE_MAX_BYTES: env.integer({ default: 20 * 1024 * 1024, min: 1 }),
  IMAGE_ALLOWED_FORMATS: env.list({ default: ['jpg', 'png', 'gif', 'webp'], lowerCase: true, item: (f) => (f === 'jpeg' ? 'jpg' : f) }),
});

/** OSS imageInfo.format → the MIME type browsers send. */
const IMAGE_MIME: Record<string, string> = { jpg: 'image/jpeg', png: 'image/png', gif: 'image/gif', webp: 'image/webp', bmp: 'image/bmp', tiff: 'image/tiff', heic: 'image/heic', avif: 'image/avif' };

const LIMITS: Record<string, () => Omit<JobUploadRules, 'template'>> = {
  'image-upload': () => {
    const c = imageLimits();
    return { maxBytes: c.IMAGE_MAX_BYTES, contentTypes: c.IMAGE_ALLOWED_FORMATS.map((f) => IMAGE_MIME[f] ?? `image/${f}`) };
  },
};

/** Every callback job in the manifest. */
export const JOB_TEMPLATES: Readonly<Record<string, string>> = manifest.templates;

export function jobRules(name: string): JobUploadRules | undefined {
  const template = JOB_TEMPLATES[name];
  if (template === undefined) return undefined;
  return { template, ...(LIMITS[name]?.() ?? {}) };
}
